using Droplets.Actions;
using Droplets.Droplets;
using Droplets.Provisioning;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace Droplets.Volumes;

public sealed record VolumeRef(string Id, string ProjectId);

// Everything a volume action's workflow needs; built from the lock on the volume record, so recovery can too.
public sealed record VolumeActionInput(VolumeRef Volume, string ActionId, ActionType Type, string? DropletId, int? Size, TimeSpan Deadline);

public sealed record VolumeObserveInput(VolumeActionInput Action, TimeSpan Wait);

// Done: the action's end state is reached. Failure: it never will be (KubeVirt's or CDI's words). State:
// what was last seen, for a timeout's message.
public sealed record VolumeObservation(bool Done, string? Failure, string State);

// How a volume action ends. VolumeStatus null leaves the volume's status (and droplet) as they are. DropletId
// names the droplet an attach/detach held: it is released, and the volume is in its volume_ids exactly when
// Attached. Size is the new size of a completed resize.
public sealed record VolumeOutcome(
    VolumeRef Volume, string ActionId, ActionStatus Status, VolumeStatus? VolumeStatus, string? DropletId, bool Attached, int? Size, ErrorDetail? Error);

// The volume workflows: create, delete, attach, detach and resize. Deterministic: only context.* calls; the
// cluster and the tables are reached through VolumeActivities. Each ends by releasing what its action holds.
public static class VolumeWorkflows
{
    public const string ProvisionVolume = nameof(ProvisionVolume);
    public const string DeleteVolume = nameof(DeleteVolume);
    public const string AttachVolume = nameof(AttachVolume);
    public const string DetachVolume = nameof(DetachVolume);
    public const string ResizeVolume = nameof(ResizeVolume);

    public const string CreateVolumeClaim = nameof(CreateVolumeClaim);
    public const string ObserveVolumeClaim = nameof(ObserveVolumeClaim);
    public const string DeleteVolumeClaim = nameof(DeleteVolumeClaim);
    public const string ObserveVolumeDeletion = nameof(ObserveVolumeDeletion);
    public const string RemoveVolume = nameof(RemoveVolume);
    public const string TakeDropletForVolume = nameof(TakeDropletForVolume);
    public const string RequestVolumeAttach = nameof(RequestVolumeAttach);
    public const string RequestVolumeDetach = nameof(RequestVolumeDetach);
    public const string ObserveVolumeAttachment = nameof(ObserveVolumeAttachment);
    public const string GrowVolumeClaim = nameof(GrowVolumeClaim);
    public const string FinishVolumeAction = nameof(FinishVolumeAction);
    public const string DetachDropletVolumes = nameof(DetachDropletVolumes);

    public static VolumeActionInput InputFor(Volume held, TimeSpan deadline) =>
        new(new VolumeRef(held.Id, held.ProjectId), held.LockedBy!, held.LockedFor!.Value, held.PendingDropletId, held.PendingSize, deadline);

    // Starts the workflow of the action that holds the volume; the instance id is derived from the action.
    public static Task StartAsync(DurableTaskClient client, Volume held, TimeSpan deadline, CancellationToken cancellationToken)
    {
        var input = InputFor(held, deadline);
        return client.ScheduleNewOrchestrationInstanceAsync(VolumeActionRules.For(input.Type).Workflow, input, new StartOrchestrationOptions(ResourceAction.InstanceIdFor(input.ActionId)), cancellationToken);
    }

    public static async Task<VolumeOutcome> RunProvisionAsync(TaskOrchestrationContext context, VolumeActionInput input)
    {
        var deadline = context.CurrentUtcDateTime + input.Deadline;
        VolumeOutcome outcome;
        try
        {
            context.SetCustomStatus(new ActionProgress(10));
            await context.CallActivityAsync(CreateVolumeClaim, input.Volume, WorkflowPolicy.Until(deadline));
            context.SetCustomStatus(new ActionProgress(50));
            var seen = await ObserveAsync(context, input, ObserveVolumeClaim, deadline);
            outcome = seen.Done
                ? Ended(input, ActionStatus.Completed, VolumeStatus.Available)
                : Errored(input, VolumeStatus.Error, seen.Failure is null ? "action_timeout" : "volume_failed", seen.Failure
                    ?? $"The volume's claim was not ready within {input.Deadline.TotalSeconds:0} s; CDI last reported {seen.State}.");
        }
        catch (TaskFailedException e)
        {
            outcome = Errored(input, VolumeStatus.Error, "action_failed", WorkflowPolicy.ClusterFailure(context, e));
        }
        await context.CallActivityAsync(FinishVolumeAction, outcome, WorkflowPolicy.UntilDone);
        return outcome;
    }

