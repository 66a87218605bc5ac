using System.Text.Json.Nodes;

namespace KubeVirt.Simulator;

internal sealed record ResourceType(
    string Group,
    string Version,
    string Plural,
    string Singular,
    string Kind,
    bool Namespaced,
    string[] ShortNames,
    bool HasStatus,
    bool IsCustom,
    bool ReadOnly = false,
    bool NameIsLabel = false)
{
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    // "virtualmachines.kubevirt.io" / "services": the form used in NotFound and Conflict messages.
    public string GroupResource => Group.Length == 0 ? Plural : $"{Plural}.{Group}";

    // "VirtualMachine.kubevirt.io" / "Service": the form used in Invalid messages.
    public string GroupKind => Group.Length == 0 ? Kind : $"{Kind}.{Group}";
}

internal static class Resources
{
    public static readonly ResourceType Namespaces = new("", "v1", "namespaces", "namespace", "Namespace", false, ["ns"], true, false, NameIsLabel: true);
    public static readonly ResourceType Services = new("", "v1", "services", "service", "Service", true, ["svc"], true, false, NameIsLabel: true);
    public static readonly ResourceType Events = new("", "v1", "events", "event", "Event", true, ["ev"], false, false);
    public static readonly ResourceType Pods = new("", "v1", "pods", "pod", "Pod", true, ["po"], true, false, ReadOnly: true);
    public static readonly ResourceType Pvcs = new("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", true, ["pvc"], true, false);
    public static readonly ResourceType Secrets = new("", "v1", "secrets", "secret", "Secret", true, [], false, false);
    public static readonly ResourceType VirtualMachines = new("kubevirt.io", "v1", "virtualmachines", "virtualmachine", "VirtualMachine", true, ["vm", "vms"], true, true);
    public static readonly ResourceType VirtualMachineInstances = new("kubevirt.io", "v1", "virtualmachineinstances", "virtualmachineinstance", "VirtualMachineInstance", true, ["vmi", "vmis"], true, true);
    public static readonly ResourceType Migrations = new("kubevirt.io", "v1", "virtualmachineinstancemigrations", "virtualmachineinstancemigration", "VirtualMachineInstanceMigration", true, ["vmim", "vmims"], true, true);
    public static readonly ResourceType DataVolumes = new("cdi.kubevirt.io", "v1beta1", "datavolumes", "datavolume", "DataVolume", true, ["dv", "dvs"], true, true);

    public static readonly IReadOnlyList<ResourceType> All = [Namespaces, Services, Events, Pods, Pvcs, Secrets, VirtualMachines, VirtualMachineInstances, Migrations, DataVolumes];

    public static ResourceType? Find(string group, string version, string plural) =>
        All.FirstOrDefault(r => r.Group == group && r.Version == version && r.Plural == plural);

    public static ResourceType? ByPlural(string plural) => All.FirstOrDefault(r => r.Plural == plural);
}

// Just enough discovery for kubectl to resolve "vm", "vmi", "dv", "svc" and build its RESTMapper.
internal static class Discovery
{
    public const string SubresourceGroup = "subresources.kubevirt.io";

    static readonly string[] AllVerbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
    static readonly string[] ReadVerbs = ["get", "list", "watch", "delete"];

    public static JsonObject Version() => new()
    {
        ["major"] = "1",
        ["minor"] = "31",
        ["gitVersion"] = "v1.31.0",
        ["gitCommit"] = "kubevirt-simulator",
        ["gitTreeState"] = "clean",
        ["buildDate"] = "2024-08-13T00:00:00Z",
        ["goVersion"] = "go1.22.5",
        ["compiler"] = "gc",
        ["platform"] = "linux/amd64",
    };

    public static JsonObject CoreVersions() => new()
    {
        ["kind"] = "APIVersions",
        ["versions"] = new JsonArray("v1"),
        ["serverAddressByClientCIDRs"] = new JsonArray(new JsonObject { ["clientCIDR"] = "0.0.0.0/0", ["serverAddress"] = "127.0.0.1:6443" }),
    };

