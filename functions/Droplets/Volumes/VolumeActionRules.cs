using System.Text.Json;
using Droplets.Actions;

namespace Droplets.Volumes;

// One action on a volume, described once: its workflow, whether it is posted to /volumes/{id}/actions (create and
// delete have routes of their own), and whether it holds the droplet it works on as well as the volume (so that
// nothing else changes that droplet's VirtualMachine meanwhile). What each needs of the volume and the droplet is
// VolumeRules'.
public sealed record VolumeActionRule(ActionType Type, string Workflow, bool Posted, bool HoldsDroplet);

public static class VolumeActionRules
{
    public static IReadOnlyList<VolumeActionRule> Table { get; } =
    [
        new(ActionType.Create, VolumeWorkflows.ProvisionVolume, Posted: false, HoldsDroplet: false),
        new(ActionType.Delete, VolumeWorkflows.DeleteVolume, Posted: false, HoldsDroplet: false),
        new(ActionType.Attach, VolumeWorkflows.AttachVolume, Posted: true, HoldsDroplet: true),
        new(ActionType.Detach, VolumeWorkflows.DetachVolume, Posted: true, HoldsDroplet: true),
        new(ActionType.Resize, VolumeWorkflows.ResizeVolume, Posted: true, HoldsDroplet: false),
    ];

    // Fails loudly for a type that is not an action on a volume.
    public static VolumeActionRule For(ActionType type) => Table.SingleOrDefault(r => r.Type == type)
        ?? throw new InvalidOperationException($"Volumes have no {type} action.");

    public static IEnumerable<VolumeActionRule> Posted => Table.Where(r => r.Posted);

    // A droplet held by one of these is held for a volume's action, whose workflow releases it.
    public static bool HoldsDroplet(ActionType type) => Table.Any(r => r.Type == type && r.HoldsDroplet);

    public static string Wire(ActionType type) => JsonSerializer.Serialize(type).Trim('"');
}