    public static async Task<VolumeOutcome> RunDeleteAsync(TaskOrchestrationContext context, VolumeActionInput input)
    {
        var deadline = context.CurrentUtcDateTime + input.Deadline;
        VolumeOutcome outcome;
        try
        {
            context.SetCustomStatus(new ActionProgress(10));
            await context.CallActivityAsync(DeleteVolumeClaim, input.Volume, WorkflowPolicy.Until(deadline));
            context.SetCustomStatus(new ActionProgress(50));
            var seen = await ObserveAsync(context, input, ObserveVolumeDeletion, deadline);
            if (seen.Done)
            {
                var done = Ended(input, ActionStatus.Completed, null);
                await context.CallActivityAsync(RemoveVolume, done, WorkflowPolicy.UntilDone);
                return done;
            }
            outcome = Errored(input, VolumeStatus.Error, "action_timeout",
                $"The volume's claim was not gone within {input.Deadline.TotalSeconds:0} s ({seen.State}); delete the volume again to retry.");
        }
        catch (TaskFailedException e)
        {
            outcome = Errored(input, VolumeStatus.Error, "action_failed", WorkflowPolicy.ClusterFailure(context, e));
        }
        await context.CallActivityAsync(FinishVolumeAction, outcome, WorkflowPolicy.UntilDone);
        return outcome;
    }

    // addvolume on the droplet's VM, then wait until the running VMI reports the disk Ready (a stopped droplet:
    // until the template has it). A failed attach is rolled back with removevolume, so that KubeVirt does not
    // attach later what we recorded as available.
    public static async Task<VolumeOutcome> RunAttachAsync(TaskOrchestrationContext context, VolumeActionInput input)
    {
        var deadline = context.CurrentUtcDateTime + input.Deadline;
        VolumeOutcome outcome;
        var held = false;
        try
        {
            context.SetCustomStatus(new ActionProgress(10));
            if (await context.CallActivityAsync<string?>(TakeDropletForVolume, input, WorkflowPolicy.Until(deadline)) is { } busy)
            {
                outcome = Errored(input, null, "conflict", busy) with { DropletId = null };
            }
            else
            {
                held = true;
                if (await context.CallActivityAsync<string?>(RequestVolumeAttach, input, WorkflowPolicy.Until(deadline)) is { } refusal)
                {
                    outcome = Errored(input, VolumeStatus.Available, "kubevirt_refused", refusal);
                }
                else
                {
                    context.SetCustomStatus(new ActionProgress(50));
                    var seen = await ObserveAsync(context, input, ObserveVolumeAttachment, deadline);
                    outcome = seen.Done
                        ? Ended(input, ActionStatus.Completed, VolumeStatus.Attached) with { Attached = true }
                        : await RollBackAttachAsync(context, input, seen.Failure is null ? "action_timeout" : "kubevirt_refused", seen.Failure
                            ?? $"KubeVirt did not attach the volume within {input.Deadline.TotalSeconds:0} s; it last reported {seen.State}.");
                }
            }
        }
        catch (TaskFailedException e)
        {
            outcome = held
                ? await RollBackAttachAsync(context, input, "action_failed", WorkflowPolicy.ClusterFailure(context, e))
                : Errored(input, null, "action_failed", WorkflowPolicy.ClusterFailure(context, e)) with { DropletId = null };
        }
        await context.CallActivityAsync(FinishVolumeAction, outcome, WorkflowPolicy.UntilDone);
        return outcome;
    }

    static async Task<VolumeOutcome> RollBackAttachAsync(TaskOrchestrationContext context, VolumeActionInput input, string code, string message)
    {
        // Part of the bookkeeping: the volume is recorded available only once KubeVirt was asked to let it go.
        await context.CallActivityAsync<string?>(RequestVolumeDetach, input, WorkflowPolicy.UntilDone);
        return Errored(input, VolumeStatus.Available, code, message);
    }

