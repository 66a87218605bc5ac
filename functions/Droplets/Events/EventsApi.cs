using System.Globalization;
using Droplets.Actions;
using Droplets.Auth;
using Droplets.Droplets;
using Droplets.Http;
using Droplets.KubeVirt;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Droplets.Events;

// GET /droplets/{id}/events: the Kubernetes events of the droplet's objects merged with its own lifecycle
// events, newest first. When the region's cluster cannot be reached the droplet's own events are still
// answered, with a `Warning` header that says the Kubernetes part is missing.
public static class EventsApi
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;

    public static IEndpointRouteBuilder MapEventEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/droplets/{id}/events", ListAsync);
        return app;
    }

    public static async Task<Results<Ok<IReadOnlyList<DropletEvent>>, ProblemHttpResult>> ListAsync(
        string id, HttpContext context, DropletStore droplets, ActionStore actions, KubeVirtClients clusters,
        ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var query = context.Request.Query;
        var limit = DefaultLimit;
        if (query["limit"].ToString() is { Length: > 0 } rawLimit && (!int.TryParse(rawLimit, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxLimit))
            return Problems.BadRequest("invalid_query", $"limit must be an integer from 1 to {MaxLimit}.");
        DateTimeOffset? since = null;
        if (query["since"].ToString() is { Length: > 0 } rawSince)
        {
            if (!DateTimeOffset.TryParse(rawSince, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
                return Problems.BadRequest("invalid_query", $"since must be an RFC 3339 timestamp such as 2026-01-15T10:30:00Z; got '{rawSince}'.");
            since = parsed;
        }

        var droplet = await DropletsApi.VisibleAsync(id, context, droplets, cancellationToken);
        if (droplet is null)
            return DropletsApi.NotFound(id);

        var ours = actions.ListAsync(droplet.Id, cancellationToken);
        var theirs = clusters.For(droplet.Region).ListDropletEventsAsync(droplet.Namespace, droplet.Id, cancellationToken);
        var events = new List<DropletEvent>();
        events.AddRange((await ours).SelectMany(DropletEvent.From));
        try
        {
            events.AddRange((await theirs).Select(DropletEvent.From));
        }
        catch (Exception e) when (e is HttpRequestException or k8s.Autorest.HttpOperationException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            loggers.CreateLogger(typeof(EventsApi)).LogWarning(e, "Kubernetes events of {DropletId} unavailable", droplet.Id);
            context.Response.Headers.Append("Warning", $"199 droplets \"The Kubernetes events of region {droplet.Region} are unavailable; only the droplet's own events are listed.\"");
        }

        IReadOnlyList<DropletEvent> page = events
            .Where(e => since is null || e.LastSeen >= since)
            .OrderByDescending(e => e.LastSeen)
            .ThenByDescending(e => e.FirstSeen)
            .ThenBy(e => e.Reason, StringComparer.Ordinal)
            .Take(limit)
            .ToList();
        return TypedResults.Ok(page);
    }
}
