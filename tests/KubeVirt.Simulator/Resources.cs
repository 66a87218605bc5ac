namespace KubeVirt.Simulator;

// A kind the simulator reads and writes, as the API server serves it. HasStatus: it has a /status subresource,
// so a write to the main resource leaves status alone (KubeVirt gives VirtualMachineInstances none).
internal sealed record ResourceType(string Group, string Version, string Plural, string Kind, bool Namespaced, bool HasStatus)
{
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    // "virtualmachines.kubevirt.io" / "services": the form used in NotFound and Conflict messages.
    public string GroupResource => Group.Length == 0 ? Plural : $"{Plural}.{Group}";
}

internal static class Resources
{
    public static readonly ResourceType Namespaces = new("", "v1", "namespaces", "Namespace", false, true);
    public static readonly ResourceType ServiceAccounts = new("", "v1", "serviceaccounts", "ServiceAccount", true, false);
    public static readonly ResourceType Services = new("", "v1", "services", "Service", true, true);
    public static readonly ResourceType Events = new("", "v1", "events", "Event", true, false);
    public static readonly ResourceType Pods = new("", "v1", "pods", "Pod", true, true);
    public static readonly ResourceType Pvcs = new("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, true);
    public static readonly ResourceType Secrets = new("", "v1", "secrets", "Secret", true, false);
    public static readonly ResourceType VirtualMachines = new("kubevirt.io", "v1", "virtualmachines", "VirtualMachine", true, true);
    public static readonly ResourceType VirtualMachineInstances = new("kubevirt.io", "v1", "virtualmachineinstances", "VirtualMachineInstance", true, false);
    public static readonly ResourceType Migrations = new("kubevirt.io", "v1", "virtualmachineinstancemigrations", "VirtualMachineInstanceMigration", true, true);
    public static readonly ResourceType DataVolumes = new("cdi.kubevirt.io", "v1beta1", "datavolumes", "DataVolume", true, true);

    public static readonly IReadOnlyList<ResourceType> All = [Namespaces, ServiceAccounts, Services, Events, Pods, Pvcs, Secrets, VirtualMachines, VirtualMachineInstances, Migrations, DataVolumes];

    public static ResourceType? ByPlural(string plural) => All.FirstOrDefault(r => r.Plural == plural);

    // The kind an owner reference names, if the simulator caches it.
    public static ResourceType? ByKind(string? apiVersion, string? kind) => All.FirstOrDefault(r => r.ApiVersion == apiVersion && r.Kind == kind);
}
