using Droplets.Catalog;
using Droplets.Droplets;
using k8s.Models;

namespace Droplets.KubeVirt;

// The one place where a Droplet becomes KubeVirt objects and KubeVirt state becomes what we record.
public static class DropletMapping
{
    public const string DropletIdLabel = "droplets.dev/droplet-id";
    public const string ProjectIdLabel = "droplets.dev/project-id";

    public static string VmNameFor(string dropletId) => dropletId.Replace('_', '-');

    public static string RootDiskNameFor(string dropletId) => VmNameFor(dropletId) + "-root";

    public static string PublicServiceNameFor(string dropletId) => VmNameFor(dropletId) + "-public";

    public static string CloudInitSecretNameFor(string dropletId) => VmNameFor(dropletId) + "-cloudinit";

    // KubeVirt takes inline userData up to CloudInit.InlineLimit bytes; beyond that it must come from a Secret.
    public static bool NeedsCloudInitSecret(string userData) => System.Text.Encoding.UTF8.GetByteCount(userData) > CloudInit.InlineLimit;

    // userData: the rendered document (CloudInit.UserData), inline or by reference to CloudInitSecret.
    public static VirtualMachine VirtualMachine(Droplet droplet, Plan plan, Image image, CatalogOptions catalog, string userData)
    {
        var name = VmNameFor(droplet.Id);
        var labels = Labels(droplet);
        return new VirtualMachine
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = droplet.Namespace, Labels = labels },
            Spec = new VirtualMachineSpec
            {
                RunStrategy = "Always",
                DataVolumeTemplates =
                [
                    new DataVolumeTemplate
                    {
                        Metadata = new V1ObjectMeta { Name = RootDiskNameFor(droplet.Id), Labels = labels },
                        Spec = new DataVolumeSpec
                        {
                            Source = new DataVolumeSource(new RegistrySource("docker://" + image.Source)),
                            Storage = new StorageSpec(new V1VolumeResourceRequirements
                            {
                                Requests = new Dictionary<string, ResourceQuantity> { ["storage"] = new($"{plan.DiskGib}Gi") },
                            }),
                        },
                    },
                ],
                Template = new VmiTemplate
                {
                    Metadata = new V1ObjectMeta { Labels = labels },
                    Spec = new VmiSpec
                    {
                        Domain = new DomainSpec
                        {
                            // Maxima at the top of the catalog, so growing within the plan family is a live
                            // (LiveUpdate) change rather than a restart.
                            Cpu = new Cpu { Sockets = plan.Vcpus, MaxSockets = Math.Max(plan.Vcpus, catalog.Plans.Values.Max(p => p.Vcpus)) },
                            Memory = new Memory
                            {
                                Guest = $"{plan.MemoryMib}Mi",
                                MaxGuest = $"{Math.Max(plan.MemoryMib, catalog.Plans.Values.Max(p => p.MemoryMib))}Mi",
                            },
                            Devices = new Devices
                            {
                                Disks =
                                [
                                    new Disk("rootdisk", new DiskTarget("virtio")), new Disk("cloudinitdisk", new DiskTarget("virtio")),
                                    .. droplet.VolumeIds.Select(VolumeMapping.VmDisk),
                                ],
                                Interfaces = [new Interface("default", new { })],
                            },
                        },
                        Networks = [new Network("default", new { })],
                        Volumes =
                        [
                            new Volume { Name = "rootdisk", DataVolume = new DataVolumeRef(RootDiskNameFor(droplet.Id)) },
                            new Volume
                            {
                                Name = "cloudinitdisk",
                                CloudInitNoCloud = NeedsCloudInitSecret(userData)
                                    ? new CloudInitNoCloud { SecretRef = new V1LocalObjectReference { Name = CloudInitSecretNameFor(droplet.Id) } }
                                    : new CloudInitNoCloud { UserData = userData },
                            },
                            .. droplet.VolumeIds.Select(VolumeMapping.VmVolume),
                        ],
                    },
                },
            },
        };
    }

    public static V1Service PublicService(Droplet droplet) => new()
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = new V1ObjectMeta
        {
            Name = PublicServiceNameFor(droplet.Id),
            NamespaceProperty = droplet.Namespace,
            Labels = Labels(droplet),
        },
        Spec = new V1ServiceSpec
        {
            Type = "LoadBalancer",
            Selector = new Dictionary<string, string> { ["vm.kubevirt.io/name"] = VmNameFor(droplet.Id) },
            Ports = [new V1ServicePort { Name = "ssh", Port = 22, TargetPort = 22, Protocol = "TCP" }],
        },
    };

    // The user data of a document too large to inline. Owned by the VirtualMachine, so Kubernetes' garbage
    // collector removes it with the VM and the app needs no delete (or read) access to Secrets. It needs the VM's
    // uid, so it is made right after the VM — normally before KubeVirt has even scheduled the launcher pod that
    // mounts it; should it be late (a retried activity), the kubelet keeps retrying the mount until it exists.
    public static V1Secret CloudInitSecret(Droplet droplet, string userData, VirtualMachine owner) => new()
    {
        ApiVersion = "v1",
        Kind = "Secret",
        Metadata = new V1ObjectMeta
        {
            Name = CloudInitSecretNameFor(droplet.Id),
            NamespaceProperty = droplet.Namespace,
            Labels = Labels(droplet),
            OwnerReferences = [new V1OwnerReference { ApiVersion = owner.ApiVersion, Kind = owner.Kind, Name = owner.Metadata.Name, Uid = owner.Metadata.Uid }],
        },
        Type = "Opaque",
        Data = new Dictionary<string, byte[]> { ["userdata"] = System.Text.Encoding.UTF8.GetBytes(userData) },
    };

    static Dictionary<string, string> Labels(Droplet droplet) => new()
    {
        [DropletIdLabel] = droplet.Id,
        [ProjectIdLabel] = droplet.ProjectId,
    };

    // KubeVirt state → what provisioning needs to know. Failure messages are KubeVirt's own words,
    // taken from where KubeVirt puts them for each state.
    public static VmObservation Observe(VirtualMachine? vm, VirtualMachineInstance? vmi, IEnumerable<DataVolume> disks, V1Service? service)
    {
        if (vm is null)
            return new VmObservation(null, null, null, null) { Exists = false };
        var printable = vm.Status?.PrintableStatus;
        var privateIp = vmi?.Status?.Interfaces?.Select(i => i.IpAddress).FirstOrDefault(ip => !string.IsNullOrEmpty(ip));
        var publicIp = service?.Status?.LoadBalancer?.Ingress?.Select(i => i.Ip).FirstOrDefault(ip => !string.IsNullOrEmpty(ip));
        return new VmObservation(printable, StripPrefixLength(privateIp), publicIp, FailureMessage(printable, vm, disks))
        {
            InstanceUid = vmi?.Metadata?.Uid,
            InstancePhase = vmi?.Status?.Phase,
            AtRest = AtRest(printable, vm, privateIp),
        };
    }

    // KubeVirt has nothing more to do on its own: no start or stop queued, and a state it stays in. "Stopped" under
    // runStrategy Always is the old VMI of a restart, final but not yet removed: virt-controller starts a new one next.
    static bool AtRest(string? printable, VirtualMachine vm, string? privateIp) =>
        vm.Status?.StateChangeRequests is not { Count: > 0 }
        && (printable switch
        {
            "Running" => privateIp is not null,
            "Stopped" => vm.Spec.RunStrategy is not ("Always" or "RerunOnFailure" or "Once"),
            "Paused" => true,
            _ => DropletStatusRules.FailureCode(printable) is not null,
        });

    static string? FailureMessage(string? printable, VirtualMachine vm, IEnumerable<DataVolume> disks)
    {
        var conditions = vm.Status?.Conditions ?? [];
        string? From(string type) => conditions.FirstOrDefault(c => c.Type == type && c.Status == "False")?.Message;
        return printable switch
        {
            "ErrorUnschedulable" => From("PodScheduled"),
            "ErrImagePull" or "ImagePullBackOff" or "ErrorPvcNotFound" => From("Synchronized"),
            "DataVolumeError" => disks.SelectMany(d => d.Status?.Conditions ?? []).FirstOrDefault(c => c.Type == "Running" && c.Status == "False")?.Message
                ?? From("DataVolumesReady"),
            "CrashLoopBackOff" => $"The virtual machine crashed {vm.Status?.StartFailure?.ConsecutiveFailCount ?? 0} times in a row; KubeVirt is backing off before the next start.",
            _ => null,
        } ?? conditions.FirstOrDefault(c => c.Type == "Failure" && c.Status == "True")?.Message ?? $"KubeVirt reports {printable}.";
    }

    // The guest agent reports "10.244.0.23/24"; users want the address.
    static string? StripPrefixLength(string? ip) => ip?.Split('/')[0];
}

public sealed record VmObservation(string? PrintableStatus, string? PrivateIp, string? PublicIp, string? Message)
{
    public bool Exists { get; init; } = true;

    // Which VMI this is: a reboot is over when a different one is running.
    public string? InstanceUid { get; init; }
    public string? InstancePhase { get; init; }

    // Hotplug volumes (those the droplet was created with) not reported Ready by the running VMI yet.
    public int PendingVolumes { get; init; }

    // See DropletMapping.AtRest; a VM that is gone is at rest too.
    public bool AtRest { get; init; } = true;
}
