using k8s.Models;

namespace Droplets.KubeVirt;

// The one place where a Volume becomes KubeVirt/CDI objects, and where KubeVirt's view of a hotplugged disk
// becomes "attached" or "detached".
// - The volume is a blank DataVolume (CDI formats nothing; KubeVirt makes the disk image on first use), named
//   after the id (`vol_ab12…` → `vol-ab12…`), ReadWriteOnce, Filesystem, in the project's namespace. CDI makes
//   a PVC of the same name, owned by the DataVolume, so deleting the DataVolume deletes the claim.
// - In a VirtualMachine the volume and its disk are named like the claim, and always hotpluggable (also when
//   a droplet is created with it), so that removevolume can take it out again; hotplug disks need the scsi bus.
public static class VolumeMapping
{
    public const string VolumeIdLabel = "droplets.dev/volume-id";

    public static string ClaimNameFor(string volumeId) => volumeId.Replace('_', '-');

    public static DataVolume DataVolume(Volumes.Volume volume) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = ClaimNameFor(volume.Id),
            NamespaceProperty = volume.Namespace,
            Labels = new Dictionary<string, string> { [VolumeIdLabel] = volume.Id, [DropletMapping.ProjectIdLabel] = volume.ProjectId },
            // CDI may garbage-collect a DataVolume once its import completes; a volume's must stay, since
            // deleting it is how the volume is deleted.
            Annotations = new Dictionary<string, string> { ["cdi.kubevirt.io/storage.deleteAfterCompletion"] = "false" },
        },
        Spec = new DataVolumeSpec
        {
            Source = new DataVolumeSource(null) { Blank = new { } },
            Storage = new StorageSpec(new V1VolumeResourceRequirements
            {
                Requests = new Dictionary<string, ResourceQuantity> { ["storage"] = new(Quantity(volume.SizeGigabytes)) },
            })
            {
                AccessModes = ["ReadWriteOnce"],
                VolumeMode = "Filesystem",
            },
        },
    };

    public static string Quantity(int gigabytes) => $"{gigabytes}Gi";

    // The template entries of a volume a droplet is created with.
    public static Volume VmVolume(string volumeId) =>
        new() { Name = ClaimNameFor(volumeId), DataVolume = new DataVolumeRef(ClaimNameFor(volumeId)) { Hotpluggable = true } };

    public static Disk VmDisk(string volumeId) => new(ClaimNameFor(volumeId), new DiskTarget("scsi"));

    // KubeVirt's AddVolumeOptions / RemoveVolumeOptions bodies for addvolume / removevolume.
    public static object AddVolumeOptions(string volumeId) => new
    {
        name = ClaimNameFor(volumeId),
        disk = new { disk = new { bus = "scsi" } },
        volumeSource = new { dataVolume = new { name = ClaimNameFor(volumeId), hotpluggable = true } },
    };

    public static object RemoveVolumeOptions(string volumeId) => new { name = ClaimNameFor(volumeId) };

    // Where a volume is in a VM: in the template (what the next VMI boots with), queued as a request, and —
    // on a running VMI — its hotplug phase.
    public static AttachmentState Attachment(VirtualMachine? vm, VirtualMachineInstance? vmi, string volumeId)
    {
        var name = ClaimNameFor(volumeId);
        if (vm is null)
            return new AttachmentState(VmExists: false, InTemplate: false, AddRequested: false, RemoveRequested: false, InInstance: false, Phase: null, Message: null);
        var inTemplate = vm.Spec.Template?.Spec.Volumes?.Any(v => v.Name == name) ?? false;
        var addRequested = vm.Status?.VolumeRequests?.Any(r => r.AddVolumeOptions?.Name == name) ?? false;
        var removeRequested = vm.Status?.VolumeRequests?.Any(r => r.RemoveVolumeOptions?.Name == name) ?? false;
        var running = vmi?.Status?.Phase == "Running" && vmi.Metadata?.DeletionTimestamp is null;
        var status = running ? vmi!.Status!.VolumeStatus?.FirstOrDefault(s => s.Name == name) : null;
        var inInstance = running && (vmi!.Spec?.Volumes?.Any(v => v.Name == name) ?? false);
        var failure = vm.Status?.Conditions?.FirstOrDefault(c => c.Type == "Failure" && c.Status == "True" && c.Reason == "HotPlugVolumeError")?.Message;
        return new AttachmentState(true, inTemplate, addRequested, removeRequested, running && (inInstance || status is not null), status?.Phase, status?.Message ?? failure)
        {
            InstanceRunning = running,
        };
    }

    // Hotplug volumes in the template that a running VMI has not reported Ready yet: a droplet created with
    // volumes is provisioned only once they are usable.
    public static int PendingVolumes(VirtualMachine? vm, VirtualMachineInstance? vmi)
    {
        var hotplug = vm?.Spec.Template?.Spec.Volumes?.Where(v => v.DataVolume?.Hotpluggable == true).Select(v => v.Name).ToList() ?? [];
        var ready = vmi?.Status?.VolumeStatus?.Where(s => s.Phase == "Ready").Select(s => s.Name).ToHashSet() ?? [];
        return hotplug.Count(name => !ready.Contains(name));
    }
}

public sealed record AttachmentState(
    bool VmExists, bool InTemplate, bool AddRequested, bool RemoveRequested, bool InInstance, string? Phase, string? Message)
{
    public bool InstanceRunning { get; init; }

    // Attached: the template has it and, when a VMI runs, KubeVirt reports the disk Ready. A stopped droplet
    // gets it at its next start.
    public bool Attached => InTemplate && !AddRequested && !RemoveRequested && (!InstanceRunning || Phase == "Ready");

    // Detached: gone from the template, from the queue and from the running VMI (its disk unplugged).
    public bool Detached => !InTemplate && !AddRequested && !RemoveRequested && !InInstance;

    // For a timeout's message: where KubeVirt got to.
    public string Describe() =>
        !VmExists ? "no VirtualMachine"
        : (AddRequested || RemoveRequested) ? "the request is still queued" + (Message is null ? "" : $" ({Message})")
        : !InstanceRunning ? (InTemplate ? "in the template, no running instance" : "not in the template, no running instance")
        : Phase is null ? (InTemplate ? "in the template, not yet on the running instance" : "gone")
        : $"volume phase {Phase}" + (Message is null ? "" : $": {Message}");
}
