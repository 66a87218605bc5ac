using System.Collections.Concurrent;
using Droplets.Actions;
using Droplets.Droplets;
using Droplets.KubeVirt;
using Droplets.Provisioning;
using Droplets.Tests.Infrastructure;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Testing;

namespace Droplets.Tests.Actions;

// The workflows' own logic — retries bounded by the deadline, final bookkeeping that always runs, compensation —
// under the Durable Task SDK's in-process test host: the real orchestrators, with scripted activities in place of the
// cluster and the tables, so that each branch costs seconds and none needs Azurite or an API server. The end-to-end
// tests prove the same workflows against the real parts.
public class WorkflowLogicTests
{
    static readonly DropletRef Droplet = new("dpl_0123456789ab", "p");

    // What the scripted activities were called with, by name, in order.
    sealed class Calls
    {
        readonly ConcurrentQueue<(string Name, object? Input)> log = new();

        public void Add(string name, object? input) => log.Enqueue((name, input));

        public int Count(string name) => log.Count(c => c.Name == name);

        public IReadOnlyList<T> Inputs<T>(string name) => [.. log.Where(c => c.Name == name).Select(c => (T)c.Input!)];

        public IReadOnlyList<string> Names => [.. log.Select(c => c.Name)];
    }

    static async Task<TOut> RunAsync<TIn, TOut>(string orchestrator, Func<TaskOrchestrationContext, TIn, Task<TOut>> run, TIn input, Action<DurableTaskRegistry> activities)
    {
        await using var host = await DurableTaskTestHost.StartAsync(registry =>
        {
            registry.AddOrchestratorFunc(orchestrator, run);
            activities(registry);
        }, new DurableTaskTestHostOptions { Port = Repository.FreePort() });
        var id = await host.Client.ScheduleNewOrchestrationInstanceAsync(orchestrator, input);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var ended = await host.Client.WaitForInstanceCompletionAsync(id, getInputsAndOutputs: true, timeout.Token);
        Assert.True(ended.RuntimeStatus == Microsoft.DurableTask.Client.OrchestrationRuntimeStatus.Completed, ended.FailureDetails?.ToString());
        return ended.ReadOutputAs<TOut>()!;
    }

    // An activity that fails its first `failures` calls (as a step does while the cluster or the storage is down).
    static Func<TaskActivityContext, TIn, Task<TOut>> Flaky<TIn, TOut>(Calls calls, string name, int failures, Func<TIn, TOut> answer) => (_, input) =>
    {
        calls.Add(name, input);
        return calls.Count(name) <= failures ? throw new HttpRequestException("Response status code does not indicate success: 503 (Service Unavailable).", null, System.Net.HttpStatusCode.ServiceUnavailable) : Task.FromResult(answer(input));
    };

    static void Power(DurableTaskRegistry registry, Calls calls, int requestFailures, Func<VmObservation> observe, int finishFailures = 0)
    {
        registry.AddActivityFunc(ActionWorkflows.RequestPower, Flaky<ActionInput, PowerRequestResult>(calls, ActionWorkflows.RequestPower, requestFailures,
            _ => new PowerRequestResult("vmi-old", null, DropletStatus.Running)));
        registry.AddActivityFunc(ActionWorkflows.ObservePower, Flaky<PowerObserveInput, VmObservation>(calls, ActionWorkflows.ObservePower, 0, _ => observe()));
        registry.AddActivityFunc(ActionWorkflows.FinishAction, Flaky<ActionOutcome, bool>(calls, ActionWorkflows.FinishAction, finishFailures, _ => true));
    }

    static ActionInput Input(ActionType type, TimeSpan deadline) => new(Droplet, "act_0123456789ab", type, deadline);

    static readonly VmObservation Rebooted = new("Running", "10.0.0.9", null, null) { InstanceUid = "vmi-new" };

    [Fact]
    public async Task A_step_that_fails_for_a_while_within_the_deadline_is_retried_and_the_action_completes()
    {
        var calls = new Calls();
        var outcome = await RunAsync<ActionInput, ActionOutcome>(ActionWorkflows.PowerDroplet, ActionWorkflows.RunPowerAsync, Input(ActionType.Reboot, TimeSpan.FromMinutes(1)),
            r => Power(r, calls, requestFailures: 3, () => Rebooted));

        Assert.Equal((ActionStatus.Completed, DropletStatus.Running, "10.0.0.9"), (outcome.Status, outcome.DropletStatus, outcome.PrivateIp));
        Assert.Equal(4, calls.Count(ActionWorkflows.RequestPower));
        Assert.Equal([outcome], calls.Inputs<ActionOutcome>(ActionWorkflows.FinishAction));
    }

