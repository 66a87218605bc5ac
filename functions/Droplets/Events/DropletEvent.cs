using System.Text.Json.Serialization;
using Droplets.Actions;
using k8s.Models;

namespace Droplets.Events;

public sealed record EventObject(string Kind, string Name);

// One entry of GET /droplets/{id}/events: a Kubernetes event of one of the droplet's objects, or one of
// the droplet's own lifecycle events, which outlive Kubernetes' (about an hour). `origin` tells which.
public sealed record DropletEvent
{
    public const string FromKubernetes = "kubernetes";
    public const string FromDroplets = "droplets";

    public required string Type { get; init; }
    public required string Reason { get; init; }
    public required string Message { get; init; }
    public int Count { get; init; } = 1;
    public required DateTimeOffset FirstSeen { get; init; }
    public required DateTimeOffset LastSeen { get; init; }
    public required string Source { get; init; }
    public required EventObject Object { get; init; }
    public required string Origin { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ActionId { get; init; }

    // Core/v1 events fill firstTimestamp/lastTimestamp/count; events.k8s.io-era recorders fill eventTime
    // and series instead.
    public static DropletEvent From(Corev1Event e)
    {
        var first = e.FirstTimestamp ?? e.EventTime ?? e.Metadata?.CreationTimestamp ?? DateTime.UnixEpoch;
        var last = e.LastTimestamp ?? e.Series?.LastObservedTime ?? first;
        var component = e.Source?.Component ?? e.ReportingComponent ?? "";
        return new DropletEvent
        {
            Type = e.Type ?? "Normal",
            Reason = e.Reason ?? "",
            Message = e.Message ?? "",
            Count = e.Count ?? e.Series?.Count ?? 1,
            FirstSeen = Utc(first),
            LastSeen = Utc(last),
            Source = e.Source?.Host is { Length: > 0 } host ? $"{component} ({host})" : component,
            Object = new EventObject(e.InvolvedObject.Kind ?? "", e.InvolvedObject.Name ?? ""),
            Origin = FromKubernetes,
        };
    }

    // The droplet's own lifecycle: every change of a droplet is an action, so its start and its end (kept
    // in the `actions` table for as long as the droplet's history) are the droplet's events.
    public static IEnumerable<DropletEvent> From(ResourceAction action)
    {
        // A droplet's actions (a volume's, attach and detach too, are listed with the volume's): the words are its rule's.
        var (verb, done) = (ActionRules.For(action.Type).Verb, ActionRules.For(action.Type).Done);
        var droplet = new EventObject("Droplet", action.ResourceId);
        yield return Ours(action, "Normal", $"{ReasonFor(action.Type)}Started", $"{verb} started.", action.StartedAt);
        if (action.CompletedAt is not { } at)
            yield break;
        yield return action.Status == ActionStatus.Completed
            ? Ours(action, "Normal", $"{ReasonFor(action.Type)}Completed", done, at)
            : Ours(action, "Warning", $"{ReasonFor(action.Type)}Failed", $"{verb} failed: {action.Error?.Message ?? "unknown error"}", at);

        DropletEvent Ours(ResourceAction a, string type, string reason, string message, DateTimeOffset when) => new()
        {
            Type = type, Reason = reason, Message = message, FirstSeen = when, LastSeen = when,
            Source = FromDroplets, Object = droplet, Origin = FromDroplets, ActionId = a.Id,
        };
    }

    // The reason of an action's events is its type's name: CreateStarted, RebootCompleted, PowerOffFailed.
    static string ReasonFor(ActionType type) => Enum.IsDefined(type) ? type.ToString() : throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown action type.");

    static DateTimeOffset Utc(DateTime value) =>
        new(value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : DateTime.SpecifyKind(value, DateTimeKind.Utc));
}
