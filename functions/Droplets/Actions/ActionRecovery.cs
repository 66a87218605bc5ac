using Droplets.Droplets;
using Droplets.KubeVirt;
using Droplets.Provisioning;
using Droplets.Volumes;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Droplets.Actions;

public sealed class RecoveryOptions
{
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(30);

    // A droplet taken more recently than this may still be between its answer and its workflow start.
    public TimeSpan Grace { get; set; } = TimeSpan.FromSeconds(30);

    // How often the sweep also compares every droplet with KubeVirt (DriftReport), at its first run and then at most this often.
    public TimeSpan DriftInterval { get; set; } = TimeSpan.FromMinutes(5);
}

// Handlers take the droplet (and write it) before they start the workflow that will release it. If the
// process dies in between, nothing would ever release it. This sweep finds droplets held by an action
// for longer than the grace period whose workflow instance does not exist, writes the action record if
// it is missing, and starts the workflow (ActionStarter.ResumeAsync). Instance ids are derived from the action, so a race with a
// late start is harmless, and every workflow step is idempotent. Volumes are swept the same way.
// Each sweep also deletes the console tickets that expired unused (ConsoleTickets.SweepAsync).
// A workflow that ended without releasing its droplet or volume — terminated by an operator (Durable's terminate
// endpoint), or failed — is settled here too: see SettleAsync and SettleVolumeAsync.
public sealed class ActionRecovery(
    DropletStore droplets, VolumeStore volumes, ActionStarter starter, ActionActivities activities, VolumeActivities volumeActivities, KubeVirtClients clusters,
    DriftReport drift, VncConsole.ConsoleTickets tickets, IOptions<ProvisioningOptions> provisioning, IOptions<ActionOptions> actionOptions, IOptions<RecoveryOptions> options, TimeProvider time,
    ILogger<ActionRecovery> log)
{
    DateTimeOffset nextDrift = DateTimeOffset.MinValue;

    // The client is a parameter because the Functions host hands it out per invocation (binding).
    public async Task<int> RunOnceAsync(DurableTaskClient workflows, CancellationToken cancellationToken)
    {
        var recovered = 0;
        await foreach (var droplet in droplets.ListLockedAsync(time.GetUtcNow() - options.Value.Grace, cancellationToken))
        {
            // A droplet held by a volume's attach or detach: that volume's workflow, recovered below.
            if (droplet is not { LockedBy: { } actionId, LockedFor: { } type } || VolumeActionRules.HoldsDroplet(type))
                continue;
            var instanceId = ActionRules.For(type).InstanceIdFor(droplet.Id, actionId);
            try
            {
                var (instance, ended) = await InstanceAsync(workflows, instanceId, cancellationToken);
                if (ended)
                {
                    if (await SettleAsync(droplet, instance!, cancellationToken))
                        recovered++;
                    continue;
                }
                // Pending or running, it will release the droplet itself (a completed one already has).
                if (instance is not null)
                    continue;
                await starter.ResumeAsync(new ResourceAction
                {
                    Id = actionId, Type = type, Status = ActionStatus.InProgress, StartedAt = droplet.UpdatedAt,
                    ResourceId = droplet.Id, Region = droplet.Region, ProjectId = droplet.ProjectId, CreatedBy = droplet.CreatedBy,
                }, () => ActionRules.StartAsync(workflows, droplet,
                    type == ActionType.Create ? provisioning.Value.Deadline : actionOptions.Value.Deadline, cancellationToken), cancellationToken);
                recovered++;
                log.LogWarning("Droplet {DropletId} was held by {ActionId} without a workflow; started it", droplet.Id, actionId);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogWarning(e, "Could not start the workflow of {ActionId}; will retry", actionId);
            }
        }
        recovered += await RecoverVolumesAsync(workflows, cancellationToken) + await HealUnobservedAsync(cancellationToken);
        // Not a recovery, but the same rhythm: console tickets that expired unused.
        await tickets.SweepAsync(cancellationToken);
        if (time.GetUtcNow() >= nextDrift)
        {
            nextDrift = time.GetUtcNow() + options.Value.DriftInterval;
            recovered += await drift.RunOnceAsync(cancellationToken);
        }
        return recovered;
    }

    // The code of an action that ended because the region's cluster could not be driven or read until its deadline:
    // the droplet was recorded in error without a word from KubeVirt.
    public const string ClusterUnreachable = "action_failed";

    // Such a droplet takes what KubeVirt reports once it answers again and is at rest in a state the droplet can show:
    // a VM that runs is running, one that is stopped is stopped (the action stays errored; its end is history). A VM
    // that is gone, failed, or not at rest leaves the droplet in error: deleting it again, a power action or a rebuild
    // is the user's to choose. A create cut short the same way (ProvisionDroplet.ClusterUnreachable) is running once
    // its VM is provisioned as a create would have found it (running, both IPs, its volumes attached); a VM it never
    // made leaves it in error. A rebuild ends with a code of its own, so a VM whose disk it may have taken away is never
    // shown as healthy here. One filtered query of the droplets table per code and sweep.
    async Task<int> HealUnobservedAsync(CancellationToken cancellationToken)
    {
        var healed = 0;
        foreach (var code in new[] { ClusterUnreachable, ProvisionDroplet.ClusterUnreachable })
            await foreach (var droplet in droplets.ListInErrorAsync(code, cancellationToken))
                if (!droplet.Locked && await HealAsync(droplet, code, cancellationToken))
                    healed++;
        return healed;
    }

    async Task<bool> HealAsync(Droplet droplet, string code, CancellationToken cancellationToken)
    {
        try
        {
            var seen = await clusters.For(droplet.Region).ObserveDropletAsync(droplet.Namespace, droplet.Id, cancellationToken);
            var status = code == ProvisionDroplet.ClusterUnreachable
                ? seen.AtRest && ProvisionDroplet.IsProvisioned(seen) ? DropletStatus.Running : DropletStatus.Error
                : seen is { Exists: true, AtRest: true, PrintableStatus: "Running" or "Stopped" } ? DropletStatusRules.Map(seen.PrintableStatus, DropletStatus.Error) : DropletStatus.Error;
            if (status == DropletStatus.Error)
                return false;
            await droplets.UpdateAsync(droplet.ProjectId, droplet.Id, current => current is { LockedBy: null, Status: DropletStatus.Error } && current.Error?.Code == code
                ? current with { Status = status, PrivateIp = seen.PrivateIp ?? current.PrivateIp, PublicIp = seen.PublicIp ?? current.PublicIp, Error = null }
                : null, cancellationToken);
            log.LogWarning("Droplet {DropletId} was in error because its cluster could not be reached; KubeVirt reports {PrintableStatus}, so it is {Status}",
                droplet.Id, seen.PrintableStatus, status);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning(e, "Could not read droplet {DropletId} from its cluster; will retry", droplet.Id);
            return false;
        }
    }

    // The workflow is over and will never release the droplet, so the sweep ends its action: errored, in words that
    // say what happened. An action whose rule has an error for being left unfinished (a create, a delete, a rebuild)
    // stopped halfway: the droplet is in error, and those words say what to do. After other actions the droplet takes what KubeVirt reports
    // once KubeVirt is at rest (nothing queued, and running, stopped, paused or failed; until then the droplet stays held and the next sweep
    // looks again), or what it reports when the action's deadline has passed.
    async Task<bool> SettleAsync(Droplet droplet, OrchestrationMetadata instance, CancellationToken cancellationToken)
    {
        var ended = Ended(instance);
        DropletStatus status;
        string? privateIp = null;
        ErrorDetail error;
        var type = droplet.LockedFor!.Value;
        if (ActionRules.For(type).Unfinished is { } unfinished)
        {
            (status, error) = (DropletStatus.Error, unfinished with { Message = $"{ended} {unfinished.Message}" });
        }
        else
        {
            var seen = await clusters.For(droplet.Region).ObserveDropletAsync(droplet.Namespace, droplet.Id, cancellationToken);
            if (!seen.AtRest && time.GetUtcNow() < droplet.UpdatedAt + actionOptions.Value.Deadline)
                return false;
            status = seen.Exists ? DropletStatusRules.Map(seen.PrintableStatus, droplet.LockedFrom ?? DropletStatus.Error) : DropletStatus.Error;
            privateIp = seen.PrivateIp;
            error = new ErrorDetail("action_interrupted", $"{ended}; KubeVirt reports {(seen.Exists ? seen.PrintableStatus ?? "no status" : "no VirtualMachine")}.");
        }
        await activities.FinishActionAsync(new ActionOutcome(new DropletRef(droplet.Id, droplet.ProjectId), droplet.LockedBy!, ActionStatus.Errored, status, privateIp, error),
            cancellationToken);
        log.LogWarning("Droplet {DropletId} was held by {ActionId}, whose workflow ended as {RuntimeStatus}; released it as {Status}",
            droplet.Id, droplet.LockedBy, instance.RuntimeStatus, status);
        return true;
    }

    // The workflow's instance (null: there is none), and whether it ended without releasing what it held (terminated
    // or failed; then read with its output, which holds the reason).
    static async Task<(OrchestrationMetadata? Instance, bool Ended)> InstanceAsync(DurableTaskClient workflows, string instanceId, CancellationToken cancellationToken)
    {
        var instance = await workflows.GetInstanceAsync(instanceId, cancellationToken);
        return instance is { RuntimeStatus: OrchestrationRuntimeStatus.Terminated or OrchestrationRuntimeStatus.Failed }
            ? (await workflows.GetInstanceAsync(instanceId, getInputsAndOutputs: true, cancellationToken) ?? instance, true)
            : (instance, false);
    }

    // "Its workflow was terminated (reason)" or "Its workflow failed (message)". A terminate's reason is the instance's
    // output: JSON from the Durable Task SDK, the bare text from Durable Functions' terminate endpoint.
    static string Ended(OrchestrationMetadata instance)
    {
        var reason = instance.RuntimeStatus == OrchestrationRuntimeStatus.Terminated
            ? instance.SerializedOutput is ['"', .., '"'] quoted ? System.Text.Json.JsonSerializer.Deserialize<string>(quoted) : instance.SerializedOutput
            : instance.FailureDetails?.ErrorMessage;
        if (reason is { Length: > 200 })
            reason = reason[..200] + "…";
        return (instance.RuntimeStatus == OrchestrationRuntimeStatus.Terminated ? "Its workflow was terminated" : "Its workflow failed")
            + (string.IsNullOrEmpty(reason) ? "" : $" ({reason})");
    }

    // As SettleAsync, for a volume. After an attach or a detach the volume is as KubeVirt has it once nothing is
    // queued (attached exactly when the droplet's VM has it in its template), and the droplet is released with its
    // volume_ids agreeing. A create or a delete stopped halfway leaves the volume in error (delete it, again); a
    // resize, at its recorded size.
    async Task<bool> SettleVolumeAsync(Volumes.Volume volume, OrchestrationMetadata instance, CancellationToken cancellationToken)
    {
        var ended = Ended(instance);
        var input = VolumeWorkflows.InputFor(volume, actionOptions.Value.Deadline);
        VolumeOutcome Errored(VolumeStatus? status, bool attached, string message) =>
            new(input.Volume, input.ActionId, ActionStatus.Errored, status, input.DropletId, attached, null, new ErrorDetail("action_interrupted", message));
        VolumeOutcome outcome;
        switch (volume.LockedFor!.Value)
        {
            case ActionType.Attach or ActionType.Detach:
                var cluster = clusters.For(volume.Region);
                var (ns, vmName) = (volume.Namespace, DropletMapping.VmNameFor(input.DropletId!));
                var vm = cluster.GetVirtualMachineAsync(ns, vmName, cancellationToken);
                var vmi = cluster.GetInstanceAsync(ns, vmName, cancellationToken);
                var state = VolumeMapping.Attachment(await vm, await vmi, volume.Id);
                if ((state.AddRequested || state.RemoveRequested) && time.GetUtcNow() < volume.UpdatedAt + actionOptions.Value.Deadline)
                    return false;
                outcome = Errored(state.InTemplate ? VolumeStatus.Attached : VolumeStatus.Available, state.InTemplate,
                    $"{ended}; KubeVirt has the volume {(state.InTemplate ? "attached" : "detached")} ({state.Describe()}).");
                break;
            case ActionType.Create:
                outcome = Errored(VolumeStatus.Error, false, $"{ended} before the volume's claim was ready; delete the volume and create it again.");
                break;
            case ActionType.Delete:
                outcome = Errored(VolumeStatus.Error, false, $"{ended} before the volume's claim was gone; delete the volume again to retry.");
                break;
            case ActionType.Resize:
                outcome = Errored(null, false, $"{ended}; the volume keeps its recorded size of {volume.SizeGigabytes} GiB.");
                break;
            default:
                throw new InvalidOperationException($"Volumes have no {volume.LockedFor} action.");
        }
        await volumeActivities.FinishAsync(outcome, cancellationToken);
        log.LogWarning("Volume {VolumeId} was held by {ActionId}, whose workflow ended as {RuntimeStatus}; released it as {Status}",
            volume.Id, volume.LockedBy, instance.RuntimeStatus, outcome.VolumeStatus?.ToString() ?? volume.Status.ToString());
        return true;
    }

    async Task<int> RecoverVolumesAsync(DurableTaskClient workflows, CancellationToken cancellationToken)
    {
        var recovered = 0;
        await foreach (var volume in volumes.ListLockedAsync(time.GetUtcNow() - options.Value.Grace, cancellationToken))
        {
            if (volume is not { LockedBy: { } actionId, LockedFor: { } type })
                continue;
            try
            {
                // Reserved by a droplet's create: the droplet's provisioning settles it. If the create died before
                // writing the droplet, nothing was acknowledged: let the volume go.
                if (type == ActionType.Create && volume.PendingDropletId is { } dropletId)
                {
                    if (await droplets.GetAsync(volume.ProjectId, dropletId, cancellationToken) is null)
                    {
                        await VolumeReservations.ReleaseAsync(volumes, volume.ProjectId, [volume.Id], actionId, cancellationToken);
                        recovered++;
                        log.LogWarning("Volume {VolumeId} was reserved for droplet {DropletId}, which was never written; released it", volume.Id, dropletId);
                    }
                    continue;
                }
                var (instance, ended) = await InstanceAsync(workflows, ResourceAction.InstanceIdFor(actionId), cancellationToken);
                if (ended)
                {
                    if (await SettleVolumeAsync(volume, instance!, cancellationToken))
                        recovered++;
                    continue;
                }
                if (instance is not null)
                    continue;
                await starter.ResumeAsync(new ResourceAction
                {
                    Id = actionId, Type = type, Status = ActionStatus.InProgress, StartedAt = volume.UpdatedAt,
                    ResourceId = volume.Id, Region = volume.Region, ProjectId = volume.ProjectId, CreatedBy = volume.CreatedBy,
                }, () => VolumeWorkflows.StartAsync(workflows, volume, actionOptions.Value.Deadline, cancellationToken), cancellationToken);
                recovered++;
                log.LogWarning("Volume {VolumeId} was held by {ActionId} without a workflow; started it", volume.Id, actionId);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogWarning(e, "Could not recover volume action {ActionId}; will retry", actionId);
            }
        }
        return recovered;
    }
}

// Runs the sweep periodically in the standalone host (the Functions app uses a timer trigger instead).
public sealed class ActionRecoveryService(
    ActionRecovery recovery, DurableTaskClient workflows, IOptions<RecoveryOptions> options, ILogger<ActionRecoveryService> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await recovery.RunOnceAsync(workflows, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogWarning(e, "Action recovery sweep failed; next one in {Interval}", options.Value.Interval);
            }
        }
    }
}
