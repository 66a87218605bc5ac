using Droplets.Droplets;
using Droplets.KubeVirt;
using Droplets.Provisioning;
using Microsoft.DurableTask;

namespace Droplets.Actions;

public sealed record ActionInput(DropletRef Droplet, string ActionId, ActionType Type, TimeSpan Deadline);

public sealed record PowerObserveInput(ActionInput Action, string? PreviousInstanceUid, TimeSpan Wait);

// How an action ends: the action's status, and what the droplet record becomes.
public sealed record ActionOutcome(
    DropletRef Droplet, string ActionId, ActionStatus Status, DropletStatus DropletStatus, string? PrivateIp, ErrorDetail? Error);

public sealed record ActionProgress(int Progress);

// Power actions (reboot, power_off, power_on) and delete, their rules and workflows. Deterministic: only context.* calls; the
// cluster and the tables are reached through ActionActivities. Both end by releasing the droplet.
public static class ActionWorkflows
{
    public const string PowerDroplet = nameof(PowerDroplet);
    public const string DeleteDroplet = nameof(DeleteDroplet);
    public const string RequestPower = nameof(RequestPower);
    public const string ObservePower = nameof(ObservePower);
    public const string DeleteVirtualMachine = nameof(DeleteVirtualMachine);
    public const string ObserveDeletion = nameof(ObserveDeletion);
    public const string FinishAction = nameof(FinishAction);
    public const string RemoveDroplet = nameof(RemoveDroplet);

    public static ActionRule Reboot { get; } = new(ActionType.Reboot, [DropletStatus.Running, DropletStatus.Error], DropletStatus.Rebooting, ActionEnd.Running,
        PowerDroplet, (input, _) => input, "Reboot", "Rebooted: the droplet is running again.", Posted: true);

    public static ActionRule PowerOff { get; } = new(ActionType.PowerOff, [DropletStatus.Running, DropletStatus.Error], DropletStatus.Stopping, ActionEnd.Stopped,
        PowerDroplet, (input, _) => input, "Power off", "Powered off.", Posted: true);

    public static ActionRule PowerOn { get; } = new(ActionType.PowerOn, [DropletStatus.Stopped, DropletStatus.Error], DropletStatus.Starting, ActionEnd.Running,
        PowerDroplet, (input, _) => input, "Power on", "Powered on: the droplet is running.", Posted: true);

    public static ActionRule Delete { get; } = new(ActionType.Delete, [.. Enum.GetValues<DropletStatus>().Where(s => s != DropletStatus.Deleting)], DropletStatus.Deleting, ActionEnd.Removed,
        DeleteDroplet, (input, _) => input, "Deletion", "Deleted.", Unfinished: new("action_interrupted", "before the VirtualMachine was gone; delete the droplet again to retry."));

    public static async Task<ActionOutcome> RunPowerAsync(TaskOrchestrationContext context, ActionInput input)
    {
        ActionOutcome outcome;
        try
        {
            outcome = await PowerAsync(context, input);
        }
        catch (TaskFailedException e)
        {
            outcome = Errored(input, DropletStatus.Error, ActionRecovery.ClusterUnreachable, WorkflowPolicy.ClusterFailure(context, e));
        }
        await context.CallActivityAsync(FinishAction, outcome, WorkflowPolicy.UntilDone);
        return outcome;
    }

    static async Task<ActionOutcome> PowerAsync(TaskOrchestrationContext context, ActionInput input)
    {
        var deadline = context.CurrentUtcDateTime + input.Deadline;
        context.SetCustomStatus(new ActionProgress(10));
        var request = await context.CallActivityAsync<PowerRequestResult>(RequestPower, input, WorkflowPolicy.Until(deadline));
        if (request.Refusal is not null)
            return Errored(input, request.StatusNow, "kubevirt_refused", request.Refusal);
        context.SetCustomStatus(new ActionProgress(50));

        var seen = await ObserveAsync(context, input, request.PreviousInstanceUid, deadline);
        if (ActionRules.Reached(input.Type, seen, request.PreviousInstanceUid))
            return new ActionOutcome(input.Droplet, input.ActionId, ActionStatus.Completed, ActionRules.EndStatus(input.Type), seen.PrivateIp, null);
        if (ActionRules.Failure(input.Type, seen, request.PreviousInstanceUid) is { } code)
            return Errored(input, DropletStatus.Error, code, seen.Message ?? code);
        return Errored(input, DropletStatusRules.Map(seen.PrintableStatus, DropletStatus.Running), "action_timeout",
            $"KubeVirt did not reach the end state within {input.Deadline.TotalSeconds:0} s; it last reported {seen.PrintableStatus ?? "nothing"}.");
    }

    // Watches the VM until the power action's end is reached, a failure that ends it shows, or the deadline passes.
    internal static Task<VmObservation> ObserveAsync(TaskOrchestrationContext context, ActionInput input, string? previousInstanceUid, DateTime deadline) =>
        WorkflowPolicy.WaitAsync(context, deadline,
            wait => context.CallActivityAsync<VmObservation>(ObservePower, new PowerObserveInput(input, previousInstanceUid, wait), WorkflowPolicy.Until(deadline)),
            seen => ActionRules.Reached(input.Type, seen, previousInstanceUid) || ActionRules.Failure(input.Type, seen, previousInstanceUid) is not null);

    public static async Task<ActionOutcome> RunDeleteAsync(TaskOrchestrationContext context, ActionInput input)
    {
        var deadline = context.CurrentUtcDateTime + input.Deadline;
        try
        {
            context.SetCustomStatus(new ActionProgress(10));
            await context.CallActivityAsync(DeleteVirtualMachine, input.Droplet, WorkflowPolicy.Until(deadline));
            context.SetCustomStatus(new ActionProgress(50));
            var gone = await WorkflowPolicy.WaitAsync(context, deadline,
                wait => context.CallActivityAsync<bool>(ObserveDeletion, new PowerObserveInput(input, null, wait), WorkflowPolicy.Until(deadline)),
                gone => gone);
            if (!gone)
            {
                var timeout = Errored(input, DropletStatus.Error, "action_timeout",
                    $"The VirtualMachine was not gone within {input.Deadline.TotalSeconds:0} s; delete the droplet again to retry.");
                await context.CallActivityAsync(FinishAction, timeout, WorkflowPolicy.UntilDone);
                return timeout;
            }
        }
        catch (TaskFailedException e)
        {
            var failed = Errored(input, DropletStatus.Error, ActionRecovery.ClusterUnreachable, WorkflowPolicy.ClusterFailure(context, e));
            await context.CallActivityAsync(FinishAction, failed, WorkflowPolicy.UntilDone);
            return failed;
        }
        // The VM is gone, so are its hotplugged disks: its volumes are available again (claims and data kept).
        await context.CallActivityAsync(Volumes.VolumeWorkflows.DetachDropletVolumes, input.Droplet, WorkflowPolicy.UntilDone);
        var done = new ActionOutcome(input.Droplet, input.ActionId, ActionStatus.Completed, DropletStatus.Deleting, null, null);
        await context.CallActivityAsync(RemoveDroplet, done, WorkflowPolicy.UntilDone);
        return done;
    }

    static ActionOutcome Errored(ActionInput input, DropletStatus status, string code, string message) =>
        new(input.Droplet, input.ActionId, ActionStatus.Errored, status, null, new ErrorDetail(code, message));
}

public sealed record PowerRequestResult(string? PreviousInstanceUid, string? Refusal, DropletStatus StatusNow);
