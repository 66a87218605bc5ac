using Droplets.Catalog;
using Droplets.Droplets;
using Droplets.KubeVirt;
using Droplets.Provisioning;
using Microsoft.DurableTask;
using Microsoft.Extensions.Options;

namespace Droplets.Actions;

public sealed record RebuildInput(ActionInput Action, string Image);

// What RestoreRootDisk found: the old disk still going, the template put back, or the new DataVolume made.
public enum RootDiskState { OldDiskGoing, Restored, NewDiskMade }

// Rebuild: the root disk is made again from an image. The droplet keeps its id, name, public IP, plan, SSH keys, user
// data and attached volumes; its new VMI gets a new private IP, as after a reboot. In KubeVirt's terms: stop the VM
// (the stop subresource), take the root disk's DataVolume template out of the VM and delete the DataVolume (CDI's
// claim goes with it), and once both are gone put the template back with the new image and the run strategy Always:
// the VM controller creates the DataVolume, CDI imports the image, the VM boots, and cloud-init runs again on the
// fresh disk. Hotplugged volumes stay in the VM's template, so they are attached again when it runs.
public static class RebuildDroplet
{
    public const string Name = nameof(RebuildDroplet);
    public const string RemoveRootDisk = nameof(RemoveRootDisk);
    public const string RestoreRootDisk = nameof(RestoreRootDisk);
    public const string RecordRebuild = nameof(RecordRebuild);

    // Allowed from error too: a disk that failed to import is exactly what a rebuild replaces.
    public static ActionRule Rule { get; } = new(ActionType.Rebuild, [DropletStatus.Running, DropletStatus.Stopped, DropletStatus.Error],
        DropletStatus.Rebuilding, ActionEnd.Running, Name, (input, held) => new RebuildInput(input, held.LockedWith!),
        "Rebuild", "Rebuilt: the droplet is running from a fresh disk.",
        Unfinished: new("action_interrupted", "before the new disk was running; rebuild the droplet again, or delete it."), Posted: true,
        Argument: new ActionArgument("image", (image, catalog) => catalog.Images.ContainsKey(image) ? null : $"unknown image {Http.FieldErrors.Quote(image)}."));

    public static async Task<ActionOutcome> RunAsync(TaskOrchestrationContext context, RebuildInput input)
    {
        var action = input.Action;
        ActionOutcome outcome;
        try
        {
            outcome = await RebuildAsync(context, input, context.CurrentUtcDateTime + action.Deadline);
        }
        catch (TaskFailedException e)
        {
            // Not ActionRecovery.ClusterUnreachable: the disk may be gone, so the droplet stays in error until rebuilt again.
            outcome = Errored(action, DropletStatus.Error, "rebuild_failed", $"{WorkflowPolicy.ClusterFailure(context, e)} Rebuild the droplet again.");
        }
        await context.CallActivityAsync(outcome.Status == ActionStatus.Completed ? RecordRebuild : ActionWorkflows.FinishAction, outcome, WorkflowPolicy.UntilDone);
        return outcome;
    }

    static async Task<ActionOutcome> RebuildAsync(TaskOrchestrationContext context, RebuildInput input, DateTime deadline)
    {
        var action = input.Action;
        var seconds = action.Deadline.TotalSeconds;
        context.SetCustomStatus(new ActionProgress(10));
        var stopping = action with { Type = ActionType.PowerOff };
        var stop = await context.CallActivityAsync<PowerRequestResult>(ActionWorkflows.RequestPower, stopping, WorkflowPolicy.Until(deadline));
        if (stop.Refusal is not null)
            return Errored(action, stop.StatusNow, "kubevirt_refused", stop.Refusal);

        // Stopped means no VMI: a VM whose disk failed shows the disk's error rather than Stopped.
        var stopped = await WorkflowPolicy.WaitAsync(context, deadline,
            wait => context.CallActivityAsync<VmObservation>(ActionWorkflows.ObservePower, new PowerObserveInput(stopping, stop.PreviousInstanceUid, wait), WorkflowPolicy.Until(deadline)),
            Stopped);
        if (!Stopped(stopped))
            return Errored(action, DropletStatusRules.Map(stopped.PrintableStatus, DropletStatus.Running), "action_timeout",
                $"KubeVirt did not stop the VM within {seconds:0} s; it last reported {stopped.PrintableStatus ?? "nothing"}. The disk is unchanged.");

        context.SetCustomStatus(new ActionProgress(30));
        await context.CallActivityAsync(RemoveRootDisk, input, WorkflowPolicy.Until(deadline));
        context.SetCustomStatus(new ActionProgress(50));
        var restored = await WorkflowPolicy.WaitAsync(context, deadline,
            _ => context.CallActivityAsync<RootDiskState>(RestoreRootDisk, input, WorkflowPolicy.Until(deadline)), state => state == RootDiskState.NewDiskMade);
        if (restored != RootDiskState.NewDiskMade)
            return Errored(action, DropletStatus.Error, "action_timeout", restored == RootDiskState.OldDiskGoing
                ? $"The old root disk was not gone within {seconds:0} s; rebuild the droplet again."
                : $"KubeVirt did not make the new root disk within {seconds:0} s; rebuild the droplet again.");

        context.SetCustomStatus(new ActionProgress(70));
        var starting = action with { Type = ActionType.PowerOn };
        var seen = await ActionWorkflows.ObserveAsync(context, starting, null, deadline);
        if (ActionRules.Reached(ActionType.PowerOn, seen, null))
            return new ActionOutcome(action.Droplet, action.ActionId, ActionStatus.Completed, DropletStatus.Running, seen.PrivateIp, null);
        return ActionRules.Failure(ActionType.PowerOn, seen, null) is { } code
            ? Errored(action, DropletStatus.Error, code, seen.Message ?? code)
            : Errored(action, DropletStatus.Error, "action_timeout",
                $"KubeVirt did not run the rebuilt VM within {seconds:0} s; it last reported {seen.PrintableStatus ?? "nothing"}.");
    }

