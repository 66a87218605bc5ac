using Droplets.Droplets;
using Droplets.KubeVirt;
using Droplets.Provisioning;
using Microsoft.Extensions.Options;

namespace Droplets.Actions;

public sealed class ActionOptions
{
    // How long a power action or a delete may take before it is recorded as errored.
    public TimeSpan Deadline { get; set; } = TimeSpan.FromMinutes(5);
}

// The I/O of the action workflows. Every step is idempotent: a step re-run after a crash or a retry
// leaves the same state as running it once.
public sealed class ActionActivities(
    DropletStore droplets, ActionStore actions, KubeVirtClients clusters, Poller poller, TimeProvider time)
{
    // Asks KubeVirt to restart, stop or start the VM. Starting a running VM or stopping a stopped one
    // is already done, not a failure; restarting a VM that is not running is refused, in KubeVirt's words, as is
    // any action on a VM that is not there.
    public async Task<PowerRequestResult> RequestPowerAsync(ActionInput input, CancellationToken cancellationToken)
    {
        var (record, cluster) = await ClusterOfAsync(input.Droplet, cancellationToken);
        var before = await cluster.ObserveDropletAsync(record.Namespace, record.Id, cancellationToken);
        var subresource = input.Type switch
        {
            ActionType.Reboot => "restart",
            ActionType.PowerOff => "stop",
            ActionType.PowerOn => "start",
            _ => throw new InvalidOperationException($"A {input.Type} is not a power action."),
        };
        var answer = await cluster.PutSubresourceAsync(record.Namespace, DropletMapping.VmNameFor(record.Id), subresource, cancellationToken);
        var alreadyThere = (input.Type, answer.Refusal) switch
        {
            (ActionType.PowerOn, { } r) when r.Contains("already running", StringComparison.OrdinalIgnoreCase) => true,
            (ActionType.PowerOff, { } r) when r.Contains("not running", StringComparison.OrdinalIgnoreCase) => true,
            // Halted already, its VMI still stopping (an earlier stop whose workflow was cut short): being stopped.
            (ActionType.PowerOff, { } r) when r.Contains("Halted only supports manual stop requests", StringComparison.Ordinal) => true,
            _ => false,
        };
        // Refused, the droplet takes what KubeVirt reports; from error, error stays while KubeVirt cannot tell.
        var now = before.Exists ? DropletStatusRules.Map(before.PrintableStatus, record.LockedFrom ?? DropletStatus.Running) : DropletStatus.Error;
        // Nothing to do for KubeVirt: no VMI is replaced, so what the one there reports is the outcome.
        return new PowerRequestResult(alreadyThere ? null : before.InstanceUid, answer.Accepted || alreadyThere ? null : answer.Refusal, now);
    }

    public async Task<VmObservation> ObservePowerAsync(PowerObserveInput input, CancellationToken cancellationToken)
    {
        var (record, cluster) = await ClusterOfAsync(input.Action.Droplet, cancellationToken);
        return await poller.PollAsync(cluster, record.Id, reads => reads.ObserveDropletAsync(record.Namespace, record.Id, cancellationToken),
            seen => ActionRules.Reached(input.Action.Type, seen, input.PreviousInstanceUid) || ActionRules.Failure(input.Action.Type, seen, input.PreviousInstanceUid) is not null,
            input.Wait, cancellationToken);
    }

    public async Task DeleteVirtualMachineAsync(DropletRef droplet, CancellationToken cancellationToken)
    {
        var (record, cluster) = await ClusterOfAsync(droplet, cancellationToken);
        var ns = record.Namespace;
        // The VM's VMI, launcher pod and DataVolume-template disks go with it (owner references).
        await cluster.DeleteVirtualMachineAsync(ns, DropletMapping.VmNameFor(record.Id), cancellationToken);
        await cluster.DeleteServiceAsync(ns, DropletMapping.PublicServiceNameFor(record.Id), cancellationToken);
    }

    // Done when the VM and its Service are gone. One that is there and not being deleted is deleted again: a step of
    // another workflow still in flight (a terminated create's CreateVirtualMachine runs to its end) may have made it
    // after this delete's first pass. The watch's store may not have seen this delete yet, so what it shows there is
    // asked of the API server first.
    public async Task<bool> ObserveDeletionAsync(PowerObserveInput input, CancellationToken cancellationToken)
    {
        var (record, cluster) = await ClusterOfAsync(input.Action.Droplet, cancellationToken);
        var ns = record.Namespace;
        var vmName = DropletMapping.VmNameFor(record.Id);
        var serviceName = DropletMapping.PublicServiceNameFor(record.Id);
        async Task<bool> GoneAsync(ClusterReads reads)
        {
            var (vmRead, serviceRead) = (reads.GetVirtualMachineAsync(ns, vmName, cancellationToken), reads.GetServiceAsync(ns, serviceName, cancellationToken));
            var (vm, service) = (await vmRead, await serviceRead);
            var undeleted = vm is { Metadata.DeletionTimestamp: null } || service is { Metadata.DeletionTimestamp: null };
            if (undeleted && reads.Cached)
                return await GoneAsync(cluster.Reads(cached: false));
            if (vm is { Metadata.DeletionTimestamp: null })
                await cluster.DeleteVirtualMachineAsync(ns, vmName, cancellationToken);
            if (service is { Metadata.DeletionTimestamp: null })
                await cluster.DeleteServiceAsync(ns, serviceName, cancellationToken);
            return vm is null && service is null;
        }
        return await poller.PollAsync(cluster, record.Id, GoneAsync, gone => gone, input.Wait, cancellationToken);
    }

    // Ends an action: the droplet takes its end state (and what `completed` records of the action's effect, read from
    // the droplet as it is then) and is released; the action record is closed last.
    public async Task FinishActionAsync(ActionOutcome outcome, CancellationToken cancellationToken, Func<Droplet, Droplet>? completed = null)
    {
        await droplets.UpdateAsync(outcome.Droplet.ProjectId, outcome.Droplet.Id, current => current.LockedBy != outcome.ActionId ? null : (completed?.Invoke(current) ?? current) with
        {
            Status = outcome.DropletStatus,
            PrivateIp = outcome.PrivateIp ?? current.PrivateIp,
            Error = outcome.DropletStatus == DropletStatus.Error ? outcome.Error : null,
            LockedBy = null,
            LockedFor = null,
            LockedFrom = null,
            LockedWith = null,
        }, cancellationToken);
        await actions.CompleteAsync(outcome.Droplet.Id, outcome.ActionId, outcome.Status, outcome.Error, time.GetUtcNow(), cancellationToken);
    }

    // The end of a delete: the droplet record goes, then the action is closed (and stays readable). As in
    // FinishActionAsync, an action's end is written last, so a client that sees it completed sees its effect.
    public async Task RemoveDropletAsync(ActionOutcome outcome, CancellationToken cancellationToken)
    {
        await droplets.DeleteAsync(outcome.Droplet.ProjectId, outcome.Droplet.Id, cancellationToken);
        await actions.CompleteAsync(outcome.Droplet.Id, outcome.ActionId, ActionStatus.Completed, null, time.GetUtcNow(), cancellationToken);
    }

    async Task<(Droplet Record, KubeVirtClient Cluster)> ClusterOfAsync(DropletRef droplet, CancellationToken cancellationToken)
    {
        var record = await droplets.GetAsync(droplet.ProjectId, droplet.Id, cancellationToken)
            ?? throw new InvalidOperationException($"Droplet {droplet.Id} has no record.");
        return (record, clusters.For(record.Region));
    }
}
