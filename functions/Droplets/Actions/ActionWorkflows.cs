using Droplets.Droplets;
using Droplets.KubeVirt;
using Droplets.Provisioning;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace Droplets.Actions;

public sealed record ActionInput(DropletRef Droplet, string ActionId, ActionType Type, TimeSpan Deadline);

public sealed record PowerObserveInput(ActionInput Action, string? PreviousInstanceUid, TimeSpan Wait);

// How an action ends: the action's status, and what the droplet record becomes.
public sealed record ActionOutcome(
    DropletRef Droplet, string ActionId, ActionStatus Status, DropletStatus DropletStatus, string? PrivateIp, DropletError? Error);

public sealed record ActionProgress(int Progress);

// Power actions (reboot, power_off, power_on) and delete. Deterministic: only context.* calls; the
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

    // Starts the workflow of the action that holds the droplet; everything it needs is kept with the lock.
    public static Task StartAsync(DurableTaskClient client, Droplet held, TimeSpan deadline, CancellationToken cancellationToken)
    {
        var input = new ActionInput(new DropletRef(held.Id, held.ProjectId), held.LockedBy!, held.LockedFor!.Value, deadline);
        var options = new StartOrchestrationOptions(DropletAction.InstanceIdFor(input.ActionId));
        return input.Type switch
        {
            ActionType.Resize => client.ScheduleNewOrchestrationInstanceAsync(ResizeDroplet.Name,
                new ResizeInput(input, held.PlanId, held.PendingPlanId!, held.LockedFrom == DropletStatus.Running), options, cancellationToken),
            ActionType.Delete => client.ScheduleNewOrchestrationInstanceAsync(DeleteDroplet, input, options, cancellationToken),
            ActionType.Reboot or ActionType.PowerOff or ActionType.PowerOn => client.ScheduleNewOrchestrationInstanceAsync(PowerDroplet, input, options, cancellationToken),
            ActionType.Create or ActionType.Attach or ActionType.Detach => throw new InvalidOperationException($"A {input.Type} has a workflow of its own."),
            _ => throw new ArgumentOutOfRangeException(nameof(held), input.Type, "Unknown action type."),
        };
    }

    public static async Task<ActionOutcome> RunPowerAsync(TaskOrchestrationContext context, ActionInput input)
    {
        ActionOutcome outcome;
        try
        {
            outcome = await PowerAsync(context, input);
        }
        catch (TaskFailedException e)
        {
            outcome = Errored(input, DropletStatus.Error, "action_failed", $"The region's cluster could not be driven: {e.FailureDetails.ErrorMessage}");
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

        var backoff = WorkflowPolicy.FirstBackoff;
        while (true)
        {
            var remaining = deadline - context.CurrentUtcDateTime;
            var seen = await context.CallActivityAsync<VmObservation>(ObservePower,
                new PowerObserveInput(input, request.PreviousInstanceUid, remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero), WorkflowPolicy.Until(deadline));
            if (ActionRules.Reached(input.Type, seen, request.PreviousInstanceUid))
                return new ActionOutcome(input.Droplet, input.ActionId, ActionStatus.Completed, ActionRules.EndStatus(input.Type), seen.PrivateIp, null);
            if (ActionRules.Failure(input.Type, seen, request.PreviousInstanceUid) is { } code)
                return Errored(input, DropletStatus.Error, code, seen.Message ?? code);
            if (context.CurrentUtcDateTime >= deadline)
                return Errored(input, DropletStatusRules.Map(seen.PrintableStatus, DropletStatus.Running), "action_timeout",
                    $"KubeVirt did not reach the end state within {input.Deadline.TotalSeconds:0} s; it last reported {seen.PrintableStatus ?? "nothing"}.");
            context.SetCustomStatus(new ActionProgress(75));
            var delay = backoff < deadline - context.CurrentUtcDateTime ? backoff : deadline - context.CurrentUtcDateTime;
            if (delay > TimeSpan.Zero)
                await context.CreateTimer(delay, CancellationToken.None);
            backoff = WorkflowPolicy.Next(backoff);
        }
    }

    public static async Task<ActionOutcome> RunDeleteAsync(TaskOrchestrationContext context, ActionInput input)
    {
        var deadline = context.CurrentUtcDateTime + input.Deadline;
        try
        {
            context.SetCustomStatus(new ActionProgress(10));
            await context.CallActivityAsync(DeleteVirtualMachine, input.Droplet, WorkflowPolicy.Until(deadline));
            context.SetCustomStatus(new ActionProgress(50));
            var backoff = WorkflowPolicy.FirstBackoff;
            while (!await context.CallActivityAsync<bool>(ObserveDeletion, new PowerObserveInput(input, null, deadline - context.CurrentUtcDateTime), WorkflowPolicy.Until(deadline)))
            {
                if (context.CurrentUtcDateTime >= deadline)
                {
                    var timeout = Errored(input, DropletStatus.Error, "action_timeout",
                        $"The VirtualMachine was not gone within {input.Deadline.TotalSeconds:0} s; delete the droplet again to retry.");
                    await context.CallActivityAsync(FinishAction, timeout, WorkflowPolicy.UntilDone);
                    return timeout;
                }
                await context.CreateTimer(backoff, CancellationToken.None);
                backoff = WorkflowPolicy.Next(backoff);
            }
        }
        catch (TaskFailedException e)
        {
            var failed = Errored(input, DropletStatus.Error, "action_failed", $"The region's cluster could not be driven: {e.FailureDetails.ErrorMessage}");
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
        new(input.Droplet, input.ActionId, ActionStatus.Errored, status, null, new DropletError(code, message));
}

public sealed record PowerRequestResult(string? PreviousInstanceUid, string? Refusal, DropletStatus StatusNow);
