using System.Text.Json.Nodes;
using k8s;

namespace Droplets.Tests.Simulator;

public sealed class FailureStateTests
{
    // A VM whose root disk import cannot pull its image (CDI keeps retrying), shown as DataVolumeError.
    static async Task<SimulatorWorld> FailingImportAsync()
    {
        var world = await SimulatorWorld.StartAsync(o => o.FailingImages.Add("quay.io/containerdisks/ubuntu:22.04"));
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("bad", "ns"));
        return world;
    }

    [Fact]
    public async Task Failing_registry_image_gives_DataVolumeError_and_recovers_when_it_pulls_again()
    {
        await using var world = await FailingImportAsync();
        var vm = await world.WaitForPrintableStatusAsync("ns", "bad", "DataVolumeError");
        Assert.False(vm["status"]!["created"]!.GetValue<bool>());
        var dv = await world.GetAsync(SimulatorWorld.Cdi, "v1beta1", "datavolumes", "ns", "bad-root");
        var running = dv["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Running")!;
        Assert.Equal("False", running["status"]!.GetValue<string>());
        Assert.Equal("ImagePullFailed", running["reason"]!.GetValue<string>());
        Assert.StartsWith("Unable to pull image", running["message"]!.GetValue<string>(), StringComparison.Ordinal);

        // CDI keeps retrying a pull (the DataVolume is not Failed), so virt-controller does not warn of a failed import.
        Assert.Equal("ImportInProgress", dv["status"]!["phase"]!.GetValue<string>());
        Assert.Empty((await FailedImportEvents(world, "bad")).Items);

        world.Simulator.Options.FailingImages.Clear();
        await world.WaitForPrintableStatusAsync("ns", "bad", "Running");
    }

    static Task<k8s.Models.Corev1EventList> FailedImportEvents(SimulatorWorld world, string vm) =>
        world.Client.CoreV1.ListNamespacedEventAsync("ns", fieldSelector: $"involvedObject.kind=VirtualMachine,involvedObject.name={vm},reason=FailedDataVolumeImport");

    // pkg/virt-controller/watch/vm/vm.go handleDataVolumes: FailedDataVolumeImport for a DataVolume in phase Failed
    // (CDI's import-controller.go sets it for a fatal import error, e.g. a checksum mismatch).
    [Fact]
    public async Task A_failed_datavolume_gives_FailedDataVolumeImport()
    {
        await using var world = await FailingImportAsync();
        await world.WaitForPrintableStatusAsync("ns", "bad", "DataVolumeError");

        await world.Client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(new k8s.Models.V1Patch("""{"status":{"phase":"Failed"}}""", k8s.Models.V1Patch.PatchType.MergePatch),
            SimulatorWorld.Cdi, "v1beta1", "ns", "datavolumes", "bad-root");
        var events = await SimulatorWorld.Eventually(() => FailedImportEvents(world, "bad"), list => list.Items.Count == 1, "FailedDataVolumeImport event");
        Assert.Equal("DataVolume bad-root failed to import disk image", events.Items[0].Message);
        Assert.Equal("Warning", events.Items[0].Type);
        Assert.Equal("virtualmachine-controller", events.Items[0].Source.Component);
        var vm = await world.GetVmAsync("ns", "bad");
        Assert.Equal("DataVolumeError", SimulatorWorld.PrintableStatus(vm));
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

    // Kubelet's image pull back-off (pkg/kubelet/images/image_manager.go EnsureImageExists; pkg/kubelet/kubelet.go
    // imageBackOffPeriod and MaxImageBackOff) as mirrored by pkg/virt-controller/watch/vmi/lifecycle.go
    // checkForContainerImageError into the VMI's Synchronized condition, and vm.go's ErrImagePull/ImagePullBackOff statuses.
    [Fact]
    public async Task Failing_container_disk_alternates_ErrImagePull_and_ImagePullBackOff_on_a_doubling_back_off()
    {
        var initial = TimeSpan.FromMilliseconds(400);
        await using var world = await SimulatorWorld.StartAsync(o => o.ImagePullBackoff = initial);
        const string image = "quay.io/containerdisks/fedora:latest";
        world.Simulator.Options.FailingImages.Add(image);
        await world.CreateNamespaceAsync("ns");
        var since = DateTime.UtcNow;
        await world.CreateVmAsync(SimulatorWorld.ContainerDiskVm("cd", "ns", image));

        await world.WaitForPrintableStatusAsync("ns", "cd", "ErrImagePull");
        var vm = await world.WaitForPrintableStatusAsync("ns", "cd", "ImagePullBackOff");
        var synchronized = vm["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Synchronized")!;
        Assert.Equal("False", synchronized["status"]!.GetValue<string>());
        Assert.Equal($"Back-off pulling image \"{image}\"", synchronized["message"]!.GetValue<string>());
        // Once the back-off runs out kubelet pulls again, and backs off again.
        await world.WaitForPrintableStatusAsync("ns", "cd", "ErrImagePull");
        await world.WaitForPrintableStatusAsync("ns", "cd", "ImagePullBackOff");

        var events = (await world.Client.CoreV1.ListNamespacedEventAsync("ns", fieldSelector: "involvedObject.kind=Pod,source=kubelet")).Items;
        var pulls = events.Single(e => e.Reason == "Failed");
        Assert.Equal("Warning", pulls.Type);
        Assert.StartsWith($"Failed to pull image \"{image}\": ", pulls.Message, StringComparison.Ordinal);
        var backoffs = events.Single(e => e.Reason == "BackOff");
        Assert.Equal($"Back-off pulling image \"{image}\"", backoffs.Message);
        // Waits of initial, 2 × initial, 4 × initial, …: no more pulls than the back-off allows in the time that has passed.
        var allowed = 1 + (int)Math.Log2((DateTime.UtcNow - since) / initial + 1);
        Assert.InRange(pulls.Count ?? 1, 2, allowed);
        Assert.InRange(backoffs.Count ?? 1, 2, allowed);

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
