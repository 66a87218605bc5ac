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
        var (limit, after, problem) = Listing.ReadPage(context, id, perPageAlias: "limit");
        if (problem is not null)
            return problem;
        var position = after is null ? null : Position.TryParse(after.Id);
        if (after is not null && position is null)
            return Problems.BadRequest("invalid_query", "page_token is not valid for this listing; use the Link header of the previous page.");
        DateTimeOffset? since = null;
        if (query["since"].ToString() is { Length: > 0 } rawSince)
        {
            if (!DateTimeOffset.TryParse(rawSince, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
                return Problems.BadRequest("invalid_query", $"since must be an RFC 3339 timestamp such as 2026-01-15T10:30:00Z; got {FieldErrors.Quote(rawSince)}.");
            since = parsed;
        }

        var droplet = await DropletsApi.VisibleAsync(id, context, droplets, cancellationToken);
        if (droplet is null)
            return DropletsApi.NotFound(id);

        // The droplet's actions hold it one at a time, so the events of older actions are older: the `needed` newest actions
        // started at or before the page's position (each has its start event there) hold every event of the page.
        var needed = limit + (position?.Skip ?? 0) + 1;
        var ours = actions.PageAsync(droplet.Id, needed, null, cancellationToken, position?.LastSeen);
        var theirs = clusters.For(droplet.Region).ListDropletEventsAsync(droplet.Namespace, droplet.Id, cancellationToken);
        var events = new List<DropletEvent>();
        events.AddRange((await ours).Items.SelectMany(DropletEvent.From));
        try
        {
            events.AddRange((await theirs).Select(DropletEvent.From));
        }
        catch (Exception e) when (e is HttpRequestException or k8s.Autorest.HttpOperationException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            loggers.CreateLogger(typeof(EventsApi)).LogWarning(e, "Kubernetes events of {DropletId} unavailable", droplet.Id);
            context.Response.Headers.Append("Warning", $"199 droplets \"The Kubernetes events of region {droplet.Region} are unavailable; only the droplet's own events are listed.\"");
        }

        var ordered = events
            .Where(e => (since is null || e.LastSeen >= since) && (position is null || e.LastSeen <= position.LastSeen))
            .OrderByDescending(e => e.LastSeen)
            .ThenByDescending(e => e.FirstSeen)
            .ThenBy(e => e.Reason, StringComparer.Ordinal)
            .ThenBy(e => e.Object.Kind, StringComparer.Ordinal)
            .ThenBy(e => e.Object.Name, StringComparer.Ordinal)
            .ThenBy(e => e.Message, StringComparer.Ordinal)
            .ThenBy(e => e.ActionId, StringComparer.Ordinal)
            .Skip(position?.Skip ?? 0)
            .Take(limit + 1)
            .ToList();
        if (ordered.Count > limit)
        {
            ordered.RemoveAt(limit);
            // The next page starts after the events last seen when this one's last was, of which this page and those
            // before it gave so many.
            var last = ordered[^1].LastSeen;
            var skip = ordered.Count(e => e.LastSeen == last) + (position is not null && position.LastSeen == last ? position.Skip : 0);
            Listing.LinkNext(context, new ListCursor(droplet.Id, new Position(last, skip).ToString()));
        }
        return TypedResults.Ok<IReadOnlyList<DropletEvent>>(ordered);
    }

    // Where a page of events starts: after the first `Skip` events last seen at `LastSeen`, among those last seen then
    // or earlier. Written as "<ticks>_<skip>".
    sealed record Position(DateTimeOffset LastSeen, int Skip)
    {
        const int MaxSkip = 10_000;

        public override string ToString() => $"{LastSeen.UtcTicks.ToString(CultureInfo.InvariantCulture)}_{Skip.ToString(CultureInfo.InvariantCulture)}";

        public static Position? TryParse(string text) =>
            text.Split('_') is [var ticks, var skip]
            && long.TryParse(ticks, NumberStyles.None, CultureInfo.InvariantCulture, out var t) && t <= DateTimeOffset.MaxValue.UtcTicks
            && int.TryParse(skip, NumberStyles.None, CultureInfo.InvariantCulture, out var s) && s <= MaxSkip
                ? new Position(new DateTimeOffset(t, TimeSpan.Zero), s)
                : null;
    }
}