    [Fact]
    public async Task A_step_that_fails_past_the_deadline_ends_the_action_errored_and_still_releases_the_droplet()
    {
        var calls = new Calls();
        var outcome = await RunAsync<ActionInput, ActionOutcome>(ActionWorkflows.PowerDroplet, ActionWorkflows.RunPowerAsync, Input(ActionType.PowerOff, TimeSpan.FromSeconds(5)),
            r => Power(r, calls, requestFailures: int.MaxValue, () => Rebooted));

        Assert.Equal((ActionStatus.Errored, DropletStatus.Error, "action_failed"), (outcome.Status, outcome.DropletStatus, outcome.Error?.Code));
        Assert.Equal("The region's cluster could not be driven: its API server answered 503.", outcome.Error!.Message);
        // 1 s doubling: attempts at about 0, 1 and 3 s; the next (7 s) would start past the 5 s deadline.
        Assert.InRange(calls.Count(ActionWorkflows.RequestPower), 2, 4);
        Assert.Equal(0, calls.Count(ActionWorkflows.ObservePower));
        Assert.Equal([outcome], calls.Inputs<ActionOutcome>(ActionWorkflows.FinishAction));
    }

    [Fact]
    public async Task The_final_bookkeeping_is_retried_until_it_succeeds_whatever_the_deadline()
    {
        var calls = new Calls();
        var outcome = await RunAsync<ActionInput, ActionOutcome>(ActionWorkflows.PowerDroplet, ActionWorkflows.RunPowerAsync, Input(ActionType.Reboot, TimeSpan.FromSeconds(1)),
            r => Power(r, calls, requestFailures: 0, () => Rebooted, finishFailures: 3));

        Assert.Equal(ActionStatus.Completed, outcome.Status);
        Assert.Equal(4, calls.Count(ActionWorkflows.FinishAction));
        Assert.All(calls.Inputs<ActionOutcome>(ActionWorkflows.FinishAction), o => Assert.Equal(outcome, o));
    }

    [Fact]
    public async Task A_state_kubevirt_never_reaches_ends_the_action_at_its_deadline_with_what_kubevirt_last_reported()
    {
        var calls = new Calls();
        var outcome = await RunAsync<ActionInput, ActionOutcome>(ActionWorkflows.PowerDroplet, ActionWorkflows.RunPowerAsync, Input(ActionType.PowerOff, TimeSpan.FromSeconds(4)),
            r => Power(r, calls, requestFailures: 0, () => new VmObservation("Stopping", null, null, null) { InstanceUid = "vmi-old" }));

        Assert.Equal((ActionStatus.Errored, DropletStatus.Stopping, "action_timeout"), (outcome.Status, outcome.DropletStatus, outcome.Error?.Code));
        Assert.Contains("it last reported Stopping", outcome.Error!.Message, StringComparison.Ordinal);
        Assert.True(calls.Count(ActionWorkflows.ObservePower) >= 2, "observed more than once before the deadline");
        Assert.Equal(ActionWorkflows.FinishAction, calls.Names[^1]);
    }

    [Fact]
    public async Task A_failure_kubevirt_reports_ends_the_action_at_once_in_its_words()
    {
        var calls = new Calls();
        var outcome = await RunAsync<ActionInput, ActionOutcome>(ActionWorkflows.PowerDroplet, ActionWorkflows.RunPowerAsync, Input(ActionType.Reboot, TimeSpan.FromMinutes(5)),
            r => Power(r, calls, requestFailures: 0, () => new VmObservation("ErrorUnschedulable", null, null, "0/3 nodes are available") { InstanceUid = "vmi-new" }));

        Assert.Equal((ActionStatus.Errored, DropletStatus.Error, "unschedulable", "0/3 nodes are available"),
            (outcome.Status, outcome.DropletStatus, outcome.Error?.Code, outcome.Error?.Message));
        Assert.Equal(1, calls.Count(ActionWorkflows.ObservePower));
    }

    // Compensation: a resize KubeVirt refuses is rolled back (the rollback retried until done) and the droplet keeps
    // the status it had; nothing is recorded as resized.
    [Fact]
    public async Task A_resize_that_fails_is_rolled_back_and_the_droplet_keeps_its_plan_and_status()
    {
        var calls = new Calls();
        var input = new ResizeInput(Input(ActionType.Resize, TimeSpan.FromMinutes(1)), "s-1vcpu-1gb", "s-2vcpu-4gb", WasRunning: false);
        var outcome = await RunAsync<ResizeInput, ActionOutcome>(ResizeDroplet.Name, ResizeDroplet.RunAsync, input, r =>
        {
            r.AddActivityFunc(ResizeDroplet.ApplyResize, Flaky<ResizeInput, bool>(calls, ResizeDroplet.ApplyResize, 1, _ => true));
            r.AddActivityFunc(ResizeDroplet.ObserveResize, Flaky<ResizeInput, ResizeObservation>(calls, ResizeDroplet.ObserveResize, 0,
                _ => new ResizeObservation(false, false, null, "unschedulable", "0/3 nodes are available: 3 Insufficient memory.")));
            r.AddActivityFunc(ResizeDroplet.RollbackResize, Flaky<ResizeInput, bool>(calls, ResizeDroplet.RollbackResize, 2, _ => true));
            r.AddActivityFunc(ResizeDroplet.RecordResize, Flaky<ResizeRecord, bool>(calls, ResizeDroplet.RecordResize, 0, _ => true));
            r.AddActivityFunc(ActionWorkflows.FinishAction, Flaky<ActionOutcome, bool>(calls, ActionWorkflows.FinishAction, 0, _ => true));
        });

        Assert.Equal((ActionStatus.Errored, DropletStatus.Stopped, "unschedulable"), (outcome.Status, outcome.DropletStatus, outcome.Error?.Code));
        Assert.Equal(3, calls.Count(ResizeDroplet.RollbackResize));
        Assert.Equal(0, calls.Count(ResizeDroplet.RecordResize));
        Assert.Equal([ResizeDroplet.RollbackResize, ActionWorkflows.FinishAction], calls.Names.Where(n => n is ResizeDroplet.RollbackResize or ActionWorkflows.FinishAction).Distinct());
    }

