using System.Text.Json;
using Droplets.Actions;
using Droplets.Droplets;

namespace Droplets.Volumes;

public sealed record Refusal(string Code, string Message);

// Which states a volume action needs, of the volume and of the droplet it works on. Pure functions: the
// handlers, the workflows and the droplet create share them.
public static class VolumeRules
{
    // KubeVirt hotplugs disks on the scsi bus; a droplet keeps a handful, as cloud providers do.
    public const int MaxPerDroplet = 8;

    // A claim cannot leave its namespace: a volume created before namespaces were prefixed stays with the droplets of then.
    public static string NamespaceMismatch(string volumeId, string volumeNamespace, string dropletNamespace) =>
        $"volume '{volumeId}' is in Kubernetes namespace '{volumeNamespace}' and the droplet in '{dropletNamespace}' (one of them was created before "
        + "namespaces were prefixed); a volume attaches only to a droplet in its own namespace.";

    // The specific refusals first (they say what to do), then the rule's statuses.
    public static Refusal? VolumeRefusal(ActionType type, Volume current, string? dropletId, int? size)
    {
        if (current.LockedBy is { } running)
            return new Refusal("locked", $"Volume '{current.Id}' is busy with action {running} ({Name(current.LockedFor)}){ForDroplet(current)}; wait for it: {ResourceAction.Location(running)}.");
        var rule = VolumeActionRules.For(type);
        return (type, current.Status) switch
        {
            (ActionType.Attach, VolumeStatus.Attached) => Conflict($"Volume '{current.Id}' is already attached to droplet '{current.DropletId}'; detach it first."),
            (ActionType.Delete, VolumeStatus.Attached) => Conflict($"Volume '{current.Id}' is attached to droplet '{current.DropletId}'; detach it (or delete the droplet) first."),
            (ActionType.Detach, VolumeStatus.Attached) when dropletId is not null && dropletId != current.DropletId =>
                Conflict($"Volume '{current.Id}' is attached to droplet '{current.DropletId}', not {Http.FieldErrors.Quote(dropletId)}."),
            _ when !rule.From.Contains(current.Status) => Conflict($"Volume '{current.Id}' is {Name(current.Status)}; {Name(type)} needs it {VolumeActionRules.Words(rule.From)}."),
            (ActionType.Resize, _) when size <= current.SizeGigabytes => new Refusal("validation_failed",
                $"size_gigabytes must be larger than the volume's {current.SizeGigabytes} GiB: volumes only grow."),
            _ => null,
        };
    }

    // What the droplet must be for an attach or detach (besides not being held by another action).
    public static Refusal? DropletRefusal(ActionType type, Droplet current, string actionId)
    {
        if (current.LockedBy == actionId)
            return null;
        if (current.LockedBy is { } running)
            return new Refusal("locked", $"Droplet '{current.Id}' is busy with action {running} ({Name(current.LockedFor)}); wait for it: {ResourceAction.Location(running)}.");
        var from = VolumeActionRules.For(type).DropletFrom ?? throw new InvalidOperationException($"A volume's {type} holds no droplet.");
        if (!from.Contains(current.Status))
            return Conflict($"Droplet '{current.Id}' is {Name(current.Status)}; {Name(type)} needs it {VolumeActionRules.Words(from)}.");
        if (type == ActionType.Attach && current.VolumeIds.Count >= MaxPerDroplet)
            return Conflict($"Droplet '{current.Id}' already has {current.VolumeIds.Count} volumes, the most a droplet can have.");
        return null;
    }

    // The droplet held by a volume action: its status does not change, it is only locked.
    public static Droplet Hold(Droplet current, string actionId, ActionType type) =>
        current with { LockedBy = actionId, LockedFor = type, LockedFrom = current.Status };

    // A volume when the droplet it belongs to is gone: attached → available; a create's reservation dropped.
    public static Volume? Released(Volume current, string dropletId)
    {
        if (current.DropletId == dropletId)
            return current with { Status = current.Status == VolumeStatus.Attached ? VolumeStatus.Available : current.Status, DropletId = null };
        if (current.LockedFor == ActionType.Create && current.PendingDropletId == dropletId)
            return current with { LockedBy = null, LockedFor = null, PendingDropletId = null };
        return null;
    }

    public static string Name<T>(T value) => JsonSerializer.Serialize(value).Trim('"');

    static Refusal Conflict(string message) => new("conflict", message);

    static string ForDroplet(Volume current) =>
        current.LockedFor == ActionType.Create && current.PendingDropletId is { } droplet ? $" of droplet '{droplet}'" : "";
}
