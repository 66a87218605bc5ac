using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Net.Http.Headers;

namespace Droplets.Actions;

// Where an accepted operation can be followed. Every host answers `Operation-Location` (our action
// resource). Both hosts also link the workflow's management endpoints — Durable Functions' status and
// terminate webhooks, which the standalone host serves too (WorkflowManagementApi) — for operators. On
// Functions, Durable puts the host's system key in `code`, which must never reach API callers, so it is
// removed and the links work only with a key the operator adds; the standalone host wants the admin token.
public static class WorkflowLinks
{
    const string InstanceItem = "droplets.workflow-instance";

    public static void Accepted(HttpContext context, string actionId, string instanceId)
    {
        context.Response.Headers[ActionsApi.OperationLocation] = DropletAction.Location(actionId);
        context.Items[InstanceItem] = instanceId;
        if (context.RequestServices.GetService<WorkflowManagement>() is { } management)
            context.Response.Headers.Append(HeaderNames.Link, management.Link(context.Request, instanceId));
    }

    public static string? InstanceId(HttpContext context) => context.Items[InstanceItem] as string;

    public static string Header(string statusQueryUri, string terminateUri) =>
        $"<{WithoutKey(statusQueryUri)}>; rel=\"durable-status\", <{WithoutKey(terminateUri)}>; rel=\"durable-terminate\"";

    // Parameters are kept verbatim, placeholders such as `reason={text}` included.
    static string WithoutKey(string uri)
    {
        var query = uri.IndexOf('?', StringComparison.Ordinal);
        if (query < 0)
            return uri;
        var kept = uri[(query + 1)..].Split('&').Where(p => !p.StartsWith("code=", StringComparison.OrdinalIgnoreCase));
        var rest = string.Join('&', kept);
        return rest.Length == 0 ? uri[..query] : $"{uri[..query]}?{rest}";
    }
}
