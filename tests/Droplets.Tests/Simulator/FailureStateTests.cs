using System.Text.Json.Nodes;
using k8s;

namespace Droplets.Tests.Simulator;

public sealed class FailureStateTests
{
    [Fact]
    public async Task Failing_registry_image_gives_DataVolumeError_and_recovers_when_it_pulls_again()
    {
        await using var world = await SimulatorWorld.StartAsync();
        world.Simulator.Options.FailingImages.Add("quay.io/containerdisks/ubuntu:22.04");
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("bad", "ns"));

        var vm = await world.WaitForPrintableStatusAsync("ns", "bad", "DataVolumeError");
        Assert.False(vm["status"]!["created"]!.GetValue<bool>());
        var dv = await world.GetAsync(SimulatorWorld.Cdi, "v1beta1", "datavolumes", "ns", "bad-root");
        var running = dv["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Running")!;
        Assert.Equal("False", running["status"]!.GetValue<string>());
        Assert.Equal("ImagePullFailed", running["reason"]!.GetValue<string>());
        Assert.StartsWith("Unable to pull image", running["message"]!.GetValue<string>(), StringComparison.Ordinal);

        var events = await SimulatorWorld.Eventually(
            () => world.Client.CoreV1.ListNamespacedEventAsync("ns", fieldSelector: "involvedObject.kind=VirtualMachine,involvedObject.name=bad,reason=FailedDataVolumeImport"),
            list => list.Items.Count == 1, "FailedDataVolumeImport event");
        Assert.Equal("DataVolume bad-root failed to import disk image", events.Items[0].Message);
        Assert.Equal("Warning", events.Items[0].Type);

        world.Simulator.Options.FailingImages.Clear();
        await world.WaitForPrintableStatusAsync("ns", "bad", "Running");
    }

    [Fact]
    public async Task Vm_larger_than_any_node_is_ErrorUnschedulable_until_capacity_grows()
    {
        await using var world = await SimulatorWorld.StartAsync(o => o.NodeMemoryMi = 4096);
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("big", "ns", memory: "8Gi"));

        var vm = await world.WaitForPrintableStatusAsync("ns", "big", "ErrorUnschedulable");
        var scheduled = vm["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "PodScheduled")!;
        Assert.Equal("False", scheduled["status"]!.GetValue<string>());
        Assert.Equal("Unschedulable", scheduled["reason"]!.GetValue<string>());
        Assert.Equal("0/3 nodes are available: 3 Insufficient memory.", scheduled["message"]!.GetValue<string>());
        var vmi = await world.GetVmiAsync("ns", "big");
        Assert.Equal("Scheduling", vmi["status"]!["phase"]!.GetValue<string>());

        world.Simulator.Options.NodeMemoryMi = 16384;
        vm = await world.WaitForPrintableStatusAsync("ns", "big", "Running");
        Assert.DoesNotContain(vm["status"]!["conditions"]!.AsArray(), c => c!["type"]!.GetValue<string>() == "PodScheduled");
    }

    [Fact]
    public async Task Cpu_is_counted_across_vms_and_reported_per_node()
    {
        await using var world = await SimulatorWorld.StartAsync(o =>
        {
            o.NodeCount = 2;
            o.NodeCpu = 4;
        });
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("a", "ns", sockets: 4));
        await world.CreateVmAsync(SimulatorWorld.Vm("b", "ns", sockets: 4));
        await world.WaitForPrintableStatusAsync("ns", "a", "Running");
        await world.WaitForPrintableStatusAsync("ns", "b", "Running");
        await world.CreateVmAsync(SimulatorWorld.Vm("c", "ns", sockets: 2));
        var vm = await world.WaitForPrintableStatusAsync("ns", "c", "ErrorUnschedulable");
        var message = vm["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "PodScheduled")!["message"]!.GetValue<string>();
        Assert.Equal("0/2 nodes are available: 2 Insufficient cpu.", message);

        // Stopping one VM frees its node.
        await world.PatchVmAsync("ns", "a", """{"spec":{"runStrategy":"Halted"}}""", k8s.Models.V1Patch.PatchType.MergePatch);
        await world.WaitForPrintableStatusAsync("ns", "c", "Running");
    }

    [Fact]
    public async Task Failing_container_disk_shows_ErrImagePull_then_ImagePullBackOff()
    {
        await using var world = await SimulatorWorld.StartAsync(o => o.BootDelay = TimeSpan.FromMilliseconds(300));
        const string image = "quay.io/containerdisks/fedora:latest";
        world.Simulator.Options.FailingImages.Add(image);
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.ContainerDiskVm("cd", "ns", image));

        await world.WaitForPrintableStatusAsync("ns", "cd", "ErrImagePull");
        var vm = await world.WaitForPrintableStatusAsync("ns", "cd", "ImagePullBackOff");
        var synchronized = vm["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Synchronized")!;
        Assert.Equal($"Back-off pulling image \"{image}\"", synchronized["message"]!.GetValue<string>());

        world.Simulator.Options.FailingImages.Remove(image);
        await world.WaitForPrintableStatusAsync("ns", "cd", "Running");
    }

    [Fact]
    public async Task Missing_pvc_gives_ErrorPvcNotFound()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        var vm = SimulatorWorld.ContainerDiskVm("pvc", "ns", "quay.io/containerdisks/debian:12");
        vm["spec"]!["template"]!["spec"]!["volumes"]!.AsArray().Add(JsonNode.Parse("""{"name":"data","persistentVolumeClaim":{"claimName":"nope"}}"""));
        await world.CreateVmAsync(vm);
        await world.WaitForPrintableStatusAsync("ns", "pvc", "ErrorPvcNotFound");
    }

    [Fact]
    public async Task Deleting_the_launcher_pod_crashes_the_vmi_and_Always_restarts_it()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.ContainerDiskVm("crash", "ns", "quay.io/containerdisks/fedora:latest"));
        await world.WaitForPrintableStatusAsync("ns", "crash", "Running");
        var first = (await world.GetVmiAsync("ns", "crash"))["metadata"]!["uid"]!.GetValue<string>();
        var pod = (await world.Client.CoreV1.ListNamespacedPodAsync("ns")).Items.Single();
        await world.Client.CoreV1.DeleteNamespacedPodAsync(pod.Metadata.Name, "ns");

        await SimulatorWorld.Eventually(() => world.GetVmiAsync("ns", "crash").ContinueWith(t => t.IsCompletedSuccessfully ? t.Result : null),
            vmi => vmi is not null && vmi["metadata"]!["uid"]!.GetValue<string>() != first && vmi["status"]?["phase"]?.GetValue<string>() == "Running",
            "a new running VMI");
        var crashed = await world.Client.CoreV1.ListNamespacedEventAsync("ns", fieldSelector: "reason=Stopped,type=Warning");
        Assert.Equal("The VirtualMachineInstance crashed.", Assert.Single(crashed.Items).Message);
    }
}
