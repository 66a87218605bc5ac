using System.Text.Json;
using Droplets.Actions;
using Droplets.Droplets;

namespace Droplets.Volumes;

// One action on a volume, described once: the statuses of the volume it may start from (none for the create, which
// makes the volume; a volume has no transitional statuses: it is held while the action runs), its workflow, whether it
// is posted to /volumes/{id}/actions (create and delete have routes of their own), the statuses of the droplet it
// works on (null: it holds no droplet; otherwise the droplet is held too, so that nothing else changes that droplet's
// VirtualMachine meanwhile). How each ends is its workflow's (VolumeWorkflows).
public sealed record VolumeActionRule(
    ActionType Type, IReadOnlyList<VolumeStatus> From, string Workflow, bool Posted, IReadOnlyList<DropletStatus>? DropletFrom)
{
    public bool HoldsDroplet => DropletFrom is not null;
}

public static class VolumeActionRules
{
    public static IReadOnlyList<VolumeActionRule> Table { get; } =
    [
        new(ActionType.Create, [], VolumeWorkflows.ProvisionVolume, Posted: false, DropletFrom: null),
        new(ActionType.Delete, [VolumeStatus.Creating, VolumeStatus.Available, VolumeStatus.Error], VolumeWorkflows.DeleteVolume, Posted: false, DropletFrom: null),
        new(ActionType.Attach, [VolumeStatus.Available], VolumeWorkflows.AttachVolume, Posted: true, DropletFrom: [DropletStatus.Running, DropletStatus.Stopped]),
        new(ActionType.Detach, [VolumeStatus.Attached], VolumeWorkflows.DetachVolume, Posted: true,
            DropletFrom: [DropletStatus.Running, DropletStatus.Stopped, DropletStatus.Error]),
        new(ActionType.Resize, [VolumeStatus.Available, VolumeStatus.Attached], VolumeWorkflows.ResizeVolume, Posted: true, DropletFrom: null),
    ];

    // Fails loudly for a type that is not an action on a volume.
    public static VolumeActionRule For(ActionType type) => Table.SingleOrDefault(r => r.Type == type)
        ?? throw new InvalidOperationException($"Volumes have no {type} action.");

    public static IEnumerable<VolumeActionRule> Posted => Table.Where(r => r.Posted);

    // A droplet held by one of these is held for a volume's action, whose workflow releases it.
    public static bool HoldsDroplet(ActionType type) => Table.Any(r => r.Type == type && r.HoldsDroplet);

    // The table as the README shows it.
    public static string Markdown() =>
        "| action | the volume must be | the droplet must be |\n|---|---|---|\n" + string.Concat(Table.Select(r =>
            $"| `{Wire(r.Type)}` | {(r.From.Count == 0 ? "nothing: it makes the volume" : List(r.From))} | {(r.DropletFrom is { } droplet ? List(droplet) : "no droplet is held")} |\n"));

    static string List<T>(IReadOnlyList<T> statuses) => string.Join(", ", statuses.Select(s => $"`{Wire(s)}`"));

    // "available", "running or stopped", "running, stopped or error".
    public static string Words<T>(IReadOnlyList<T> statuses) =>
        statuses.Count == 1 ? Wire(statuses[0]) : string.Join(", ", statuses.SkipLast(1).Select(Wire)) + " or " + Wire(statuses[^1]);

    public static string Wire<T>(T value) => JsonSerializer.Serialize(value).Trim('"');
}
