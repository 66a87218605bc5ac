using Droplets.Actions;
using Droplets.Catalog;
using Droplets.Droplets;
using Droplets.KubeVirt;
using Droplets.Volumes;
using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Droplets.Provisioning;

public sealed record DropletRef(string Id, string ProjectId);

public sealed record ProvisionInput(DropletRef Droplet, TimeSpan Deadline);

public sealed record ObserveInput(DropletRef Droplet, TimeSpan Wait);

public sealed record ProvisionResult(DropletRef Droplet, DropletStatus Status, string? PrivateIp, string? PublicIp, ErrorDetail? Error);

public sealed class ProvisioningOptions
{
    // How long a droplet may take to reach Running before it is recorded as failed.
    public TimeSpan Deadline { get; set; } = TimeSpan.FromMinutes(10);

    // How long one observation activity waits on the Kubernetes API for a decisive state. Waiting
    // inside the activity beats durable timers for latency (Azurite timers have ~1 s resolution).
    public TimeSpan ObserveWait { get; set; } = TimeSpan.FromSeconds(20);

    // Waits are woken by the region's watch (ClusterWatch); false: every wait polls, as when no watch is in sync.
    public bool Watch { get; set; } = true;

    // How often a wait polls the API server while no watch is in sync (or for what no watch covers): first after this,
    // doubling to 8 times it.
    public TimeSpan ObservePollInterval { get; set; } = TimeSpan.FromSeconds(1);
}

// The provisioning workflow: create the VirtualMachine and its public Service, then follow KubeVirt
// until the droplet runs with both IPs, fails, or the deadline passes. Deterministic: only context.*
// calls here; all I/O is in ProvisioningActivities.
public static class ProvisionDroplet
{
    public const string Name = nameof(ProvisionDroplet);
    public const string CreateVirtualMachine = nameof(CreateVirtualMachine);
    public const string ObserveVirtualMachine = nameof(ObserveVirtualMachine);
    public const string RecordProvisioning = nameof(RecordProvisioning);

    public static string InstanceIdFor(string dropletId) => $"provision-{dropletId}";

    // The create: from nothing to running. Its instance id is the droplet's (provision-<droplet id>), as it always was,
    // and its deadline is Provisioning:Deadline.
    public static ActionRule Rule { get; } = new(ActionType.Create, [], DropletStatus.Provisioning, ActionEnd.Running,
        Name, (input, _) => new ProvisionInput(input.Droplet, input.Deadline), "Provisioning", "Provisioned: the droplet is running.",
        Unfinished: new("provisioning_interrupted", "before the droplet was running; delete it and create it again."), InstanceOfDroplet: InstanceIdFor);

    // The code of a create that could not drive or read the cluster until its deadline (ActionRecovery heals it).
    public const string ClusterUnreachable = "provisioning_failed";

    public static async Task<ProvisionResult> RunAsync(TaskOrchestrationContext context, ProvisionInput input)
    {
        var log = context.CreateReplaySafeLogger(Name);
        ProvisionResult result;
        try
        {
            result = await ProvisionAsync(context, input);
        }
        catch (TaskFailedException e)
        {
            // The cluster stayed unreachable or refused us through every retry. Say so rather than
            // leave the droplet provisioning forever.
            result = new ProvisionResult(input.Droplet, DropletStatus.Error, null, null, new ErrorDetail(
                ClusterUnreachable, WorkflowPolicy.ClusterFailure(context, e)));
        }
        await context.CallActivityAsync(RecordProvisioning, result, WorkflowPolicy.UntilDone);
        log.LogInformation("Droplet {DropletId} provisioned: {Status}", input.Droplet.Id, result.Status);
        return result;
    }

    static async Task<ProvisionResult> ProvisionAsync(TaskOrchestrationContext context, ProvisionInput input)
    {
        var deadline = context.CurrentUtcDateTime + input.Deadline;
        await context.CallActivityAsync(CreateVirtualMachine, input.Droplet, WorkflowPolicy.Until(deadline));

        var seen = await WorkflowPolicy.WaitAsync(context, deadline,
            wait => context.CallActivityAsync<VmObservation>(ObserveVirtualMachine, new ObserveInput(input.Droplet, wait), WorkflowPolicy.Until(deadline)),
            IsDecisive);
        return Decide(input.Droplet, seen, deadlinePassed: true, input.Deadline)!;
    }