    static IEnumerable<(string Group, string Version)> Groups() =>
        [("kubevirt.io", "v1"), (SubresourceGroup, "v1"), ("cdi.kubevirt.io", "v1beta1")];

    public static JsonObject GroupList() => new()
    {
        ["kind"] = "APIGroupList",
        ["apiVersion"] = "v1",
        ["groups"] = new JsonArray(Groups().Select(g => (JsonNode)Group(g.Group, g.Version)).ToArray()),
    };

    public static JsonObject? Group(string group)
    {
        var match = Groups().Where(g => g.Group == group).ToList();
        return match.Count == 0 ? null : Group(match[0].Group, match[0].Version);
    }

    static JsonObject Group(string group, string version)
    {
        var gv = new JsonObject { ["groupVersion"] = $"{group}/{version}", ["version"] = version };
        return new JsonObject
        {
            ["kind"] = "APIGroup",
            ["apiVersion"] = "v1",
            ["name"] = group,
            ["versions"] = new JsonArray(gv),
            ["preferredVersion"] = gv.DeepClone(),
        };
    }

    public static JsonObject? ResourceList(string group, string version)
    {
        var resources = new JsonArray();
        if (group == SubresourceGroup)
        {
            if (version != "v1")
            {
                return null;
            }
            foreach (var (plural, kind, action) in new[]
            {
                ("virtualmachines", "VirtualMachine", "start"), ("virtualmachines", "VirtualMachine", "stop"), ("virtualmachines", "VirtualMachine", "restart"),
                ("virtualmachines", "VirtualMachine", "addvolume"), ("virtualmachines", "VirtualMachine", "removevolume"),
                ("virtualmachineinstances", "VirtualMachineInstance", "addvolume"), ("virtualmachineinstances", "VirtualMachineInstance", "removevolume"),
            })
            {
                resources.Add(new JsonObject
                {
                    ["name"] = $"{plural}/{action}",
                    ["singularName"] = "",
                    ["namespaced"] = true,
                    ["kind"] = kind,
                    ["verbs"] = new JsonArray("update"),
                });
            }
            foreach (var subresource in new[] { "vnc", "vnc/screenshot" })
            {
                resources.Add(new JsonObject
                {
                    ["name"] = $"virtualmachineinstances/{subresource}",
                    ["singularName"] = "",
                    ["namespaced"] = true,
                    ["kind"] = "VirtualMachineInstance",
                    ["verbs"] = new JsonArray("get"),
                });
            }
        }
        else
        {
            var types = Resources.All.Where(r => r.Group == group && r.Version == version).ToList();
            if (types.Count == 0)
            {
                return null;
            }
            foreach (var type in types)
            {
                var verbs = type.ReadOnly ? ReadVerbs : AllVerbs;
                resources.Add(new JsonObject
                {
                    ["name"] = type.Plural,
                    ["singularName"] = type.Singular,
                    ["namespaced"] = type.Namespaced,
                    ["kind"] = type.Kind,
                    ["verbs"] = new JsonArray(verbs.Select(v => (JsonNode)v).ToArray()),
                    ["shortNames"] = new JsonArray(type.ShortNames.Select(s => (JsonNode)s).ToArray()),
                });
                if (type.IsCustom)
                {
                    resources[^1]!["categories"] = new JsonArray("all");
                }
                if (type.HasStatus)
                {
                    resources.Add(new JsonObject
                    {
                        ["name"] = $"{type.Plural}/status",
                        ["singularName"] = "",
                        ["namespaced"] = type.Namespaced,
                        ["kind"] = type.Kind,
                        ["verbs"] = new JsonArray("get", "patch", "update"),
                    });
                }
            }
        }
        return new JsonObject
        {
            ["kind"] = "APIResourceList",
            ["apiVersion"] = "v1",
            ["groupVersion"] = group.Length == 0 ? version : $"{group}/{version}",
            ["resources"] = resources,
        };
    }
}
