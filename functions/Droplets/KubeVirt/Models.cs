using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Droplets.KubeVirt;

// Only the KubeVirt / CDI fields Droplets reads or writes. Everything else on the server is left alone.

[KubernetesEntity(Group = "kubevirt.io", ApiVersion = "v1", Kind = "VirtualMachine", PluralName = "virtualmachines")]
public sealed class VirtualMachine : IKubernetesObject<V1ObjectMeta>
{
    [JsonPropertyName("apiVersion")] public string ApiVersion { get; set; } = "kubevirt.io/v1";
    [JsonPropertyName("kind")] public string Kind { get; set; } = "VirtualMachine";
    [JsonPropertyName("metadata")] public V1ObjectMeta Metadata { get; set; } = new();
    [JsonPropertyName("spec")] public VirtualMachineSpec Spec { get; set; } = new();
    [JsonPropertyName("status")] public VirtualMachineStatus? Status { get; set; }
}

public sealed record VirtualMachineSpec
{
    [JsonPropertyName("runStrategy")] public string? RunStrategy { get; init; }
    [JsonPropertyName("dataVolumeTemplates")] public IList<DataVolumeTemplate>? DataVolumeTemplates { get; init; }
    [JsonPropertyName("template")] public VmiTemplate? Template { get; init; }
}

public sealed record VirtualMachineStatus
{
    [JsonPropertyName("printableStatus")] public string? PrintableStatus { get; init; }
    [JsonPropertyName("created")] public bool? Created { get; init; }
    [JsonPropertyName("ready")] public bool? Ready { get; init; }
    [JsonPropertyName("conditions")] public IList<Condition>? Conditions { get; init; }
    [JsonPropertyName("startFailure")] public StartFailure? StartFailure { get; init; }
    [JsonPropertyName("volumeRequests")] public IList<VolumeRequest>? VolumeRequests { get; init; }
    [JsonPropertyName("stateChangeRequests")] public IList<StateChangeRequest>? StateChangeRequests { get; init; }
}

// A queued start or stop (virt-api's start/stop/restart write them; virt-controller works them off in order).
public sealed record StateChangeRequest([property: JsonPropertyName("action")] string Action);

// A queued addvolume / removevolume request; only the volume's name matters to us.
public sealed record VolumeRequest
{
    [JsonPropertyName("addVolumeOptions")] public VolumeRequestOptions? AddVolumeOptions { get; init; }
    [JsonPropertyName("removeVolumeOptions")] public VolumeRequestOptions? RemoveVolumeOptions { get; init; }
}

public sealed record VolumeRequestOptions([property: JsonPropertyName("name")] string Name);

public sealed record StartFailure([property: JsonPropertyName("consecutiveFailCount")] int? ConsecutiveFailCount);

public sealed record Condition
{
    [JsonPropertyName("type")] public string Type { get; init; } = "";
    [JsonPropertyName("status")] public string Status { get; init; } = "";
    [JsonPropertyName("reason")] public string? Reason { get; init; }
    [JsonPropertyName("message")] public string? Message { get; init; }
}

public sealed record DataVolumeTemplate
{
    [JsonPropertyName("metadata")] public V1ObjectMeta Metadata { get; init; } = new();
    [JsonPropertyName("spec")] public DataVolumeSpec Spec { get; init; } = new();
}

public sealed record DataVolumeSpec
{
    [JsonPropertyName("source")] public DataVolumeSource? Source { get; init; }
    [JsonPropertyName("storage")] public StorageSpec? Storage { get; init; }
}

public sealed record DataVolumeSource([property: JsonPropertyName("registry")] RegistrySource? Registry)
{
    // An empty disk (CDI's `blank: {}`), for volumes.
    [JsonPropertyName("blank")] public object? Blank { get; init; }
}

public sealed record RegistrySource([property: JsonPropertyName("url")] string Url);

public sealed record StorageSpec([property: JsonPropertyName("resources")] V1VolumeResourceRequirements Resources)
{
    [JsonPropertyName("accessModes")] public IList<string>? AccessModes { get; init; }
    [JsonPropertyName("volumeMode")] public string? VolumeMode { get; init; }
}

public sealed record VmiTemplate
{
    [JsonPropertyName("metadata")] public V1ObjectMeta? Metadata { get; init; }
    [JsonPropertyName("spec")] public VmiSpec Spec { get; init; } = new();
}

public sealed record VmiSpec
{
    [JsonPropertyName("domain")] public DomainSpec Domain { get; init; } = new();
    [JsonPropertyName("networks")] public IList<Network>? Networks { get; init; }
    [JsonPropertyName("volumes")] public IList<Volume>? Volumes { get; init; }
}

public sealed record DomainSpec
{
    [JsonPropertyName("cpu")] public Cpu? Cpu { get; init; }
    [JsonPropertyName("memory")] public Memory? Memory { get; init; }
    [JsonPropertyName("devices")] public Devices Devices { get; init; } = new();
}

