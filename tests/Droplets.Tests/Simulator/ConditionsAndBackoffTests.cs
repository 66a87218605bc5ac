using System.Globalization;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Droplets.Tests.Simulator;

public sealed class ConditionsAndBackoffTests
{
    const string Image = "quay.io/containerdisks/fedora:latest";

    static JsonNode? Condition(JsonObject obj, string type) =>
        obj["status"]?["conditions"]?.AsArray().SingleOrDefault(c => c!["type"]!.GetValue<string>() == type);

    static string? Reason(JsonObject obj, string type) => Condition(obj, type)?["reason"]?.GetValue<string>();

    static string? Uid(JsonObject? obj) => obj?["metadata"]?["uid"]?.GetValue<string>();

    static string? Phase(JsonObject? vmi) => vmi?["status"]?["phase"]?.GetValue<string>();

    // pkg/virt-controller/watch/vmi/lifecycle.go syncReadyConditionFromPod (the VMI's Ready from its launcher pod) and
    // pkg/virt-controller/watch/vm/vm.go syncReadyConditionFromVMI / updateStatus (the VM's Ready and status.ready).
    [Fact]
    public async Task Ready_is_GuestNotRunning_while_booting_and_PodTerminating_once_a_stop_begins()
    {
        await using var world = await SimulatorWorld.StartAsync(o =>
        {
            o.BootDelay = TimeSpan.FromSeconds(2);
            o.StopDelay = TimeSpan.FromSeconds(3);
        });
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.ContainerDiskVm("vm", "ns", Image));

        var vmi = await SimulatorWorld.Eventually(() => world.FindVmiAsync("ns", "vm"), v => Phase(v) == "Scheduled", "a Scheduled VMI");
        var ready = Condition(vmi!, "Ready")!;
        Assert.Equal("False", ready["status"]!.GetValue<string>());
        Assert.Equal("GuestNotRunning", ready["reason"]!.GetValue<string>());
        Assert.Equal("Guest VM is not reported as running", ready["message"]!.GetValue<string>());
        var vm = await world.WaitForVmAsync("ns", "vm", v => Reason(v, "Ready") == "GuestNotRunning", "VM Ready copied from the VMI");
        Assert.False(vm["status"]!["ready"]!.GetValue<bool>());

        vm = await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        Assert.True(vm["status"]!["ready"]!.GetValue<bool>());
        Assert.Equal("True", Condition(vm, "Ready")!["status"]!.GetValue<string>());

        await world.PatchVmAsync("ns", "vm", """{"spec":{"runStrategy":"Halted"}}""", V1Patch.PatchType.MergePatch);
        vm = await world.WaitForVmAsync("ns", "vm", v => SimulatorWorld.PrintableStatus(v) == "Stopping" && Reason(v, "Ready") == "PodTerminating",
            "Stopping with Ready=False/PodTerminating");
        Assert.False(vm["status"]!["ready"]!.GetValue<bool>());
        Assert.Equal("False", Condition(vm, "Ready")!["status"]!.GetValue<string>());
        Assert.Equal("virt-launcher pod is terminating", Condition(vm, "Ready")!["message"]!.GetValue<string>());

