using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Droplets.Tests.Simulator;

public sealed class SubresourceTests
{
    static string Message(JsonObject status) => status["message"]!.GetValue<string>();

    [Fact]
    public async Task Stop_and_start_flip_the_run_strategy_of_an_Always_vm()
    {
        await using var world = await SimulatorWorld.StartAsync(o => o.StopDelay = TimeSpan.FromMilliseconds(300));
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns"));
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");

        var response = await world.SubresourceAsync("ns", "vm", "start");
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var status = await SimulatorWorld.StatusOf(response);
        Assert.Equal("Operation cannot be fulfilled on virtualmachine.kubevirt.io \"vm\": VM is already running", Message(status));
        Assert.Equal("Conflict", status["reason"]!.GetValue<string>());

        response = await world.SubresourceAsync("ns", "vm", "stop", "{}");
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal("", await response.Content.ReadAsStringAsync());
        var vm = await world.GetVmAsync("ns", "vm");
        Assert.Equal("Halted", vm["spec"]!["runStrategy"]!.GetValue<string>());
        await world.WaitForPrintableStatusAsync("ns", "vm", "Stopping");
        // Stopped as soon as the VMI is final; created turns false once the VMI is deleted, a pass later.
        vm = await world.WaitForVmAsync("ns", "vm", v => SimulatorWorld.PrintableStatus(v) == "Stopped" && v["status"]?["created"]?.GetValue<bool>() == false,
            "Stopped with its VMI gone");
        Assert.False(vm["status"]!["created"]!.GetValue<bool>());
        Assert.False(await world.ExistsAsync(SimulatorWorld.KubeVirt, "v1", "virtualmachineinstances", "ns", "vm"));

        response = await world.SubresourceAsync("ns", "vm", "restart");
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.EndsWith("RunStategy Halted does not support manual restart requests", Message(await SimulatorWorld.StatusOf(response)), StringComparison.Ordinal);

        response = await world.SubresourceAsync("ns", "vm", "start");
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal("Always", (await world.GetVmAsync("ns", "vm"))["spec"]!["runStrategy"]!.GetValue<string>());
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");

        // Always with no VMI: start is refused, stop still patches the strategy.
        await world.PatchVmAsync("ns", "vm", """{"spec":{"runStrategy":"Halted"}}""", V1Patch.PatchType.MergePatch);
        await world.WaitForPrintableStatusAsync("ns", "vm", "Stopped");
        await world.PatchVmAsync("ns", "vm", """{"spec":{"runStrategy":"Always"}}""", V1Patch.PatchType.MergePatch);
        response = await world.SubresourceAsync("ns", "vm", "stop");
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Fact]
    public async Task Start_on_Always_without_a_vmi_is_refused()
    {
        await using var world = await SimulatorWorld.StartAsync(o => o.FailingImages.Add("quay.io/containerdisks/ubuntu:22.04"));
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns"));
        await world.WaitForPrintableStatusAsync("ns", "vm", "DataVolumeError");
        var response = await world.SubresourceAsync("ns", "vm", "start");
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.EndsWith("Always does not support manual start requests", Message(await SimulatorWorld.StatusOf(response)), StringComparison.Ordinal);

        response = await world.SubresourceAsync("ns", "missing", "start");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("virtualmachine.kubevirt.io \"missing\" not found", Message(await SimulatorWorld.StatusOf(response)));
    }

    [Fact]
    public async Task Restart_replaces_the_vmi()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns"));
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        var before = (await world.GetVmiAsync("ns", "vm"))["metadata"]!["uid"]!.GetValue<string>();

        var response = await world.SubresourceAsync("ns", "vm", "restart", """{"gracePeriodSeconds":5}""");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("For force restart, only gracePeriod=0 is supported for now", Message(await SimulatorWorld.StatusOf(response)));

        response = await world.SubresourceAsync("ns", "vm", "restart");
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var vm = await world.GetVmAsync("ns", "vm");
        var requests = vm["status"]!["stateChangeRequests"]?.AsArray();
        if (requests is not null)
        {
            Assert.Equal("Stop", requests[0]!["action"]!.GetValue<string>());
            Assert.Equal(before, requests[0]!["uid"]!.GetValue<string>());
        }

        var after = await SimulatorWorld.Eventually(() => world.FindVmiAsync("ns", "vm"),
            vmi => vmi is not null && vmi["metadata"]!["uid"]!.GetValue<string>() != before && vmi["status"]?["phase"]?.GetValue<string>() == "Running",
            "a new running VMI");
        // The VM controller reports the VMI's phase on its next pass, so poll rather than read once.
        vm = await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        Assert.Null(vm["status"]!["stateChangeRequests"]);
        var deleted = await world.Client.CoreV1.ListNamespacedEventAsync("ns", fieldSelector: "involvedObject.kind=VirtualMachine,reason=SuccessfulDelete");
        Assert.Equal($"Stopped the virtual machine by deleting the virtual machine instance {before}", Assert.Single(deleted.Items).Message);
        Assert.NotEqual(before, after!["metadata"]!["uid"]!.GetValue<string>());
    }

    [Fact]
    public async Task Manual_vms_start_and_stop_through_state_change_requests()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns", runStrategy: "Manual"));
        await world.WaitForVmAsync("ns", "vm", vm => SimulatorWorld.PrintableStatus(vm) == "Stopped" &&
            vm["status"]?["conditions"]?.AsArray().Any(c => c!["reason"]?.GetValue<string>() == "VMINotExists") == true, "stopped manual VM");

        var response = await world.SubresourceAsync("ns", "vm", "stop");
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.EndsWith("VM is not running", Message(await SimulatorWorld.StatusOf(response)), StringComparison.Ordinal);
        response = await world.SubresourceAsync("ns", "vm", "restart");
        Assert.EndsWith("VM is not running: Halted", Message(await SimulatorWorld.StatusOf(response)), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "vm", "start")).StatusCode);
        Assert.Equal("Manual", (await world.GetVmAsync("ns", "vm"))["spec"]!["runStrategy"]!.GetValue<string>());
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");

        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "vm", "stop")).StatusCode);
        await world.WaitForPrintableStatusAsync("ns", "vm", "Stopped");
        Assert.Equal("Manual", (await world.GetVmAsync("ns", "vm"))["spec"]!["runStrategy"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_second_start_while_one_is_pending_is_refused()
    {
        await using var world = await SimulatorWorld.StartAsync(o => o.FailingImages.Add("quay.io/containerdisks/ubuntu:22.04"));
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns", runStrategy: "Manual"));
        await world.WaitForPrintableStatusAsync("ns", "vm", "DataVolumeError");
        // The DataVolume never finishes, so the Start request stays queued.
        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "vm", "start")).StatusCode);
        var response = await world.SubresourceAsync("ns", "vm", "start");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("Internal error occurred: unable to complete request: stop/start already underway", Message(await SimulatorWorld.StatusOf(response)));
    }
}