public sealed record Cpu
{
    [JsonPropertyName("sockets")] public int Sockets { get; init; }
    [JsonPropertyName("cores")] public int Cores { get; init; } = 1;
    [JsonPropertyName("threads")] public int Threads { get; init; } = 1;
    [JsonPropertyName("maxSockets")] public int? MaxSockets { get; init; }
}

public sealed record Memory
{
    [JsonPropertyName("guest")] public string? Guest { get; init; }
    [JsonPropertyName("maxGuest")] public string? MaxGuest { get; init; }
}

public sealed record Devices
{
    [JsonPropertyName("disks")] public IList<Disk>? Disks { get; init; }
    [JsonPropertyName("interfaces")] public IList<Interface>? Interfaces { get; init; }
}

public sealed record Disk(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("disk")] DiskTarget Target);

public sealed record DiskTarget([property: JsonPropertyName("bus")] string Bus);

public sealed record Interface(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("masquerade")] object? Masquerade);

public sealed record Network(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("pod")] object? Pod);

public sealed record Volume
{
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("dataVolume")] public DataVolumeRef? DataVolume { get; init; }
    [JsonPropertyName("cloudInitNoCloud")] public CloudInitNoCloud? CloudInitNoCloud { get; init; }
}

public sealed record DataVolumeRef([property: JsonPropertyName("name")] string Name)
{
    [JsonPropertyName("hotpluggable")] public bool? Hotpluggable { get; init; }
}

// Inline userData, or a Secret holding it under the key "userdata" (for documents over KubeVirt's inline limit).
public sealed record CloudInitNoCloud
{
    [JsonPropertyName("userData")] public string? UserData { get; init; }
    [JsonPropertyName("secretRef")] public V1LocalObjectReference? SecretRef { get; init; }
}

public sealed class VirtualMachineList
{
    [JsonPropertyName("metadata")] public V1ListMeta? Metadata { get; set; }
    [JsonPropertyName("items")] public List<VirtualMachine> Items { get; set; } = [];
}

[KubernetesEntity(Group = "kubevirt.io", ApiVersion = "v1", Kind = "VirtualMachineInstance", PluralName = "virtualmachineinstances")]
public sealed class VirtualMachineInstance : IKubernetesObject<V1ObjectMeta>
{
    [JsonPropertyName("apiVersion")] public string ApiVersion { get; set; } = "kubevirt.io/v1";
    [JsonPropertyName("kind")] public string Kind { get; set; } = "VirtualMachineInstance";
    [JsonPropertyName("metadata")] public V1ObjectMeta Metadata { get; set; } = new();
    [JsonPropertyName("spec")] public VmiSpec? Spec { get; set; }
    [JsonPropertyName("status")] public VmiStatus? Status { get; set; }
}

public sealed record VmiStatus
{
    [JsonPropertyName("phase")] public string? Phase { get; init; }
    [JsonPropertyName("currentCPUTopology")] public Cpu? CurrentCpuTopology { get; init; }
    [JsonPropertyName("memory")] public VmiMemoryStatus? Memory { get; init; }
    [JsonPropertyName("interfaces")] public IList<VmiInterface>? Interfaces { get; init; }
    [JsonPropertyName("conditions")] public IList<Condition>? Conditions { get; init; }
    [JsonPropertyName("volumeStatus")] public IList<VolumeStatusEntry>? VolumeStatus { get; init; }
}

public sealed record VolumeStatusEntry
{
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("phase")] public string? Phase { get; init; }
    [JsonPropertyName("reason")] public string? Reason { get; init; }
    [JsonPropertyName("message")] public string? Message { get; init; }
}

public sealed record VmiMemoryStatus([property: JsonPropertyName("guestCurrent")] string? GuestCurrent);

public sealed record VmiInterface
{
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("ipAddress")] public string? IpAddress { get; init; }
}

[KubernetesEntity(Group = "cdi.kubevirt.io", ApiVersion = "v1beta1", Kind = "DataVolume", PluralName = "datavolumes")]
public sealed class DataVolume : IKubernetesObject<V1ObjectMeta>
{
    [JsonPropertyName("apiVersion")] public string ApiVersion { get; set; } = "cdi.kubevirt.io/v1beta1";
    [JsonPropertyName("kind")] public string Kind { get; set; } = "DataVolume";
    [JsonPropertyName("metadata")] public V1ObjectMeta Metadata { get; set; } = new();
    [JsonPropertyName("spec")] public DataVolumeSpec? Spec { get; set; }
    [JsonPropertyName("status")] public DataVolumeStatus? Status { get; set; }
}

public sealed record DataVolumeStatus
{
    [JsonPropertyName("phase")] public string? Phase { get; init; }
    [JsonPropertyName("conditions")] public IList<Condition>? Conditions { get; init; }
}