    static bool Stopped(VmObservation seen) => seen.InstanceUid is null && seen.PrintableStatus is not ("Stopping" or "Terminating");

    static ActionOutcome Errored(ActionInput input, DropletStatus status, string code, string message) =>
        new(input.Droplet, input.ActionId, ActionStatus.Errored, status, null, new ErrorDetail(code, message));
}

// The I/O of the rebuild; each step is idempotent.
public sealed class RebuildActivities(DropletStore droplets, ActionActivities finish, KubeVirtClients clusters, IOptions<CatalogOptions> catalog)
{
    // With the VM stopped: the template goes first, so that the VM controller does not make the disk again from it.
    public async Task RemoveRootDiskAsync(RebuildInput input, CancellationToken cancellationToken)
    {
        var (droplet, cluster, ns) = await LocateAsync(input, cancellationToken);
        await cluster.PatchVirtualMachineAsync(ns, DropletMapping.VmNameFor(droplet.Id), new { spec = new { dataVolumeTemplates = Array.Empty<object>() } }, cancellationToken);
        await cluster.DeleteDataVolumeAsync(ns, DropletMapping.RootDiskNameFor(droplet.Id), cancellationToken);
    }

    // Once the old DataVolume and its claim are gone, the template comes back with the new image (the same template a
    // create makes, at the droplet's disk size) and the VM is to run; done when the VM controller has made the new
    // DataVolume from it.
    public async Task<RootDiskState> RestoreRootDiskAsync(RebuildInput input, CancellationToken cancellationToken)
    {
        var (droplet, cluster, ns) = await LocateAsync(input, cancellationToken);
        var disk = DropletMapping.RootDiskNameFor(droplet.Id);
        var vm = await cluster.GetVirtualMachineAsync(ns, DropletMapping.VmNameFor(droplet.Id), cancellationToken)
            ?? throw new InvalidOperationException($"The VirtualMachine of droplet {droplet.Id} is gone.");
        var dataVolume = await cluster.GetDataVolumeAsync(ns, disk, cancellationToken);
        if (vm.Spec.DataVolumeTemplates is { Count: > 0 })
            return dataVolume is { Metadata.DeletionTimestamp: null } ? RootDiskState.NewDiskMade : RootDiskState.Restored;
        if (dataVolume is { Metadata.DeletionTimestamp: null })
        {
            // Made again from the template by a VM controller whose cache had not yet seen it removed (its DataVolume
            // and VM informers are separate watches, so the deletion can reach it first): it goes too.
            await cluster.DeleteDataVolumeAsync(ns, disk, cancellationToken);
            return RootDiskState.OldDiskGoing;
        }
        if (dataVolume is not null || await cluster.GetClaimAsync(ns, disk, cancellationToken) is not null)
            return RootDiskState.OldDiskGoing;

        var image = catalog.Value.Images[input.Image];
        var template = DropletMapping.VirtualMachine(droplet with { Image = input.Image }, new Plan { DiskGib = droplet.Disk }, image, catalog.Value, "")
            .Spec.DataVolumeTemplates;
        await cluster.PatchVirtualMachineAsync(ns, vm.Metadata.Name, new { spec = new { runStrategy = "Always", dataVolumeTemplates = template } }, cancellationToken);
        return RootDiskState.Restored;
    }

    // The droplet now runs from the image it was rebuilt with; released, then the action ends (its end is written last,
    // so a client that sees it completed sees the new image).
    public async Task RecordAsync(ActionOutcome outcome, CancellationToken cancellationToken)
    {
        await finish.FinishActionAsync(outcome, cancellationToken, current => current with { Image = current.LockedWith ?? current.Image });
    }

    async Task<(Droplet Droplet, KubeVirtClient Cluster, string Namespace)> LocateAsync(RebuildInput input, CancellationToken cancellationToken)
    {
        var droplet = await droplets.GetAsync(input.Action.Droplet.ProjectId, input.Action.Droplet.Id, cancellationToken)
            ?? throw new InvalidOperationException($"Droplet {input.Action.Droplet.Id} has no record.");
        return (droplet, clusters.For(droplet.Region), droplet.Namespace);
    }
}
