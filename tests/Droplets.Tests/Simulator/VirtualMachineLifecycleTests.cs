using System.Text.Json.Nodes;
using k8s;

namespace Droplets.Tests.Simulator;

public sealed class VirtualMachineLifecycleTests
{
    [Fact]
    public async Task Vm_with_datavolume_template_reaches_Running_with_an_ip()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("proj-default");
        var created = await world.CreateVmAsync(SimulatorWorld.Vm("dpl-ab12cd34ef56", "proj-default"));
        Assert.Equal(1, created["metadata"]!["generation"]!.GetValue<long>());
        Assert.False(string.IsNullOrEmpty(created["metadata"]!["uid"]!.GetValue<string>()));

        var vm = await world.WaitForPrintableStatusAsync("proj-default", "dpl-ab12cd34ef56", "Running");
        Assert.True(vm["status"]!["ready"]!.GetValue<bool>());
        Assert.Contains("kubevirt.io/virtualMachineControllerFinalize", vm["metadata"]!["finalizers"]!.AsArray().Select(f => f!.GetValue<string>()));
        Assert.Contains(vm["status"]!["conditions"]!.AsArray(), c => c!["type"]!.GetValue<string>() == "LiveMigratable");

        var vmi = await world.GetVmiAsync("proj-default", "dpl-ab12cd34ef56");
        Assert.Equal("Running", vmi["status"]!["phase"]!.GetValue<string>());
        var nic = vmi["status"]!["interfaces"]![0]!;
        Assert.Equal("default", nic["name"]!.GetValue<string>());
        Assert.StartsWith("10.244.", nic["ipAddress"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("domain, guest-agent", nic["infoSource"]!.GetValue<string>());
        Assert.Equal("dpl-ab12cd34ef56", vmi["metadata"]!["labels"]!["droplets.dev/droplet-id"]!.GetValue<string>());
        Assert.Equal(vm["metadata"]!["uid"]!.GetValue<string>(), vmi["metadata"]!["ownerReferences"]![0]!["uid"]!.GetValue<string>());
        Assert.NotNull(vmi["status"]!["nodeName"]);

        var dv = await world.GetAsync(SimulatorWorld.Cdi, "v1beta1", "datavolumes", "proj-default", "dpl-ab12cd34ef56-root");
        Assert.Equal("Succeeded", dv["status"]!["phase"]!.GetValue<string>());
        Assert.Equal(vm["metadata"]!["uid"]!.GetValue<string>(), dv["metadata"]!["labels"]!["kubevirt.io/created-by"]!.GetValue<string>());

        var pods = await world.Client.CoreV1.ListNamespacedPodAsync("proj-default", labelSelector: "vm.kubevirt.io/name=dpl-ab12cd34ef56");
        var pod = Assert.Single(pods.Items);
        Assert.StartsWith("virt-launcher-dpl-ab12cd34ef56-", pod.Metadata.Name, StringComparison.Ordinal);
        Assert.Equal(nic["ipAddress"]!.GetValue<string>(), pod.Status.PodIP);
    }

    [Fact]
    public async Task ContainerDisk_vm_runs_without_datavolumes()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.ContainerDiskVm("cd", "ns", "quay.io/containerdisks/fedora:latest"));
        var vm = await world.WaitForPrintableStatusAsync("ns", "cd", "Running");
        Assert.True(vm["status"]!["created"]!.GetValue<bool>());
        var vmi = await world.GetVmiAsync("ns", "cd");
        Assert.Equal("fedora", vmi["status"]!["guestOSInfo"]!["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task Vm_goes_through_Provisioning_and_Starting_and_emits_kubevirt_events()
    {
        await using var world = await SimulatorWorld.StartAsync(o =>
        {
            o.ImportDelay = TimeSpan.FromMilliseconds(400);
            o.BootDelay = TimeSpan.FromMilliseconds(400);
        });
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("web", "ns"));
        await world.WaitForPrintableStatusAsync("ns", "web", "Provisioning");
        await world.WaitForPrintableStatusAsync("ns", "web", "Starting");
        var vm = await world.WaitForPrintableStatusAsync("ns", "web", "Running");

        var vmEvents = await world.Client.CoreV1.ListNamespacedEventAsync("ns",
            fieldSelector: $"involvedObject.kind=VirtualMachine,involvedObject.name=web,involvedObject.uid={vm["metadata"]!["uid"]}");
        Assert.All(vmEvents.Items, e => Assert.Equal("VirtualMachine", e.InvolvedObject.Kind));
        Assert.Contains(vmEvents.Items, e => e.Reason == "SuccessfulDataVolumeCreate" && e.Message == "Created DataVolume web-root");
        Assert.Contains(vmEvents.Items, e => e.Reason == "SuccessfulCreate" && e.Message == "Started the virtual machine by creating the new virtual machine instance web"
            && e.Source.Component == "virtualmachine-controller" && e.Type == "Normal" && e.Count == 1);

        var vmiEvents = await world.Client.CoreV1.ListNamespacedEventAsync("ns", fieldSelector: "involvedObject.kind=VirtualMachineInstance,involvedObject.name=web");
        Assert.Contains(vmiEvents.Items, e => e.Reason == "SuccessfulCreate" && e.Message!.StartsWith("Created virtual machine pod virt-launcher-web-", StringComparison.Ordinal));
        Assert.Contains(vmiEvents.Items, e => e.Reason == "Created" && e.Message == "VirtualMachineInstance defined." && e.Source.Component == "virt-handler" && e.Source.Host is not null);
        Assert.Contains(vmiEvents.Items, e => e.Reason == "Started" && e.Message == "VirtualMachineInstance started.");

        var started = await world.Client.CoreV1.ListNamespacedEventAsync("ns", fieldSelector: "reason=Started,type=Normal");
        Assert.Single(started.Items);
    }

    [Fact]
    public async Task Unsupported_event_field_selector_is_rejected()
    {
        await using var world = await SimulatorWorld.StartAsync();
        var (code, status) = await SimulatorWorld.FailureOf(() => world.Client.CoreV1.ListNamespacedEventAsync("default", fieldSelector: "involvedObject.color=red"));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, code);
        Assert.Equal("field label not supported: involvedObject.color", status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Watch_streams_changes_to_the_real_client()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var seen = new List<string>();
        var watching = Task.Run(async () =>
        {
            await foreach (var (type, item) in world.Client.CustomObjects.WatchListNamespacedCustomObjectAsync(SimulatorWorld.KubeVirt, "v1", "ns", "virtualmachines", cancellationToken: cts.Token))
            {
                var vm = SimulatorWorld.ToNode(item);
                seen.Add($"{type}:{SimulatorWorld.PrintableStatus(vm)}");
                if (SimulatorWorld.PrintableStatus(vm) == "Running")
                {
                    return;
                }
            }
        }, cts.Token);
        await world.CreateVmAsync(SimulatorWorld.Vm("w", "ns"));
        await watching;
        Assert.StartsWith("Added", seen[0], StringComparison.OrdinalIgnoreCase);
        Assert.Contains(seen, s => s.EndsWith(":Running", StringComparison.Ordinal));
    }
}
