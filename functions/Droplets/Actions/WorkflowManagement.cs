using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;

namespace Droplets.Actions;

// Durable Functions' HTTP management API for one instance — its status, terminate and purge — served by the standalone
// host under the same paths and with the same answers, so that one operator's client works against both hosts.
// The Functions host serves its own (authorised by its durabletask_extension system key); here ApiGate lets only
// the admin token through. A host that maps these routes links them from accepted actions (AddWorkflowManagement).
public static class WorkflowManagementApi
{
    public const string Prefix = "/runtime/webhooks/durabletask";

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    // The Link of an accepted action names these routes, as Durable Functions' CreateHttpManagementPayload names the
    // Functions host's (there without the key, here without any).
    public static IServiceCollection AddWorkflowManagement(this IServiceCollection services) =>
        services.AddSingleton<WorkflowLinker>((request, _, instanceId) =>
        {
            var instance = $"{request.Scheme}://{request.Host}{request.PathBase}{Prefix}/instances/{Uri.EscapeDataString(instanceId)}";
            return WorkflowLinks.Header(instance, $"{instance}/terminate?reason={{text}}");
        });

    public static IEndpointRouteBuilder MapWorkflowManagement(this IEndpointRouteBuilder app)
    {
        var instance = app.MapGroup(Prefix + "/instances/{instanceId}");
        instance.MapGet("", StatusAsync);
        instance.MapPost("terminate", TerminateAsync);
        instance.MapDelete("", PurgeAsync);
        return app;
    }

    // 202 with Location and Retry-After while the instance runs, 200 once it has ended, 404 for an unknown one.
    static async Task<IResult> StatusAsync(string instanceId, HttpContext context, DurableTaskClient workflows, CancellationToken cancellationToken)
    {
        if (await workflows.GetInstanceAsync(instanceId, getInputsAndOutputs: true, cancellationToken) is not { } instance)
            return TypedResults.NotFound();
        var status = new
        {
            name = instance.Name,
            instanceId = instance.InstanceId,
            runtimeStatus = instance.RuntimeStatus.ToString(),
            input = Node(instance.SerializedInput),
            customStatus = Node(instance.SerializedCustomStatus),
            output = Node(instance.SerializedOutput),
            createdTime = instance.CreatedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
            lastUpdatedTime = instance.LastUpdatedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
        };
        if (instance.IsCompleted)
            return TypedResults.Json(status, Json);
        context.Response.Headers.Location = $"{context.Request.Scheme}://{context.Request.Host}{context.Request.PathBase}{context.Request.Path}";
        context.Response.Headers.RetryAfter = "5";
        return TypedResults.Json(status, Json, statusCode: StatusCodes.Status202Accepted);
    }

    // 202 once asked, 410 if the instance has already ended, 404 for an unknown one.
    static async Task<IResult> TerminateAsync(string instanceId, string? reason, DurableTaskClient workflows, CancellationToken cancellationToken)
    {
        if (await workflows.GetInstanceAsync(instanceId, cancellationToken) is not { } instance)
            return TypedResults.NotFound();
        if (instance.IsCompleted)
            return TypedResults.StatusCode(StatusCodes.Status410Gone);
        await workflows.TerminateInstanceAsync(instanceId, reason, cancellationToken);
        return TypedResults.Accepted((string?)null);
    }

    // Deletes the instance's state and history: 200 with the count; 404 for an unknown one, and (as Durable Functions
    // answers, since only an ended instance can be purged) for one still running.
    static async Task<IResult> PurgeAsync(string instanceId, DurableTaskClient workflows, CancellationToken cancellationToken)
    {
        var purged = await workflows.PurgeInstanceAsync(instanceId, cancellationToken);
        return purged.PurgedInstanceCount == 0 ? TypedResults.NotFound() : TypedResults.Json(new { instancesDeleted = purged.PurgedInstanceCount }, Json);
    }

    // A serialized value as JSON when it is JSON, else as the text it is (Durable Functions stores a terminate's
    // reason as bare text).
    static JsonNode? Node(string? serialized)
    {
        if (serialized is null)
            return null;
        try
        {
            return JsonNode.Parse(serialized);
        }
        catch (JsonException)
        {
            return JsonValue.Create(serialized);
        }
    }
}
