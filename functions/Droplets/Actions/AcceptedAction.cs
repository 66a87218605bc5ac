using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.DurableTask.Client;
using Microsoft.Net.Http.Headers;

namespace Droplets.Actions;

// The headers a client follows an accepted action by: `Location` (the created resource, or the action),
// `Operation-Location` (the action), and, where the host serves them, `Link` to the workflow's Durable management
// endpoints (rel="durable-status", rel="durable-terminate") for operators.
public sealed record ActionHeaders(string? Location, string? OperationLocation, string? Link)
{
    public const string OperationLocationName = "Operation-Location";

    public void WriteTo(HttpResponse response)
    {
        if (Location is not null)
            response.Headers.Location = Location;
        if (OperationLocation is not null)
            response.Headers[OperationLocationName] = OperationLocation;
        if (Link is not null)
            response.Headers.Append(HeaderNames.Link, Link);
    }
}

// The answer to an accepted action (201 for a create, 202 otherwise): the body and its headers travel together, so
// that the idempotency record stores exactly what was answered and a replay reproduces it.
public abstract class AcceptedAction(ActionHeaders headers)
{
    public ActionHeaders Headers => headers;
}

public sealed class AcceptedAction<T>(int statusCode, T value, ActionHeaders headers)
    : AcceptedAction(headers), IResult, IStatusCodeHttpResult, IValueHttpResult, IValueHttpResult<T>
{
    public int StatusCode => statusCode;
    int? IStatusCodeHttpResult.StatusCode => statusCode;
    public T Value => value;
    object? IValueHttpResult.Value => value;

    public Task ExecuteAsync(HttpContext context)
    {
        Headers.WriteTo(context.Response);
        return TypedResults.Json(value, statusCode: statusCode).ExecuteAsync(context);
    }
}

// How a host links the Durable management endpoints of a workflow instance (null: it does not). The Functions host
// links Durable Functions' own; the standalone host the copies WorkflowManagementApi serves.
public delegate string? WorkflowLinker(HttpRequest request, DurableTaskClient workflows, string instanceId);

public static class WorkflowLinks
{
    public static string Header(string statusQueryUri, string terminateUri) =>
        $"<{WithoutKey(statusQueryUri)}>; rel=\"durable-status\", <{WithoutKey(terminateUri)}>; rel=\"durable-terminate\"";

    // On Functions, Durable puts the host's system key in `code`, which must never reach API callers: it is removed,
    // and the links work only with a key the operator adds. Other parameters are kept verbatim, placeholders such as
    // `reason={text}` included.
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
