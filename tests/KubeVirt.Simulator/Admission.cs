using System.Text.Json.Nodes;

namespace KubeVirt.Simulator;

internal static class Finalizers
{
    public const string VmController = "kubevirt.io/virtualMachineControllerFinalize";
    public const string VmiForeground = "kubevirt.io/foregroundDeleteVirtualMachine";
    public const string Orphan = "orphan";
}

// KubeVirt's and CDI's admission webhooks. The validating rules the schema cannot express are
// ValidatingAdmissionPolicies (CEL) installed on the API server, so every client meets them; the mutating webhook's
// defaults are applied by the VM controller to the VMIs it creates.
internal static class Admission
{
    // KubeVirt's defaults for the LiveUpdate rollout strategy (pkg/defaults): a VMI gets cpu.maxSockets of
    // sockets × maxHotplugRatio (4, at most 512 vCPUs) and memory.maxGuest of guest × 4 when guest is at least 1Gi;
    // and virt-api's mutator adds the foreground-delete finalizer, which the VMI controller drops once it is final.
    public static void MutateNewInstance(JsonObject vmi)
    {
        const int ratio = 4;
        vmi.SetFinalizers(vmi.Finalizers().Append(Finalizers.VmiForeground));
        vmi.Remove("status");
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
                memory["maxGuest"] = Controllers.Quantity.Binary(guest * ratio);
        }
    }

    // The rules below are KubeVirt's (pkg/virt-api/webhooks/validating-webhook/admitters: vms-admitter.go,
    // vmi-create-admitter.go) and CDI's (datavolume-validate), each a CEL expression and KubeVirt's message as a CEL
    // string. One volume's cloud-init fits (cloudInitUserMaxLen, 2048 bytes): inline data measured in bytes, base64
    // data by its decoded size.
    static string Fits(string source) =>
        $"(!has(v.{source}) || ((!has(v.{source}.userData) || size(bytes(v.{source}.userData)) <= 2048)"
        + $" && (!has(v.{source}.userDataBase64) || {Decoded($"v.{source}.userDataBase64")} <= 2048)))";

    // The length base64 text decodes to.
    static string Decoded(string text) => $"(size({text}) / 4 * 3 - ({text}.endsWith('==') ? 2 : {text}.endsWith('=') ? 1 : 0))";

    static (string Expression, string Message) CloudInitRule(string volumes, string field)
    {
        var fits = $"{Fits("cloudInitNoCloud")} && {Fits("cloudInitConfigDrive")}";
        var first = $"{volumes}.filter(v, !({fits}))[0]";
        return ($"!has({volumes}) || {volumes}.all(v, {fits})",
            $"'{field}[' + string({volumes}.indexOf({first})) + '].' + (has({first}.cloudInitNoCloud) ? 'cloudInitNoCloud' : 'cloudInitConfigDrive')"
            + " + ' userdata exceeds 2048 byte limit. Should use UserDataSecretRef for larger data.'");
    }

    // vmi-create-admitter's validateDisks: every disk names a volume.
    static (string Expression, string Message) DisksRule(string spec, string field)
    {
        var missing = $"!(has({spec}.volumes) && {spec}.volumes.exists(v, v.name == d.name))";
        var first = $"{spec}.domain.devices.disks.filter(d, {missing})[0]";
        return ($"!has({spec}.domain.devices.disks) || {spec}.domain.devices.disks.all(d, !({missing}))",
            $"'{field}.domain.devices.disks[' + string({spec}.domain.devices.disks.indexOf({first})) + \"].Name '\" + {first}.name + \"' not found.\"");
    }

    // vmi-create-admitter's ValidateVirtualMachineInstanceMandatoryFields, run on a VMI after the mutator's defaults:
    // setGuestMemory takes guest from requests, else limits, else the hugepage size, so any of them will do here.
    static readonly (string Expression, string Message) MemoryRequiredRule = (
        "has(object.spec.domain.memory) && (has(object.spec.domain.memory.guest) || has(object.spec.domain.memory.hugepages))"
        + " || has(object.spec.domain.resources) && (has(object.spec.domain.resources.requests) && has(object.spec.domain.resources.requests.memory)"
        + " || has(object.spec.domain.resources.limits) && has(object.spec.domain.resources.limits.memory))",
        "\"no memory requested, at least one of 'spec.domain.memory.guest', 'spec.domain.memory.hugepages.pageSize' or 'spec.domain.resources.requests.memory' must be set\"");

    // vms-admitter's validateLiveUpdateFeatures (the LiveUpdate rollout strategy): a template with memory.maxGuest must
    // pass pkg/liveupdate/memory's ValidateLiveUpdateMemory, whose first failing check is the message. Hugepages of 1Gi
    // align to 1Gi, anything else to 2Mi; an unset architecture is the mutator's default, amd64.
    static (string Expression, string Message) LiveUpdateMemoryRule()
    {
        const string spec = "object.spec.template.spec", domain = spec + ".domain", memory = domain + ".memory";
        var giB = $"has({memory}.hugepages) && {memory}.hugepages.pageSize == '1Gi'";
        string Aligned(string quantity) =>
            $"(quantity(string({quantity})).isInteger() && quantity(string({quantity})).asInteger() % ({giB} ? 1073741824 : 2097152) == 0)";
        var alignment = $"({giB} ? '1Gi' : '2Mi')";
        var error = $"!has({domain}.memory) || !has({memory}.maxGuest) ? ''"
            + $" : has({domain}.cpu) && has({domain}.cpu.realtime) ? 'Memory hotplug is not compatible with realtime VMs'"
            + $" : has({domain}.cpu) && has({domain}.cpu.numa) && has({domain}.cpu.numa.guestMappingPassthrough) ? 'Memory hotplug is not compatible with guest mapping passthrough'"
            + $" : has({domain}.launchSecurity) ? 'Memory hotplug is not compatible with encrypted VMs'"
            + $" : !has({memory}.guest) ? 'Guest memory must be configured when memory hotplug is enabled'"
            + $" : quantity(string({memory}.guest)).isGreaterThan(quantity(string({memory}.maxGuest))) ? 'Guest memory is greater than the configured maxGuest memory'"
            + $" : !{Aligned($"{memory}.guest")} ? 'Guest memory must be ' + {alignment} + ' aligned'"
            + $" : !{Aligned($"{memory}.maxGuest")} ? 'MaxGuest must be ' + {alignment} + ' aligned'"
            + $" : has({spec}.architecture) && {spec}.architecture != 'amd64' ? 'Memory hotplug is only available for x86_64 VMs'"
            + $" : quantity(string({memory}.guest)).isLessThan(quantity('1Gi')) ? 'Memory hotplug is only available for VMs with at least 1Gi of guest memory'"
            + " : ''";
        return ($"({error}) == ''", error);
    }

    // (policy name: the webhook's, group, resource, operations, rules)
    static readonly (string Name, string Group, string Resource, string[] Operations, (string Expression, string Message)[] Rules)[] Policies =
    [
        ("virtualmachine-validator.kubevirt.io", "kubevirt.io", "virtualmachines", ["CREATE", "UPDATE"],
        [
            ("!(has(object.spec.running) && has(object.spec.runStrategy))",
                "'Running and RunStrategy are mutually exclusive. Note that Running is deprecated, please use RunStrategy instead'"),
            ("!has(object.spec.runStrategy) || object.spec.runStrategy in ['Always', 'Halted', 'Manual', 'RerunOnFailure', 'Once', 'WaitAsReceiver']",
                "'Invalid RunStrategy (' + object.spec.runStrategy + ')'"),
            CloudInitRule("object.spec.template.spec.volumes", "spec.template.spec.volumes"),
            DisksRule("object.spec.template.spec", "spec.template.spec"),
            LiveUpdateMemoryRule(),
        ]),
        ("virtualmachineinstances-create-validator.kubevirt.io", "kubevirt.io", "virtualmachineinstances", ["CREATE"],
        [
            CloudInitRule("object.spec.volumes", "spec.volumes"),
            DisksRule("object.spec", "spec"),
            MemoryRequiredRule,
        ]),
        ("datavolume-validate.cdi.kubevirt.io", "cdi.kubevirt.io", "datavolumes", ["UPDATE"],
        [
            ("object.spec == oldObject.spec", "'Cannot update DataVolume Spec'"),
        ]),
    ];

    // The policies and their Deny bindings, as the objects the API server takes.
    public static IEnumerable<(string Path, JsonObject Object)> PolicyObjects()
    {
        foreach (var (name, group, resource, operations, rules) in Policies)
        {
            yield return ("apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies", new JsonObject
            {
                ["apiVersion"] = "admissionregistration.k8s.io/v1",
                ["kind"] = "ValidatingAdmissionPolicy",
                ["metadata"] = new JsonObject { ["name"] = name },
                ["spec"] = new JsonObject
                {
                    ["failurePolicy"] = "Fail",
                    ["matchConstraints"] = new JsonObject
                    {
                        ["resourceRules"] = new JsonArray(new JsonObject
                        {
                            ["apiGroups"] = new JsonArray(group),
                            ["apiVersions"] = new JsonArray("*"),
                            ["resources"] = new JsonArray(resource),
                            ["operations"] = Json.Array(operations.Select(o => (JsonNode)o)),
                        }),
                    },
                    ["validations"] = Json.Array(rules.Select(r => (JsonNode)new JsonObject
                    {
                        ["expression"] = r.Expression,
                        ["messageExpression"] = r.Message,
                        ["reason"] = "Invalid",
                    })),
                },
            });
            yield return ("apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings", new JsonObject
            {
                ["apiVersion"] = "admissionregistration.k8s.io/v1",
                ["kind"] = "ValidatingAdmissionPolicyBinding",
                ["metadata"] = new JsonObject { ["name"] = name },
                ["spec"] = new JsonObject { ["policyName"] = name, ["validationActions"] = new JsonArray("Deny") },
            });
        }
    }
}