    static void Rebuild(DurableTaskRegistry registry, Calls calls, Func<int, RootDiskState> restore, Func<VmObservation> observe)
    {
        registry.AddActivityFunc(ActionWorkflows.RequestPower, Flaky<ActionInput, PowerRequestResult>(calls, ActionWorkflows.RequestPower, 0,
            input => new PowerRequestResult(input.Type == ActionType.PowerOff ? "vmi-old" : null, null, DropletStatus.Running)));
        registry.AddActivityFunc(ActionWorkflows.ObservePower, Flaky<PowerObserveInput, VmObservation>(calls, ActionWorkflows.ObservePower, 0,
            input => input.Action.Type == ActionType.PowerOff ? new VmObservation("Stopped", null, null, null) : observe()));
        registry.AddActivityFunc(RebuildDroplet.RemoveRootDisk, Flaky<RebuildInput, bool>(calls, RebuildDroplet.RemoveRootDisk, 1, _ => true));
        registry.AddActivityFunc(RebuildDroplet.RestoreRootDisk, Flaky<RebuildInput, RootDiskState>(calls, RebuildDroplet.RestoreRootDisk, 0,
            _ => restore(calls.Count(RebuildDroplet.RestoreRootDisk))));
        registry.AddActivityFunc(RebuildDroplet.RecordRebuild, Flaky<ActionOutcome, bool>(calls, RebuildDroplet.RecordRebuild, 0, _ => true));
        registry.AddActivityFunc(ActionWorkflows.FinishAction, Flaky<ActionOutcome, bool>(calls, ActionWorkflows.FinishAction, 0, _ => true));
    }

    [Fact]
    public async Task A_rebuild_waits_for_the_old_disk_to_go_before_it_starts_the_vm_from_the_new_one()
    {
        var calls = new Calls();
        var input = new RebuildInput(Input(ActionType.Rebuild, TimeSpan.FromMinutes(1)), "debian-12");
        var outcome = await RunAsync<RebuildInput, ActionOutcome>(RebuildDroplet.Name, RebuildDroplet.RunAsync, input, r => Rebuild(r, calls,
            n => n switch { 1 => RootDiskState.OldDiskGoing, 2 => RootDiskState.Restored, _ => RootDiskState.NewDiskMade }, () => Rebooted));

        Assert.Equal((ActionStatus.Completed, DropletStatus.Running), (outcome.Status, outcome.DropletStatus));
        Assert.Equal(3, calls.Count(RebuildDroplet.RestoreRootDisk));
        Assert.Equal([ActionType.PowerOff], calls.Inputs<ActionInput>(ActionWorkflows.RequestPower).Select(i => i.Type));
        Assert.Equal([RebuildDroplet.RemoveRootDisk, RebuildDroplet.RestoreRootDisk, RebuildDroplet.RecordRebuild],
            calls.Names.Where(n => n is RebuildDroplet.RemoveRootDisk or RebuildDroplet.RestoreRootDisk or RebuildDroplet.RecordRebuild).Distinct());
        Assert.Equal(0, calls.Count(ActionWorkflows.FinishAction));
    }

    [Fact]
    public async Task A_rebuild_whose_old_disk_never_goes_ends_errored_at_its_deadline_with_the_droplet_in_error()
    {
        var calls = new Calls();
        var input = new RebuildInput(Input(ActionType.Rebuild, TimeSpan.FromSeconds(5)), "debian-12");
        var outcome = await RunAsync<RebuildInput, ActionOutcome>(RebuildDroplet.Name, RebuildDroplet.RunAsync, input, r => Rebuild(r, calls,
            _ => RootDiskState.OldDiskGoing, () => Rebooted));

        Assert.Equal((ActionStatus.Errored, DropletStatus.Error, "action_timeout"), (outcome.Status, outcome.DropletStatus, outcome.Error?.Code));
        Assert.StartsWith("The old root disk was not gone", outcome.Error!.Message, StringComparison.Ordinal);
        Assert.Equal(0, calls.Count(RebuildDroplet.RecordRebuild));
        Assert.Equal([outcome], calls.Inputs<ActionOutcome>(ActionWorkflows.FinishAction));
    }
}
