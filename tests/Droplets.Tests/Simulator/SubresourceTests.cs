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
        response = await world.SubresourceAsync("ns", "vm", "start", """{"paused":true,"dryRun":["All"]}""");
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

    const string DryRun = """{"dryRun":["All"]}""";

    static string? Strategy(JsonObject vm) => vm["spec"]!["runStrategy"]!.GetValue<string>();

    // lifecycle.go's StartVMRequestHandler, StopVMRequestHandler and RestartVMRequestHandler hand the options' DryRun to
    // their patches: every check runs and answers as usual, nothing is written.
    [Fact]
    public async Task Dry_run_start_answers_as_a_start_and_leaves_the_vm_stopped()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("halted", "ns", runStrategy: "Halted"));
        await world.CreateVmAsync(SimulatorWorld.Vm("manual", "ns", runStrategy: "Manual"));
        await world.WaitForPrintableStatusAsync("ns", "halted", "Stopped");
        await world.WaitForPrintableStatusAsync("ns", "manual", "Stopped");

        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "halted", "start", DryRun)).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "halted", "start", """{"paused":true,"dryRun":["All"]}""")).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "manual", "start", DryRun)).StatusCode);
        var refused = await world.SubresourceAsync("ns", "manual", "stop", DryRun);
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.EndsWith("VM is not running", Message(await SimulatorWorld.StatusOf(refused)), StringComparison.Ordinal);

        var halted = await world.GetVmAsync("ns", "halted");
        Assert.Equal("Halted", Strategy(halted));
        Assert.Null(halted["status"]?["stateChangeRequests"]);
        Assert.Null((await world.GetVmAsync("ns", "manual"))["status"]?["stateChangeRequests"]);
        // A real start queued behind a written request would be refused (500, "stop/start already underway"); a start of
        // a VM already flipped to Always would be a 409.
        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "manual", "start")).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "halted", "start")).StatusCode);
        await world.WaitForPrintableStatusAsync("ns", "manual", "Running");
        await world.WaitForPrintableStatusAsync("ns", "halted", "Running");
        // Nor did the dry-run paused start leave its request: the VMI runs unpaused.
        var started = await world.GetVmiAsync("ns", "halted");
        Assert.DoesNotContain(started["status"]!["conditions"]!.AsArray(), c => c!["type"]!.GetValue<string>() == "Paused");
    }

    [Fact]
    public async Task Dry_run_stop_and_restart_leave_the_same_vmi_running()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("always", "ns"));
        await world.CreateVmAsync(SimulatorWorld.Vm("manual", "ns", runStrategy: "Manual"));
        await world.WaitForPrintableStatusAsync("ns", "always", "Running");
        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "manual", "start")).StatusCode);
        await world.WaitForPrintableStatusAsync("ns", "manual", "Running");
        var before = await world.GetVmiAsync("ns", "always");
        var manualBefore = await world.GetVmiAsync("ns", "manual");

        foreach (var (name, action, body) in new[]
        {
            ("always", "stop", DryRun), ("always", "stop", """{"gracePeriod":1,"dryRun":["All"]}"""), ("always", "restart", DryRun),
            ("always", "restart", """{"gracePeriodSeconds":0,"dryRun":["All"]}"""), ("manual", "stop", """{"gracePeriod":1,"dryRun":["All"]}"""), ("manual", "restart", DryRun),
        })
        {
            Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", name, action, body)).StatusCode);
        }
        var refused = await world.SubresourceAsync("ns", "always", "start", DryRun);
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.EndsWith("VM is already running", Message(await SimulatorWorld.StatusOf(refused)), StringComparison.Ordinal);
        refused = await world.SubresourceAsync("ns", "always", "restart", """{"gracePeriodSeconds":5,"dryRun":["All"]}""");
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("For force restart, only gracePeriod=0 is supported for now", Message(await SimulatorWorld.StatusOf(refused)));

        var vm = await world.GetVmAsync("ns", "always");
        Assert.Equal("Always", Strategy(vm));
        Assert.Null(vm["status"]?["stateChangeRequests"]);
        Assert.Null((await world.GetVmAsync("ns", "manual"))["status"]?["stateChangeRequests"]);
        var after = await world.GetVmiAsync("ns", "always");
        Assert.Equal(before["metadata"]!["uid"]!.GetValue<string>(), after["metadata"]!["uid"]!.GetValue<string>());
        Assert.Equal(before["spec"]!["terminationGracePeriodSeconds"]?.ToJsonString(), after["spec"]!["terminationGracePeriodSeconds"]?.ToJsonString());
        Assert.Equal(manualBefore["spec"]!["terminationGracePeriodSeconds"]?.ToJsonString(),
            (await world.GetVmiAsync("ns", "manual"))["spec"]!["terminationGracePeriodSeconds"]?.ToJsonString());
        // The real restart is not refused as "already underway", so no dry run left a request behind.
        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "always", "restart")).StatusCode);
        await SimulatorWorld.Eventually(() => world.FindVmiAsync("ns", "always"),
            v => v is not null && v["metadata"]!["uid"]!.GetValue<string>() != before["metadata"]!["uid"]!.GetValue<string>() && v["status"]?["phase"]?.GetValue<string>() == "Running",
            "a new running VMI");
        Assert.Equal(manualBefore["metadata"]!["uid"]!.GetValue<string>(), (await world.GetVmiAsync("ns", "manual"))["metadata"]!["uid"]!.GetValue<string>());
        Assert.Equal("Running", (await world.GetVmiAsync("ns", "manual"))["status"]!["phase"]!.GetValue<string>());
    }

    // start {"paused":true}: lifecycle.go queues a Start request with data paused=true (Halted, Manual, RerunOnFailure);
    // vm.go makes a Halted VM Always for it and SetupVMIFromVM gives the VMI startStrategy Paused, which virt-handler
    // reports as the VMI condition Paused=True (calculatePausedCondition), so the VM's printableStatus is Paused.
    [Theory]
    [InlineData("Halted", "Always")]
    [InlineData("Manual", "Manual")]
    public async Task A_paused_start_runs_the_vmi_paused(string strategy, string strategyAfter)
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns", runStrategy: strategy));
        await world.WaitForPrintableStatusAsync("ns", "vm", "Stopped");

        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "vm", "start", """{"paused":true}""")).StatusCode);

        var vm = await world.WaitForPrintableStatusAsync("ns", "vm", "Paused");
        Assert.Equal(strategyAfter, Strategy(vm));
        var vmi = await world.GetVmiAsync("ns", "vm");
        Assert.Equal("Running", vmi["status"]!["phase"]!.GetValue<string>());
        Assert.Equal("Paused", vmi["spec"]!["startStrategy"]!.GetValue<string>());
        var paused = vmi["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Paused")!;
        Assert.Equal("True", paused["status"]!.GetValue<string>());
        Assert.Equal("PausedByUser", paused["reason"]!.GetValue<string>());
        // Paused, it is still running: a second start is refused.
        var again = await world.SubresourceAsync("ns", "vm", "start", """{"paused":true}""");
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.EndsWith("VM is already running", Message(await SimulatorWorld.StatusOf(again)), StringComparison.Ordinal);
    }

    // StartVMRequestHandler's switch has no WaitAsReceiver case: the start falls through to 202 and nothing is patched.
    [Fact]
    public async Task Start_on_WaitAsReceiver_is_accepted_and_does_nothing()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns", runStrategy: "WaitAsReceiver"));

        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "vm", "start", """{"paused":true}""")).StatusCode);

        var vm = await world.GetVmAsync("ns", "vm");
        Assert.Equal("WaitAsReceiver", Strategy(vm));
        Assert.Null(vm["status"]?["stateChangeRequests"]);
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
