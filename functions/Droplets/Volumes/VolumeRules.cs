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

    public static Refusal? VolumeRefusal(ActionType type, Volume current, string? dropletId, int? size)
    {
        if (current.LockedBy is { } running)
            return new Refusal("locked", $"Volume '{current.Id}' is busy with action {running} ({Name(current.LockedFor)}){ForDroplet(current)}; wait for it: {ResourceAction.Location(running)}.");
        return (type, current.Status) switch
        {
            (ActionType.Attach, VolumeStatus.Attached) => Conflict($"Volume '{current.Id}' is already attached to droplet '{current.DropletId}'; detach it first."),
            (ActionType.Attach, not VolumeStatus.Available) => Conflict($"Volume '{current.Id}' is {Name(current.Status)}; attach needs it available."),
            (ActionType.Detach, not VolumeStatus.Attached) => Conflict($"Volume '{current.Id}' is {Name(current.Status)}, not attached to a droplet; there is nothing to detach."),
            (ActionType.Detach, _) when dropletId is not null && dropletId != current.DropletId =>
                Conflict($"Volume '{current.Id}' is attached to droplet '{current.DropletId}', not '{dropletId}'."),
            (ActionType.Resize, not (VolumeStatus.Available or VolumeStatus.Attached)) => Conflict($"Volume '{current.Id}' is {Name(current.Status)}; resize needs it available or attached."),
            (ActionType.Resize, _) when size <= current.SizeGigabytes => new Refusal("validation_failed",
                $"size_gigabytes must be larger than the volume's {current.SizeGigabytes} GiB: volumes only grow."),
            (ActionType.Delete, VolumeStatus.Attached) => Conflict($"Volume '{current.Id}' is attached to droplet '{current.DropletId}'; detach it (or delete the droplet) first."),
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
        if (type == ActionType.Attach && current.Status is not (DropletStatus.Running or DropletStatus.Stopped))
            return Conflict($"Droplet '{current.Id}' is {Name(current.Status)}; attach needs it running or stopped.");
        if (type == ActionType.Detach && current.Status is not (DropletStatus.Running or DropletStatus.Stopped or DropletStatus.Error))
            return Conflict($"Droplet '{current.Id}' is {Name(current.Status)}; detach needs it running, stopped or in error.");
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
