using System.Net;
using Droplets.Actions;
using Droplets.Droplets;
using Droplets.KubeVirt;
using Droplets.Provisioning;
using k8s.Autorest;
using Microsoft.Extensions.Options;

namespace Droplets.Volumes;

// The I/O of the volume workflows. Every step is idempotent: re-run after a crash or a retry, it leaves the
// same state as running it once (creates accept AlreadyExists, deletes NotFound, requests already queued or
// applied are not sent again, record updates are conditional on the action still holding the record).
public sealed class VolumeActivities(
    VolumeStore volumes, DropletStore droplets, ActionStore actions, KubeVirtClients clusters, Poller poller, TimeProvider time)
{
    public async Task CreateClaimAsync(VolumeRef volume, CancellationToken cancellationToken)
    {
        var record = await RecordAsync(volume, cancellationToken);
        var cluster = clusters.For(record.Region);
        await cluster.EnsureNamespaceAsync(record.Namespace, cancellationToken);
        await cluster.CreateDataVolumeAsync(VolumeMapping.DataVolume(record), cancellationToken);
    }

    // Create: the DataVolume has succeeded (a blank one: its claim is bound). Resize: the claim's capacity
    // shows the new size.
    public async Task<VolumeObservation> ObserveClaimAsync(VolumeObserveInput input, CancellationToken cancellationToken)
    {
        var record = await RecordAsync(input.Action.Volume, cancellationToken);
        var (cluster, ns, name) = Locate(record);
        if (input.Action.Type == ActionType.Resize)
        {
            var wanted = (long)input.Action.Size!.Value << 30;
            return await poller.PollAsync(cluster, record.Id, async reads =>
            {
                var claim = await reads.GetClaimAsync(ns, name, cancellationToken);
                var capacity = claim?.Status?.Capacity is { } c && c.TryGetValue("storage", out var size) ? size : null;
                return new VolumeObservation(capacity is not null && capacity.ToInt64() >= wanted, null,
                    claim is null ? "no claim" : $"capacity {capacity?.ToString() ?? "unknown"}");
            }, Decisive, input.Wait, cancellationToken);
        }
        return await poller.PollAsync(cluster, record.Id, async reads =>
        {
            var dv = await reads.GetDataVolumeAsync(ns, name, cancellationToken);
            var phase = dv?.Status?.Phase;
            var failure = phase == "Failed"
                ? dv!.Status!.Conditions?.FirstOrDefault(c => c.Status == "False" && !string.IsNullOrEmpty(c.Message))?.Message ?? "CDI reports the DataVolume Failed."
                : null;
            return new VolumeObservation(phase == "Succeeded", failure, phase is null ? "no DataVolume" : $"phase {phase}");
        }, Decisive, input.Wait, cancellationToken);
    }

    public async Task DeleteClaimAsync(VolumeRef volume, CancellationToken cancellationToken)
    {
        var record = await RecordAsync(volume, cancellationToken);
        var (cluster, ns, name) = Locate(record);
        await cluster.DeleteDataVolumeAsync(ns, name, cancellationToken);
    }

    // Gone: the DataVolume and its claim (which pvc-protection keeps while a pod still mounts it).
    public async Task<VolumeObservation> ObserveDeletionAsync(VolumeObserveInput input, CancellationToken cancellationToken)
    {
        var record = await RecordAsync(input.Action.Volume, cancellationToken);
        var (cluster, ns, name) = Locate(record);
        return await poller.PollAsync(cluster, record.Id, async reads =>
        {
            var dv = await reads.GetDataVolumeAsync(ns, name, cancellationToken);
            var claim = await reads.GetClaimAsync(ns, name, cancellationToken);
            return new VolumeObservation(dv is null && claim is null, null,
                dv is not null ? "the DataVolume still exists" : claim is not null ? "the claim is still in use" : "gone");
        }, Decisive, input.Wait, cancellationToken);
    }

    // The end of a delete, in the droplet's order: the record goes, then the action is closed (and stays readable), so
    // a client that sees it completed no longer finds the volume.
    public async Task RemoveAsync(VolumeOutcome outcome, CancellationToken cancellationToken)
    {
        await volumes.DeleteAsync(outcome.Volume.ProjectId, outcome.Volume.Id, cancellationToken);
        await actions.CompleteAsync(outcome.Volume.Id, outcome.ActionId, ActionStatus.Completed, null, time.GetUtcNow(), cancellationToken);
    }

    // An attach or detach holds the droplet too, so that no other action changes the VM meanwhile. The handler
    // took it already; this is for a workflow that recovery started after a crash in between. Null: held.
    public async Task<string?> TakeDropletAsync(VolumeActionInput input, CancellationToken cancellationToken)
    {
        string? refusal = null;
        var taken = await droplets.UpdateAsync(input.Volume.ProjectId, input.DropletId!, current =>
        {
            refusal = VolumeRules.DropletRefusal(input.Type, current, input.ActionId)?.Message;
            return refusal is not null || current.LockedBy == input.ActionId ? null : VolumeRules.Hold(current, input.ActionId, input.Type);
        }, cancellationToken);
        return taken is null ? $"Droplet '{input.DropletId}' no longer exists." : refusal;
    }

    // Sends addvolume unless the VM already has the volume or an add for it is queued (a re-run). KubeVirt's
    // refusals come back in its words.
    public async Task<string?> RequestAttachAsync(VolumeActionInput input, CancellationToken cancellationToken)
    {
        var (cluster, ns, vmName) = await DropletVmAsync(input, cancellationToken);
        var state = VolumeMapping.Attachment(await cluster.GetVirtualMachineAsync(ns, vmName, cancellationToken), null, input.Volume.Id);
        if (!state.VmExists)
            return $"The droplet's VirtualMachine {ns}/{vmName} does not exist.";
        if (state.InTemplate || state.AddRequested)
            return null;
        var answer = await cluster.PutSubresourceAsync(ns, vmName, "addvolume", VolumeMapping.AddVolumeOptions(input.Volume.Id), cancellationToken);
        return answer.Accepted ? null : answer.Refusal;
    }

    // Sends removevolume unless there is nothing to remove (no VM, not in its template) or a removal is queued.
    public async Task<string?> RequestDetachAsync(VolumeActionInput input, CancellationToken cancellationToken)
    {
        var (cluster, ns, vmName) = await DropletVmAsync(input, cancellationToken);
        var state = VolumeMapping.Attachment(await cluster.GetVirtualMachineAsync(ns, vmName, cancellationToken), null, input.Volume.Id);
        if (!state.VmExists || !state.InTemplate || state.RemoveRequested)
            return null;
        var answer = await cluster.PutSubresourceAsync(ns, vmName, "removevolume", VolumeMapping.RemoveVolumeOptions(input.Volume.Id), cancellationToken);
        return answer.Accepted ? null : answer.Refusal;
    }

    public async Task<VolumeObservation> ObserveAttachmentAsync(VolumeObserveInput input, CancellationToken cancellationToken)
    {
        var (cluster, ns, vmName) = await DropletVmAsync(input.Action, cancellationToken);
        var attach = input.Action.Type == ActionType.Attach;
        return await poller.PollAsync(cluster, input.Action.DropletId!, async reads =>
        {
            var vm = reads.GetVirtualMachineAsync(ns, vmName, cancellationToken);
            var vmi = reads.GetInstanceAsync(ns, vmName, cancellationToken);
            await Task.WhenAll(vm, vmi);
            var state = VolumeMapping.Attachment(vm.Result, vmi.Result, input.Action.Volume.Id);
            if (attach && !state.VmExists)
                return new VolumeObservation(false, $"The droplet's VirtualMachine {ns}/{vmName} no longer exists.", "no VirtualMachine");
            return new VolumeObservation(attach ? state.Attached : state.Detached, null, state.Describe());
        }, Decisive, input.Wait, cancellationToken);
    }

    // Grows the claim (DataVolume specs are immutable in CDI, so the claim it made is patched).
    public async Task<string?> GrowClaimAsync(VolumeActionInput input, CancellationToken cancellationToken)
    {
        var record = await RecordAsync(input.Volume, cancellationToken);
        var (cluster, ns, name) = Locate(record);
        try
        {
            await cluster.PatchClaimStorageAsync(ns, name, VolumeMapping.Quantity(input.Size!.Value), cancellationToken);
            return null;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode is HttpStatusCode.UnprocessableEntity or HttpStatusCode.NotFound or HttpStatusCode.Forbidden)
        {
            return KubernetesMessage(e);
        }
    }

    // Ends a volume action: the droplet it held is released with the volume in or out of its volume_ids, the
    // volume takes its end state and is released, the action record is closed. Each write is conditional on
    // the action still holding the record, so a replay changes nothing.
    public async Task FinishAsync(VolumeOutcome outcome, CancellationToken cancellationToken)
    {
        if (outcome.DropletId is { } dropletId)
        {
            await droplets.UpdateAsync(outcome.Volume.ProjectId, dropletId, current => current.LockedBy != outcome.ActionId ? null : current with
            {
                VolumeIds = outcome.Attached
                    ? current.VolumeIds.Contains(outcome.Volume.Id) ? current.VolumeIds : [.. current.VolumeIds, outcome.Volume.Id]
                    : current.VolumeIds.Where(v => v != outcome.Volume.Id).ToArray(),
                LockedBy = null,
                LockedFor = null,
                LockedFrom = null,
            }, cancellationToken);
        }
        await volumes.UpdateAsync(outcome.Volume.ProjectId, outcome.Volume.Id, current =>
        {
            if (current.LockedBy != outcome.ActionId)
                return null;
            var status = outcome.VolumeStatus ?? current.Status;
            return current with
            {
                Status = status,
                DropletId = outcome.VolumeStatus is null ? current.DropletId : outcome.Attached ? outcome.DropletId : null,
                SizeGigabytes = outcome.Size ?? current.SizeGigabytes,
                Error = status == VolumeStatus.Error ? outcome.Error ?? current.Error : null,
                LockedBy = null,
                LockedFor = null,
                PendingDropletId = null,
                PendingSize = null,
            };
        }, cancellationToken);
        await actions.CompleteAsync(outcome.Volume.Id, outcome.ActionId, outcome.Status, outcome.Error, time.GetUtcNow(), cancellationToken);
    }

    // The droplet's VirtualMachine is gone: its volumes are available again (claims and data kept), and a
    // reservation by its create action, if one is left, is dropped.
    public async Task DetachDropletVolumesAsync(DropletRef droplet, CancellationToken cancellationToken)
    {
        var held = await volumes.ListForDropletAsync(droplet.ProjectId, droplet.Id, cancellationToken).ToListAsync(cancellationToken);
        foreach (var volume in held)
            await volumes.UpdateAsync(volume.ProjectId, volume.Id, current => VolumeRules.Released(current, droplet.Id), cancellationToken);
    }

    // An observation the orchestrator acts on: the change is done, or KubeVirt or CDI reports it failed.
    static bool Decisive(VolumeObservation seen) => seen.Done || seen.Failure is not null;

    async Task<Volume> RecordAsync(VolumeRef volume, CancellationToken cancellationToken) =>
        await volumes.GetAsync(volume.ProjectId, volume.Id, cancellationToken)
            ?? throw new InvalidOperationException($"Volume {volume.Id} has no record.");

    (KubeVirtClient Cluster, string Namespace, string Name) Locate(Volume record) =>
        (clusters.For(record.Region), record.Namespace, VolumeMapping.ClaimNameFor(record.Id));

    async Task<(KubeVirtClient Cluster, string Namespace, string VmName)> DropletVmAsync(VolumeActionInput input, CancellationToken cancellationToken)
    {
        var record = await RecordAsync(input.Volume, cancellationToken);
        return (clusters.For(record.Region), record.Namespace, DropletMapping.VmNameFor(input.DropletId!));
    }

    static string KubernetesMessage(HttpOperationException e)
    {
        try
        {
            return System.Text.Json.JsonDocument.Parse(e.Response.Content).RootElement.GetProperty("message").GetString() ?? e.Message;
        }
        catch (Exception parse) when (parse is System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return e.Message;
        }
    }
}
