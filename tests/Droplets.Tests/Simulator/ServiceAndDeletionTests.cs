using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Droplets.Tests.Simulator;

public sealed class ServiceAndDeletionTests
{
    static V1Service LoadBalancer(string name, string ns) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, Labels = new Dictionary<string, string> { ["droplets.dev/droplet-id"] = name } },
        Spec = new V1ServiceSpec
        {
            Type = "LoadBalancer",
            Selector = new Dictionary<string, string> { ["vm.kubevirt.io/name"] = name },
            Ports = [new V1ServicePort { Name = "ssh", Port = 22, TargetPort = 22, Protocol = "TCP" }],
        },
    };

    [Fact]
    public async Task LoadBalancer_services_get_unique_ips_from_the_pool_that_are_released_on_delete()
    {
        await using var world = await SimulatorWorld.StartAsync(o => o.LoadBalancerPool = "198.51.100.0/30");
        await world.CreateNamespaceAsync("ns");
        var created = await world.Client.CoreV1.CreateNamespacedServiceAsync(LoadBalancer("one", "ns"), "ns");
        Assert.StartsWith("10.96.", created.Spec.ClusterIP, StringComparison.Ordinal);
        Assert.InRange(created.Spec.Ports[0].NodePort ?? 0, 30000, 32767);

        async Task<string> IpOf(string name) => (await SimulatorWorld.Eventually(
            () => world.Client.CoreV1.ReadNamespacedServiceAsync(name, "ns"),
            s => s.Status?.LoadBalancer?.Ingress?.Count > 0, $"ingress for {name}")).Status.LoadBalancer.Ingress[0].Ip;

        var first = await IpOf("one");
        await world.Client.CoreV1.CreateNamespacedServiceAsync(LoadBalancer("two", "ns"), "ns");
        var second = await IpOf("two");
        Assert.Equal(["198.51.100.1", "198.51.100.2"], new[] { first, second }.Order().ToArray());

        // The /30 pool is now empty: a third service waits and is told why.
        await world.Client.CoreV1.CreateNamespacedServiceAsync(LoadBalancer("three", "ns"), "ns");
        await SimulatorWorld.Eventually(() => world.Client.CoreV1.ListNamespacedEventAsync("ns", fieldSelector: "involvedObject.name=three,reason=AllocationFailed"),
            e => e.Items.Count == 1, "AllocationFailed event");

        await world.Client.CoreV1.DeleteNamespacedServiceAsync("one", "ns");
        Assert.Equal(first, await IpOf("three"));
    }

    [Fact]
    public async Task Deleting_a_vm_stops_it_and_collects_its_vmi_pod_and_datavolume()
    {
        await using var world = await SimulatorWorld.StartAsync(o => o.StopDelay = TimeSpan.FromMilliseconds(300));
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns"));
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");

        var deleted = SimulatorWorld.ToNode(await world.Client.CustomObjects.DeleteNamespacedCustomObjectAsync(SimulatorWorld.KubeVirt, "v1", "ns", "virtualmachines", "vm"));
        Assert.NotNull(deleted["metadata"]!["deletionTimestamp"]);
        await world.WaitForPrintableStatusAsync("ns", "vm", "Terminating");

        await SimulatorWorld.Eventually(() => world.ExistsAsync(SimulatorWorld.KubeVirt, "v1", "virtualmachines", "ns", "vm"), exists => !exists, "VM gone");
        await SimulatorWorld.Eventually(() => world.ExistsAsync(SimulatorWorld.Cdi, "v1beta1", "datavolumes", "ns", "vm-root"), exists => !exists, "DataVolume collected");
        Assert.False(await world.ExistsAsync(SimulatorWorld.KubeVirt, "v1", "virtualmachineinstances", "ns", "vm"));
        Assert.Empty((await world.Client.CoreV1.ListNamespacedPodAsync("ns")).Items);
        await SimulatorWorld.Eventually(async () => (await world.Client.CoreV1.ListNamespacedPersistentVolumeClaimAsync("ns")).Items.Count, n => n == 0, "PVC collected");

        var events = await world.Client.CoreV1.ListNamespacedEventAsync("ns", fieldSelector: "involvedObject.kind=VirtualMachineInstance");
        Assert.Contains(events.Items, e => e.Reason == "ShuttingDown" && e.Message == "Signaled Graceful Shutdown");
        Assert.Contains(events.Items, e => e.Reason == "Stopped" && e.Message == "The VirtualMachineInstance was shut down.");
        Assert.Contains(events.Items, e => e.Reason == "SuccessfulDelete" && e.Message!.StartsWith("Deleted virtual machine pod virt-launcher-vm-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Orphan_delete_keeps_the_vmi_running()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns"));
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");

        await world.Client.CustomObjects.DeleteNamespacedCustomObjectAsync(SimulatorWorld.KubeVirt, "v1", "ns", "virtualmachines", "vm",
            new V1DeleteOptions { PropagationPolicy = "Orphan" });
        await SimulatorWorld.Eventually(() => world.ExistsAsync(SimulatorWorld.KubeVirt, "v1", "virtualmachines", "ns", "vm"), exists => !exists, "VM gone");

        var vmi = await world.GetVmiAsync("ns", "vm");
        Assert.Equal("Running", vmi["status"]!["phase"]!.GetValue<string>());
        Assert.Null(vmi["metadata"]!["ownerReferences"]);
        Assert.True(await world.ExistsAsync(SimulatorWorld.Cdi, "v1beta1", "datavolumes", "ns", "vm-root"));
    }

    [Fact]
    public async Task Deleting_a_namespace_removes_everything_in_it()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns"));
        await world.Client.CoreV1.CreateNamespacedServiceAsync(LoadBalancer("vm", "ns"), "ns");
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");

        await world.Client.CoreV1.DeleteNamespaceAsync("ns");
        // Terminating while kube-controller-manager's namespace controller (played by the simulator) empties it.
        await SimulatorWorld.Eventually(() => Task.FromResult(world.Simulator.Get("namespaces", "", "ns") is null), gone => gone, "the namespace to go");
        var (code, status) = await SimulatorWorld.FailureOf(() => world.Client.CoreV1.ReadNamespaceAsync("ns"));
        Assert.Equal(HttpStatusCode.NotFound, code);
        Assert.Equal("namespaces \"ns\" not found", status["message"]!.GetValue<string>());
        Assert.Empty(world.Simulator.List("virtualmachines", "ns"));
        Assert.Empty(world.Simulator.List("services", "ns"));
        Assert.Empty(world.Simulator.List("pods", "ns"));
    }
}