        vm = await world.WaitForVmAsync("ns", "vm", v => Reason(v, "Ready") == "VMINotExists", "Ready=False/VMINotExists once the VMI is gone");
        Assert.Equal("Stopped", SimulatorWorld.PrintableStatus(vm));
        Assert.False(vm["status"]!["created"]!.GetValue<bool>());
    }

    // pkg/virt-controller/watch/vm/vm.go syncStartFailureStatus, calculateStartBackoffTime, startFailureBackoffTimeLeft
    // (checked in syncRunStrategy before startVMI) and isVirtualMachineStatusCrashLoopBackOff.
    [Fact]
    public async Task Launcher_failures_before_the_guest_runs_back_off_as_CrashLoopBackOff_until_a_vmi_runs()
    {
        // The guest never boots on its own, so each launcher pod deleted under a Scheduled VMI is a failure before running.
        await using var world = await SimulatorWorld.StartAsync(o => o.BootDelay = TimeSpan.FromHours(1));
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.ContainerDiskVm("vm", "ns", Image));

        string? previous = null;
        for (var failures = 1; failures <= 2; failures++)
        {
            var vmi = await SimulatorWorld.Eventually(() => world.FindVmiAsync("ns", "vm"),
                v => Phase(v) == "Scheduled" && Uid(v) != previous, "a new Scheduled VMI");
            if (previous is not null)
            {
                var before = await world.GetVmAsync("ns", "vm");
                var retryAfter = DateTime.Parse(before["status"]!["startFailure"]!["retryAfterTimestamp"]!.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);
                var created = DateTime.Parse(vmi!["metadata"]!["creationTimestamp"]!.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);
                Assert.True(created >= retryAfter, $"the VMI was started at {created:o}, before the back-off ended at {retryAfter:o}");
            }
            previous = Uid(vmi);
            var pod = (await world.Client.CoreV1.ListNamespacedPodAsync("ns", labelSelector: "kubevirt.io=virt-launcher")).Items.Single();
            await world.Client.CoreV1.DeleteNamespacedPodAsync(pod.Metadata.Name, "ns");

            var vm = await world.WaitForVmAsync("ns", "vm", v => v["status"]?["startFailure"]?["lastFailedVMIUID"]?.GetValue<string>() == previous,
                $"start failure {failures} recorded");
            Assert.Equal(failures, vm["status"]!["startFailure"]!["consecutiveFailCount"]!.GetValue<int>());
            await world.WaitForPrintableStatusAsync("ns", "vm", "CrashLoopBackOff");
        }

        world.Simulator.Options.BootDelay = TimeSpan.Zero;
        var running = await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        Assert.Null(running["status"]!["startFailure"]);
    }

    // pkg/virt-controller/watch/vm/vm.go syncGenerationInfo and conditionallyBumpGenerationAnnotationOnVmi (the VMI's
    // kubevirt.io/vm-generation annotation, set by setGenerationAnnotationOnVmi in startVMI).
    [Fact]
    public async Task Observed_generation_holds_while_a_restart_is_required()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.ContainerDiskVm("vm", "ns", Image));
        var vm = await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        Assert.Equal(1, vm["status"]!["observedGeneration"]!.GetValue<long>());
        Assert.Equal(1, vm["status"]!["desiredGeneration"]!.GetValue<long>());

        // Only the run strategy changes: the VMI runs the current template, so it has seen generation 2.
        await world.PatchVmAsync("ns", "vm", """{"spec":{"runStrategy":"RerunOnFailure"}}""", V1Patch.PatchType.MergePatch);
        vm = await world.WaitForVmAsync("ns", "vm", v => v["status"]?["observedGeneration"]?.GetValue<long>() == 2, "observedGeneration 2");
        Assert.Equal(2, vm["status"]!["desiredGeneration"]!.GetValue<long>());
        var vmi = await world.GetVmiAsync("ns", "vm");
        Assert.Equal("2", vmi["metadata"]!["annotations"]!["kubevirt.io/vm-generation"]!.GetValue<string>());

        await world.PatchVmAsync("ns", "vm", """{"spec":{"template":{"spec":{"domain":{"resources":{"requests":{"memory":"2Gi"}}}}}}}""", V1Patch.PatchType.MergePatch);
        vm = await world.WaitForVmAsync("ns", "vm", v => Condition(v, "RestartRequired")?["status"]?.GetValue<string>() == "True" &&
            v["status"]?["desiredGeneration"]?.GetValue<long>() == 3, "RestartRequired at generation 3");
        Assert.Equal(2, vm["status"]!["observedGeneration"]!.GetValue<long>());
        Assert.Equal(3, vm["metadata"]!["generation"]!.GetValue<long>());

        var first = Uid(vmi);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "vm", "restart")).StatusCode);
        await SimulatorWorld.Eventually(() => world.FindVmiAsync("ns", "vm"), v => Uid(v) != first && Phase(v) == "Running", "a new running VMI");
        vm = await world.WaitForVmAsync("ns", "vm", v => v["status"]?["observedGeneration"]?.GetValue<long>() == 3, "observedGeneration 3 after the restart");
        Assert.Equal(3, vm["status"]!["desiredGeneration"]!.GetValue<long>());
        Assert.Null(Condition(vm, "RestartRequired"));
    }
}
