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
            CloudInitLimits(obj.At("spec", "template", "spec", "volumes"), "spec.template.spec.volumes", "virtualmachine-validator.kubevirt.io");
            obj.Remove("status");
        }
        else if (type == Resources.VirtualMachineInstances)
        {
            CloudInitLimits(obj.At("spec", "volumes"), "spec.volumes", "virtualmachineinstances-create-validator.kubevirt.io");
            // Added by KubeVirt's mutating webhook; the VMI controller removes it once the VMI is final.
            obj.SetFinalizers(obj.Finalizers().Append(Finalizers.VmiForeground));
            obj.Remove("status");
            HotplugDefaults(obj);
        }
        else if (type == Resources.DataVolumes)
        {
            obj.Remove("status");
        }
        else if (type == Resources.Pvcs)
        {
            AdmitClaim(obj);
            obj.SetFinalizers(obj.Finalizers().Append(Controllers.ClaimProtectionController.Finalizer));
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
        else if (type == Resources.Pvcs)
        {
            AdmitClaimUpdate(current, desired);
        }
        else if (type == Resources.DataVolumes && !JsonNode.DeepEquals(current["spec"], desired["spec"]))
        {
            // CDI's datavolume-validate webhook: a DataVolume spec is frozen once created (grow the PVC instead).
            throw new ApiException(422, "",
                "admission webhook \"datavolume-validate.cdi.kubevirt.io\" denied the request:  Cannot update DataVolume Spec",
                new JsonObject
                {
                    ["causes"] = new JsonArray(new JsonObject { ["reason"] = "FieldValueDuplicate", ["message"] = "Cannot update DataVolume Spec", ["field"] = "DataVolume.Spec" }),
                });
        }
    }

    static readonly string[] AccessModes = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];

    // The API server's PVC create validation: at least one known access mode and a storage request.
    static void AdmitClaim(JsonObject pvc)
    {
        var causes = new List<(string Field, string Reason, string Detail)>();
        var modes = pvc.At("spec", "accessModes") as JsonArray;
        if (modes is null || modes.Count == 0)
        {
            causes.Add(("spec.accessModes", "FieldValueRequired", "Required value: at least 1 access mode is required"));
        }
        foreach (var mode in modes?.Select(m => m?.ToString() ?? "").Where(m => !AccessModes.Contains(m)) ?? [])
        {
            causes.Add(("spec.accessModes", "FieldValueNotSupported",
                $"Unsupported value: \"{mode}\": supported values: {string.Join(", ", AccessModes.Select(m => $"\"{m}\""))}"));
        }
        if (pvc.At("spec", "resources", "requests", "storage") is null)
        {
            causes.Add(("spec.resources[storage]", "FieldValueRequired", "Required value"));
        }
        if (causes.Count > 0)
        {
            throw Errors.Invalid("PersistentVolumeClaim", pvc.Name(), causes);
        }
    }

    // The API server's PVC update validation (k8s 1.31, RecoverVolumeExpansionFailure off): only a bound claim's
    // resources.requests (and volumeAttributesClassName) may change, and the storage request may only grow.
    static void AdmitClaimUpdate(JsonObject current, JsonObject desired)
    {
        var bound = current.Str("status", "phase") == "Bound";
        var oldSpec = current.Object("spec")?.Clone() ?? [];
        var newSpec = desired.Object("spec")?.Clone() ?? [];
        if (bound)
        {
            foreach (var spec in new[] { oldSpec, newSpec })
            {
                spec.Child("resources").Remove("requests");
                spec.Remove("volumeAttributesClassName");
            }
        }
        if (!JsonNode.DeepEquals(oldSpec, newSpec))
        {
            throw Errors.Invalid("PersistentVolumeClaim", current.Name(), "spec", "FieldValueForbidden",
                "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims");
        }
        var before = Controllers.Quantity.Parse(current.At("spec", "resources", "requests", "storage"));
        var after = Controllers.Quantity.Parse(desired.At("spec", "resources", "requests", "storage"));
        if (bound && after < before)
        {
            throw Errors.Invalid("PersistentVolumeClaim", current.Name(), "spec.resources.requests.storage", "FieldValueForbidden",
                "Forbidden: field can not be less than previous value");
        }
    }

    // KubeVirt's volume validation (vmi-create-admitter.go validateVolumes): inline cloud-init user data, plain or
    // base64, may be at most 2048 bytes (cloudInitUserMaxLen); larger data must come from a Secret (secretRef).
    const int CloudInitUserMaxLen = 2048;

    static void CloudInitLimits(JsonNode? volumes, string field, string webhook)
    {
        var index = 0;
        foreach (var volume in volumes as JsonArray ?? [])
        {
            foreach (var source in new[] { "cloudInitNoCloud", "cloudInitConfigDrive" })
            {
                if (volume?[source] is not JsonObject cloudInit)
                {
                    continue;
                }
                var length = cloudInit.Str("userData") is { Length: > 0 } inline ? System.Text.Encoding.UTF8.GetByteCount(inline) : 0;
                if (cloudInit.Str("userDataBase64") is { Length: > 0 } encoded)
                {
                    try
                    {
                        length = Convert.FromBase64String(encoded).Length;
                    }
                    catch (FormatException)
                    {
                        throw new ApiException(422, "Invalid",
                            $"admission webhook \"{webhook}\" denied the request: {field}[{index}].{source}.userDataBase64 is not a valid base64 value.");
                    }
                }
                if (length > CloudInitUserMaxLen)
                {
                    throw new ApiException(422, "Invalid",
                        $"admission webhook \"{webhook}\" denied the request: {field}[{index}].{source} userdata exceeds {CloudInitUserMaxLen} byte limit. Should use UserDataSecretRef for larger data.");
                }
            }
            index++;
        }
    }

    // KubeVirt's defaults for the LiveUpdate rollout strategy (pkg/defaults): a VMI gets cpu.maxSockets of
    // sockets × maxHotplugRatio (4, at most 512 vCPUs) and memory.maxGuest of guest × 4 when guest is at least 1Gi.
    static void HotplugDefaults(JsonObject vmi)
    {
        const int ratio = 4;
        if (vmi.At("spec", "domain", "cpu") is JsonObject cpu && cpu["maxSockets"] is null)
        {
            var sockets = cpu.Long("sockets") ?? 1;
            var perSocket = Math.Max(1, (cpu.Long("cores") ?? 1) * (cpu.Long("threads") ?? 1));
            cpu["maxSockets"] = Math.Max(sockets, Math.Min(sockets * ratio, 512 / perSocket));
        }
        if (vmi.At("spec", "domain", "memory") is JsonObject memory && memory["guest"] is not null && memory["maxGuest"] is null)
        {
            var guest = Controllers.Quantity.Parse(memory["guest"]);
            if (guest >= 1024m * 1024 * 1024)
            {
                memory["maxGuest"] = Controllers.Quantity.Binary(guest * ratio);
            }
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
