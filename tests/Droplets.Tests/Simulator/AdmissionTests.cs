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
    public async Task A_virtual_machine_kubevirt_refuses_is_refused_and_not_created(string breaking, string message)
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        var vm = SimulatorWorld.Vm("vm", "ns");
        var spec = vm["spec"]!.AsObject();
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
                spec["template"]!["spec"]!["domain"]!["memory"]!["guest"] = "lots";
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