    public static async Task<VolumeOutcome> RunDetachAsync(TaskOrchestrationContext context, VolumeActionInput input)
    {
        var deadline = context.CurrentUtcDateTime + input.Deadline;
        VolumeOutcome outcome;
        var held = false;
        try
        {
            context.SetCustomStatus(new ActionProgress(10));
            if (await context.CallActivityAsync<string?>(TakeDropletForVolume, input, WorkflowPolicy.Until(deadline)) is { } busy)
            {
                outcome = Errored(input, null, "conflict", busy) with { DropletId = null };
            }
            else
            {
                held = true;
                if (await context.CallActivityAsync<string?>(RequestVolumeDetach, input, WorkflowPolicy.Until(deadline)) is { } refusal)
                {
                    outcome = Errored(input, VolumeStatus.Attached, "kubevirt_refused", refusal) with { Attached = true };
                }
                else
                {
                    context.SetCustomStatus(new ActionProgress(50));
                    var seen = await ObserveAsync(context, input, ObserveVolumeAttachment, deadline);
                    outcome = seen.Done
                        ? Ended(input, ActionStatus.Completed, VolumeStatus.Available)
                        : Errored(input, VolumeStatus.Attached, seen.Failure is null ? "action_timeout" : "kubevirt_refused", seen.Failure
                            ?? $"KubeVirt did not detach the volume within {input.Deadline.TotalSeconds:0} s; it last reported {seen.State}.") with { Attached = true };
                }
            }
        }
        catch (TaskFailedException e) when (held)
        {
            // Carried through, as a failed attach is rolled back: the removal may have reached KubeVirt before the
            // cluster went away, so the volume is recorded available once KubeVirt was asked (again) to let it go.
            await context.CallActivityAsync<string?>(RequestVolumeDetach, input, WorkflowPolicy.UntilDone);
            outcome = Errored(input, VolumeStatus.Available, "action_failed", WorkflowPolicy.ClusterFailure(context, e));
        }
        catch (TaskFailedException e)
        {
            outcome = Errored(input, null, "action_failed", WorkflowPolicy.ClusterFailure(context, e)) with { DropletId = null };
        }
        await context.CallActivityAsync(FinishVolumeAction, outcome, WorkflowPolicy.UntilDone);
        return outcome;
    }

    // Volume expansion: the claim's request grows, done when its capacity shows the new size. Claims never
    // shrink, so a failed resize has nothing to roll back.
    public static async Task<VolumeOutcome> RunResizeAsync(TaskOrchestrationContext context, VolumeActionInput input)
    {
        var deadline = context.CurrentUtcDateTime + input.Deadline;
        VolumeOutcome outcome;
        try
        {
            context.SetCustomStatus(new ActionProgress(10));
            if (await context.CallActivityAsync<string?>(GrowVolumeClaim, input, WorkflowPolicy.Until(deadline)) is { } refusal)
            {
                outcome = Errored(input, null, "kubernetes_refused", refusal);
            }
            else
            {
                context.SetCustomStatus(new ActionProgress(50));
                var seen = await ObserveAsync(context, input, ObserveVolumeClaim, deadline);
                outcome = seen.Done
                    ? Ended(input, ActionStatus.Completed, null) with { Size = input.Size }
                    : Errored(input, null, seen.Failure is null ? "action_timeout" : "resize_failed", seen.Failure
                        ?? $"The claim did not reach {input.Size} GiB within {input.Deadline.TotalSeconds:0} s; it last reported {seen.State}.");
            }
        }
        catch (TaskFailedException e)
        {
            outcome = Errored(input, null, "action_failed", WorkflowPolicy.ClusterFailure(context, e));
        }
        await context.CallActivityAsync(FinishVolumeAction, outcome, WorkflowPolicy.UntilDone);
        return outcome;
    }

    // Until done, failed, or the action's deadline.
    static Task<VolumeObservation> ObserveAsync(TaskOrchestrationContext context, VolumeActionInput input, string activity, DateTime deadline) =>
        WorkflowPolicy.WaitAsync(context, deadline,
            wait => context.CallActivityAsync<VolumeObservation>(activity, new VolumeObserveInput(input, wait), WorkflowPolicy.Until(deadline)),
            seen => seen.Done || seen.Failure is not null);

    static VolumeOutcome Ended(VolumeActionInput input, ActionStatus status, VolumeStatus? volumeStatus) =>
        new(input.Volume, input.ActionId, status, volumeStatus, input.DropletId, false, null, null);

    static VolumeOutcome Errored(VolumeActionInput input, VolumeStatus? volumeStatus, string code, string message) =>
        Ended(input, ActionStatus.Errored, volumeStatus) with { Error = new ErrorDetail(code, message) };

}
