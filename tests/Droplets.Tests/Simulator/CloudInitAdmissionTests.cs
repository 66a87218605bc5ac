using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Droplets.Tests.Simulator;

// KubeVirt's volume validation: inline cloud-init user data is limited to 2048 bytes; more must come from a Secret.
public sealed class CloudInitAdmissionTests
{
    static JsonObject WithUserData(JsonObject vm, JsonObject cloudInit)
    {
        var volumes = vm["spec"]!["template"]!["spec"]!["volumes"]!.AsArray();
        volumes.Single(v => v!["name"]!.GetValue<string>() == "cloudinitdisk")!["cloudInitNoCloud"] = cloudInit;
        return vm;
    }

    [Fact]
    public async Task Inline_user_data_over_2048_bytes_is_refused_like_kubevirts_webhook()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        var limit = "#cloud-config\n" + new string('#', 2048 - 14);

        await world.CreateVmAsync(WithUserData(SimulatorWorld.Vm("fits", "ns"), new JsonObject { ["userData"] = limit }));
        var (code, status) = await SimulatorWorld.FailureOf(() => world.CreateVmAsync(WithUserData(SimulatorWorld.Vm("over", "ns"), new JsonObject { ["userData"] = limit + "é" })));
        var (code64, status64) = await SimulatorWorld.FailureOf(() => world.CreateVmAsync(
            WithUserData(SimulatorWorld.Vm("over64", "ns"), new JsonObject { ["userDataBase64"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(limit + "x")) })));

        Assert.Equal((HttpStatusCode)422, code);
        Assert.Contains("spec.template.spec.volumes[1].cloudInitNoCloud userdata exceeds 2048 byte limit. Should use UserDataSecretRef for larger data.",
            status["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal((HttpStatusCode)422, code64);
        Assert.Contains("userdata exceeds 2048 byte limit", status64["message"]!.GetValue<string>());
        Assert.False(await world.ExistsAsync(SimulatorWorld.KubeVirt, "v1", "virtualmachines", "ns", "over"));
    }

    [Fact]
    public async Task A_secret_owned_by_a_vm_is_collected_with_it()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        var vm = await world.CreateVmAsync(WithUserData(SimulatorWorld.Vm("vm", "ns"), new JsonObject { ["secretRef"] = new JsonObject { ["name"] = "vm-cloudinit" } }));
        var secret = new V1Secret
        {
            Metadata = new V1ObjectMeta
            {
                Name = "vm-cloudinit",
                NamespaceProperty = "ns",
                OwnerReferences = [new V1OwnerReference { ApiVersion = "kubevirt.io/v1", Kind = "VirtualMachine", Name = "vm", Uid = vm["metadata"]!["uid"]!.GetValue<string>() }],
            },
            Data = new Dictionary<string, byte[]> { ["userdata"] = Encoding.UTF8.GetBytes("#cloud-config\n" + new string('#', 4096)) },
        };

        await world.Client.CoreV1.CreateNamespacedSecretAsync(secret, "ns");
        var (code, _) = await SimulatorWorld.FailureOf(() => world.Client.CoreV1.CreateNamespacedSecretAsync(secret, "ns"));
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        Assert.Equal(HttpStatusCode.Conflict, code);
        Assert.Equal(4096 + 14, (await world.Client.CoreV1.ReadNamespacedSecretAsync("vm-cloudinit", "ns")).Data["userdata"].Length);

        await world.Client.CustomObjects.DeleteNamespacedCustomObjectAsync(SimulatorWorld.KubeVirt, "v1", "ns", "virtualmachines", "vm");
        await SimulatorWorld.Eventually(async () => (await world.Client.CoreV1.ListNamespacedSecretAsync("ns")).Items.Count, n => n == 0, "the Secret to be collected");
    }
}
