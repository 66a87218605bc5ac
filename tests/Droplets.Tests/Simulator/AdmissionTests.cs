using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Droplets.Tests.Simulator;

// The test cluster is a real kube-apiserver: the schema (KubeVirt's CRDs) refuses what it describes, and KubeVirt's
// and CDI's admission webhooks, played as ValidatingAdmissionPolicies, refuse what only they check, for every client
// and with KubeVirt's messages (after the API server's policy prefix instead of the webhook's).
public sealed class AdmissionTests
{
    [Theory]
    [InlineData("running", "Running and RunStrategy are mutually exclusive. Note that Running is deprecated, please use RunStrategy instead")]
    [InlineData("strategy", "Invalid RunStrategy (Sometimes)")]
    [InlineData("disk", "spec.template.spec.domain.devices.disks[1].Name 'cloudinitdisk' not found.")]
    [InlineData("schema", "spec.template.spec.domain.memory.guest: Invalid value: \"lots\"")]
    // vms-admitter.go's validateLiveUpdateFeatures (memory.maxGuest is set); its other rules are below.
    [InlineData("over-max", "Guest memory is greater than the configured maxGuest memory")]
    public async Task A_virtual_machine_kubevirt_refuses_is_refused_and_not_created(string breaking, string message)
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        var vm = SimulatorWorld.Vm("vm", "ns");
        var spec = vm["spec"]!.AsObject();
        var memory = spec["template"]!["spec"]!["domain"]!["memory"]!.AsObject();
        switch (breaking)
        {
            case "running":
                spec["running"] = true;
                break;
            case "strategy":
                spec["runStrategy"] = "Sometimes";
                break;
            case "disk":
                var volumes = spec["template"]!["spec"]!["volumes"]!.AsArray();
                volumes.Remove(volumes.Single(v => v!["name"]!.GetValue<string>() == "cloudinitdisk"));
                break;
            case "schema":
                memory["guest"] = "lots";
                break;
            case "over-max":
                memory["guest"] = "9Gi";
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(breaking), breaking, null);
        }

        var (code, status) = await SimulatorWorld.FailureOf(() => world.CreateVmAsync(vm));

        Assert.Equal((HttpStatusCode)422, code);
        Assert.Equal("Invalid", status["reason"]!.GetValue<string>());
        Assert.Contains(message, status["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.False(await world.ExistsAsync(SimulatorWorld.KubeVirt, "v1", "virtualmachines", "ns", "vm"));
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns"));
    }

    // With memory.maxGuest set, vms-admitter.go's validateLiveUpdateFeatures runs ValidateLiveUpdateMemory
    // (pkg/liveupdate/memory/memory.go) on creates and updates; its first failing check is the message. So a resize
    // beyond maxGuest is refused before the VM controller sees it.
    [Theory]
    [InlineData("""{"domain":{"memory":{"guest":null},"resources":{"requests":{"memory":"2Gi"}}}}""", "Guest memory must be configured when memory hotplug is enabled")]
    [InlineData("""{"domain":{"memory":{"guest":"16Gi"}}}""", "Guest memory is greater than the configured maxGuest memory")]
    [InlineData("""{"domain":{"memory":{"guest":"2049Mi"}}}""", "Guest memory must be 2Mi aligned")]
    [InlineData("""{"domain":{"memory":{"maxGuest":"8193Mi"}}}""", "MaxGuest must be 2Mi aligned")]
    [InlineData("""{"domain":{"memory":{"guest":"2050Mi","hugepages":{"pageSize":"1Gi"}}}}""", "Guest memory must be 1Gi aligned")]
    [InlineData("""{"architecture":"arm64"}""", "Memory hotplug is only available for x86_64 VMs")]
    [InlineData("""{"domain":{"memory":{"guest":"512Mi"}}}""", "Memory hotplug is only available for VMs with at least 1Gi of guest memory")]
    [InlineData("""{"domain":{"cpu":{"realtime":{}},"memory":{"guest":"16Gi"}}}""", "Memory hotplug is not compatible with realtime VMs")]
    public async Task A_template_breaking_the_live_update_memory_rules_is_refused(string template, string message)
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns", runStrategy: "Halted"));

        var (code, status) = await SimulatorWorld.FailureOf(() => world.PatchVmAsync("ns", "vm",
            """{"spec":{"template":{"spec":""" + template + "}}}", V1Patch.PatchType.MergePatch));

        Assert.Equal((HttpStatusCode)422, code);
        Assert.Contains(message, status["message"]!.GetValue<string>(), StringComparison.Ordinal);
        var memory = (await world.GetVmAsync("ns", "vm"))["spec"]!["template"]!["spec"]!["domain"]!["memory"]!;
        Assert.Equal(("2Gi", "8Gi"), (memory["guest"]!.GetValue<string>(), memory["maxGuest"]!.GetValue<string>()));
        // The rules hold only with maxGuest set: without it KubeVirt's defaults decide whether memory hotplugs.
        await world.PatchVmAsync("ns", "vm", """{"spec":{"template":{"spec":{"domain":{"memory":{"guest":"16Gi","maxGuest":"16Gi"}}}}}}""", V1Patch.PatchType.MergePatch);
        await world.PatchVmAsync("ns", "vm", """{"spec":{"template":{"spec":{"domain":{"memory":{"guest":"513Mi","maxGuest":null}}}}}}""", V1Patch.PatchType.MergePatch);
    }

    // vmi-create-admitter.go's ValidateVirtualMachineInstanceMandatoryFields, on VMIs only (a VM's template is not
    // checked; its VMI create would fail). The mutator's setGuestMemory fills guest from requests, limits or hugepages.
    [Fact]
    public async Task A_vmi_without_memory_is_refused()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        static JsonObject Vmi(string name, string domain) => JsonNode.Parse("""
            {"apiVersion":"kubevirt.io/v1","kind":"VirtualMachineInstance","metadata":{"name":"NAME","namespace":"ns"},
             "spec":{"domain":{DOMAIN"devices":{"disks":[{"name":"root","disk":{"bus":"virtio"}}]}},
              "volumes":[{"name":"root","containerDisk":{"image":"quay.io/containerdisks/ubuntu:22.04"}}]}}
            """.Replace("NAME", name, StringComparison.Ordinal).Replace("DOMAIN", domain, StringComparison.Ordinal))!.AsObject();
        Task Create(JsonObject vmi) => world.Client.CustomObjects.CreateNamespacedCustomObjectAsync(vmi, SimulatorWorld.KubeVirt, "v1", "ns", "virtualmachineinstances");

        var (code, status) = await SimulatorWorld.FailureOf(() => Create(Vmi("none", "\"cpu\":{\"sockets\":1},")));

        Assert.Equal((HttpStatusCode)422, code);
        Assert.Contains("no memory requested, at least one of 'spec.domain.memory.guest', 'spec.domain.memory.hugepages.pageSize' or 'spec.domain.resources.requests.memory' must be set",
            status["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.False(await world.ExistsAsync(SimulatorWorld.KubeVirt, "v1", "virtualmachineinstances", "ns", "none"));
        await Create(Vmi("guest", "\"memory\":{\"guest\":\"1Gi\"},"));
        await Create(Vmi("requests", "\"resources\":{\"requests\":{\"memory\":\"1Gi\"}},"));
        await Create(Vmi("limits", "\"resources\":{\"limits\":{\"memory\":\"1Gi\"}},"));
    }

    // CDI's datavolume-validate webhook: a DataVolume's spec is frozen (grow its claim instead).
    [Fact]
    public async Task A_datavolume_spec_cannot_change()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        var dv = new JsonObject
        {
            ["apiVersion"] = "cdi.kubevirt.io/v1beta1",
            ["kind"] = "DataVolume",
            ["metadata"] = new JsonObject { ["name"] = "data", ["namespace"] = "ns" },
            ["spec"] = JsonNode.Parse("""{"source":{"blank":{}},"storage":{"resources":{"requests":{"storage":"1Gi"}}}}"""),
        };
        await world.Client.CustomObjects.CreateNamespacedCustomObjectAsync(dv, SimulatorWorld.Cdi, "v1beta1", "ns", "datavolumes");

        var (code, status) = await SimulatorWorld.FailureOf(() => world.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"spec":{"storage":{"resources":{"requests":{"storage":"2Gi"}}}}}""", V1Patch.PatchType.MergePatch),
            SimulatorWorld.Cdi, "v1beta1", "ns", "datavolumes", "data"));
        Assert.Equal((HttpStatusCode)422, code);
        Assert.Contains("Cannot update DataVolume Spec", status["message"]!.GetValue<string>(), StringComparison.Ordinal);

        await world.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"metadata":{"labels":{"tier":"db"}}}""", V1Patch.PatchType.MergePatch), SimulatorWorld.Cdi, "v1beta1", "ns", "datavolumes", "data");
    }
}