    // Done when running with both IPs, failed when KubeVirt reports a failure state or time is up.
    public static ProvisionResult? Decide(DropletRef droplet, VmObservation seen, bool deadlinePassed, TimeSpan deadline)
    {
        if (IsProvisioned(seen))
            return new ProvisionResult(droplet, DropletStatus.Running, seen.PrivateIp, seen.PublicIp, null);
        if (DropletStatusRules.FailureCode(seen.PrintableStatus) is { } code)
            return new ProvisionResult(droplet, DropletStatus.Error, seen.PrivateIp, seen.PublicIp, new ErrorDetail(code, seen.Message ?? code));
        if (deadlinePassed)
            return new ProvisionResult(droplet, DropletStatus.Error, seen.PrivateIp, seen.PublicIp, new ErrorDetail(
                "provisioning_timeout",
                $"The droplet did not reach Running within {deadline.TotalSeconds:0} s; KubeVirt last reported {seen.PrintableStatus ?? "nothing"}."));
        return null;
    }

    public static bool IsDecisive(VmObservation seen) =>
        IsProvisioned(seen) || DropletStatusRules.FailureCode(seen.PrintableStatus) is not null;

    // Volumes the droplet is created with are part of it: usable (hotplugged Ready) before it counts as running.
    public static bool IsProvisioned(VmObservation seen) =>
        seen.PrintableStatus == "Running" && seen.PrivateIp is not null && seen.PublicIp is not null && seen.PendingVolumes == 0;
}

// The workflow's I/O. One instance per process (singleton), shared by both hosts.
public sealed class ProvisioningActivities(
    DropletStore store, VolumeStore volumes, ActionStore actions, KubeVirtClients clusters, IOptions<CatalogOptions> catalog,
    Poller poller, TimeProvider time)
{
    public async Task CreateVirtualMachineAsync(DropletRef droplet, CancellationToken cancellationToken)
    {
        var record = await store.GetAsync(droplet.ProjectId, droplet.Id, cancellationToken)
            ?? throw new InvalidOperationException($"Droplet {droplet.Id} has no record.");
        var plan = catalog.Value.Plans[record.PlanId];
        var image = catalog.Value.Images[record.Image];
        // Rendered from what the droplet was created with (its keys as they were then), so every retry builds the same spec.
        var boot = await store.GetBootAsync(record.Id, cancellationToken);
        var userData = CloudInit.UserData(record.Name, boot.SshKeys, boot.UserData);
        var cluster = clusters.For(record.Region);
        await cluster.EnsureNamespaceAsync(record.Namespace, cancellationToken);
        var vm = await cluster.CreateVirtualMachineAsync(DropletMapping.VirtualMachine(record, plan, image, catalog.Value, userData), cancellationToken);
        if (DropletMapping.NeedsCloudInitSecret(userData))
            await cluster.CreateSecretAsync(DropletMapping.CloudInitSecret(record, userData, vm), cancellationToken);
        await cluster.CreateServiceAsync(DropletMapping.PublicService(record), cancellationToken);
    }

    // Polls the cluster until KubeVirt shows a decisive state or the wait is over.
    public async Task<VmObservation> ObserveVirtualMachineAsync(ObserveInput input, CancellationToken cancellationToken)
    {
        var record = await store.GetAsync(input.Droplet.ProjectId, input.Droplet.Id, cancellationToken)
            ?? throw new InvalidOperationException($"Droplet {input.Droplet.Id} has no record.");
        var cluster = clusters.For(record.Region);
        return await poller.PollAsync(cluster, record.Id, reads => reads.ObserveDropletAsync(record.Namespace, record.Id, cancellationToken),
            ProvisionDroplet.IsDecisive, input.Wait, cancellationToken);
    }

    // Records the outcome and ends the create action, which held the droplet (and the volumes it was created
    // with) while it was provisioned. The volumes first: they are in the VM's spec whatever the outcome, so
    // they are the droplet's (attached) until it is deleted.
    public async Task RecordProvisioningAsync(ProvisionResult result, CancellationToken cancellationToken)
    {
        if (await store.GetAsync(result.Droplet.ProjectId, result.Droplet.Id, cancellationToken) is { VolumeIds.Count: > 0 } record)
            await VolumeReservations.SettleAsync(volumes, record.ProjectId, record.VolumeIds, record.Id, cancellationToken);
        string? createAction = null;
        await store.UpdateAsync(result.Droplet.ProjectId, result.Droplet.Id, current =>
        {
            createAction = current.LockedFor == ActionType.Create ? current.LockedBy : null;
            // Only a droplet still being provisioned takes the result; anything else moved on.
            return current.Status != DropletStatus.Provisioning ? null : current with
            {
                Status = result.Status,
                PrivateIp = result.PrivateIp ?? current.PrivateIp,
                PublicIp = result.PublicIp ?? current.PublicIp,
                Error = result.Error,
                LockedBy = createAction is null ? current.LockedBy : null,
                LockedFor = createAction is null ? current.LockedFor : null,
            };
        }, cancellationToken);
        if (createAction is not null)
        {
            var status = result.Status == DropletStatus.Running ? ActionStatus.Completed : ActionStatus.Errored;
            await actions.CompleteAsync(result.Droplet.Id, createAction, status, result.Error, time.GetUtcNow(), cancellationToken);
        }
    }
}
