using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace KubeVirt.Simulator;

// Create-time checks and defaults that the real API server (validation + admission webhooks) applies.
internal static partial class Validation
{
    const string SubdomainMessage = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const string LabelMessage = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const string Dns1035Message = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

    public static void Name(ResourceType type, JsonObject obj)
    {
        var name = obj.Str("metadata", "name") ?? "";
        var generateName = obj.Str("metadata", "generateName") ?? "";
        if (name.Length == 0 && generateName.Length == 0)
        {
            throw Errors.Invalid(type.GroupKind, "", "metadata.name", "FieldValueRequired", "Required value: name or generateName is required");
        }
        // A generated name is the prefix plus five safe characters, so checking "prefix + x" is enough.
        var (field, value, checkedName) = name.Length > 0 ? ("metadata.name", name, name) : ("metadata.generateName", generateName, generateName + "x");
        var problem = NameProblem(type, checkedName);
        if (problem is not null)
        {
            throw Errors.Invalid(type.GroupKind, name, field, "FieldValueInvalid", $"Invalid value: \"{value}\": {problem}");
        }
    }

    static string? NameProblem(ResourceType type, string name)
    {
        if (type == Resources.Services)
        {
            return name.Length > 63 ? "must be no more than 63 characters" : Dns1035().IsMatch(name) ? null : Dns1035Message;
        }
        if (type.NameIsLabel)
        {
            return name.Length > 63 ? "must be no more than 63 characters" : Dns1123Label().IsMatch(name) ? null : LabelMessage;
        }
        return name.Length > 253 ? "must be no more than 253 characters" : Dns1123Subdomain().IsMatch(name) ? null : SubdomainMessage;
    }

    // Defaults and webhook-style checks per kind; runs under the store lock (see Store.Create).
    public static void Admit(ResourceType type, JsonObject obj, Store store)
    {
        if (type == Resources.Namespaces)
        {
            obj.Meta().Child("labels")["kubernetes.io/metadata.name"] = obj.Name();
            obj["spec"] = new JsonObject { ["finalizers"] = new JsonArray("kubernetes") };
            obj["status"] = new JsonObject { ["phase"] = "Active" };
        }
        else if (type == Resources.VirtualMachines)
        {
            if (obj.At("spec", "running") is not null && obj.At("spec", "runStrategy") is not null)
            {
                throw new ApiException(422, "Invalid",
                    "admission webhook \"virtualmachine-validator.kubevirt.io\" denied the request: Running and RunStrategy are mutually exclusive. Note that Running is deprecated, please use RunStrategy instead");
            }
            obj.Remove("status");
        }
        else if (type == Resources.VirtualMachineInstances)
        {
            // Added by KubeVirt's mutating webhook; the VMI controller removes it once the VMI is final.
            obj.SetFinalizers(obj.Finalizers().Append(Finalizers.VmiForeground));
            obj.Remove("status");
        }
        else if (type == Resources.DataVolumes)
        {
            obj.Remove("status");
        }
        else if (type == Resources.Pvcs)
        {
            obj["status"] = new JsonObject { ["phase"] = "Pending" };
        }
        else if (type == Resources.Services)
        {
            AdmitService(obj, null, store);
        }
    }

    public static void AdmitUpdate(ResourceType type, JsonObject current, JsonObject desired, Store store)
    {
        if (type == Resources.Services)
        {
            AdmitService(desired, current, store);
        }
    }

    static void AdmitService(JsonObject svc, JsonObject? current, Store store)
    {
        var spec = svc.Child("spec");
        var type = spec.Str("type") ?? "ClusterIP";
        spec["type"] = type;
        if (current is not null && spec["clusterIP"] is null)
        {
            spec["clusterIP"] = current.At("spec", "clusterIP")?.DeepClone();
            spec["clusterIPs"] = current.At("spec", "clusterIPs")?.DeepClone();
        }
        if (spec.Str("clusterIP") is null or "")
        {
            var used = store.List(Resources.Services, null).Items.Select(s => s.Str("spec", "clusterIP")).ToHashSet();
            // 10.96.0.1 is the "kubernetes" service in a real cluster.
            var ip = Cidr.Parse("10.96.0.0/16").Hosts().Skip(1).FirstOrDefault(h => !used.Contains(h))
                ?? throw Errors.Internal("failed to allocate a serviceIP: range is full");
            spec["clusterIP"] = ip;
            spec["clusterIPs"] = new JsonArray(ip);
        }
        spec["ipFamilies"] ??= new JsonArray("IPv4");
        spec["ipFamilyPolicy"] ??= "SingleStack";
        spec["sessionAffinity"] ??= "None";
        spec["internalTrafficPolicy"] ??= "Cluster";
        var needsNodePorts = type is "NodePort" or "LoadBalancer";
        if (needsNodePorts)
        {
            spec["externalTrafficPolicy"] ??= "Cluster";
            if (type == "LoadBalancer")
            {
                spec["allocateLoadBalancerNodePorts"] ??= true;
            }
        }
        var usedPorts = store.List(Resources.Services, null).Items
            .SelectMany(s => s.Objects("spec", "ports")).Select(p => p.Long("nodePort")).Where(p => p is not null).ToHashSet();
        foreach (var port in spec.Objects("ports"))
        {
            port["protocol"] ??= "TCP";
            port["targetPort"] ??= port["port"]?.DeepClone();
            if (needsNodePorts && port["nodePort"] is null)
            {
                var previous = current?.Objects("spec", "ports").FirstOrDefault(p => p.Long("port") == port.Long("port"))?.Long("nodePort");
                var nodePort = previous ?? Enumerable.Range(30000, 2768).Select(p => (long?)p).First(p => !usedPorts.Contains(p));
                usedPorts.Add(nodePort);
                port["nodePort"] = nodePort;
            }
            else if (!needsNodePorts)
            {
                port.Remove("nodePort");
            }
        }
        if (current is null)
        {
            svc["status"] = new JsonObject { ["loadBalancer"] = new JsonObject() };
        }
    }

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Dns1123Subdomain();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1123Label();

    [GeneratedRegex(@"^[a-z]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1035();
}

internal static class Finalizers
{
    public const string VmController = "kubevirt.io/virtualMachineControllerFinalize";
    public const string VmiForeground = "kubevirt.io/foregroundDeleteVirtualMachine";
    public const string Orphan = "orphan";
}
