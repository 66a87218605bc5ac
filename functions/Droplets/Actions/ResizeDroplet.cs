using Droplets.Catalog;
using Droplets.Droplets;
using Droplets.KubeVirt;
using Droplets.Provisioning;
using k8s.Models;
using Microsoft.DurableTask;
using Microsoft.Extensions.Options;

namespace Droplets.Actions;

public sealed record ResizeInput(ActionInput Action, string FromPlanId, string ToPlanId, bool WasRunning);

// How long the observing activity may wait on the cluster (the orchestrator's time left).
public sealed record ResizeObserveInput(ResizeInput Resize, TimeSpan Wait);

public sealed record ResizeObservation(bool Applied, bool RestartRequired, string? PrivateIp, string? FailureCode, string? FailureMessage);

// Resize: CPU and memory change live when KubeVirt can (LiveUpdate: sockets up to maxSockets, memory up
// to maxGuest, both set at create time to the top of the catalog); otherwise KubeVirt marks the VM
// RestartRequired and the workflow restarts it. A larger plan disk grows the root disk's claim. The new
// plan is recorded only when KubeVirt shows it applied; on failure the spec is rolled back and the
// droplet keeps its plan.
public static class ResizeDroplet
{
    public const string Name = nameof(ResizeDroplet);
    public const string ApplyResize = nameof(ApplyResize);
    public const string ObserveResize = nameof(ObserveResize);
    public const string RestartForResize = nameof(RestartForResize);
    public const string RecordResize = nameof(RecordResize);
    public const string RollbackResize = nameof(RollbackResize);

    // PATCH /droplets/{id} {"plan_id"}: the plan travels with the lock.
    public static ActionRule Rule { get; } = new(ActionType.Resize, [DropletStatus.Running, DropletStatus.Stopped], DropletStatus.Resizing, ActionEnd.Unchanged,
        Name, (input, held) => new ResizeInput(input, held.PlanId, held.LockedWith!, held.LockedFrom == DropletStatus.Running),
        "Resize", "Resized: the new plan is applied.");

    public static async Task<ActionOutcome> RunAsync(TaskOrchestrationContext context, ResizeInput input)
    {
        var action = input.Action;
        var deadline = context.CurrentUtcDateTime + action.Deadline;
        var previous = input.WasRunning ? DropletStatus.Running : DropletStatus.Stopped;
        try
        {
            context.SetCustomStatus(new ActionProgress(10));
            await context.CallActivityAsync(ApplyResize, input, WorkflowPolicy.Until(deadline));
            context.SetCustomStatus(new ActionProgress(40));
            Task<ResizeObservation> ObserveAsync(Func<ResizeObservation, bool> done) => WorkflowPolicy.WaitAsync(context, deadline,
                wait => context.CallActivityAsync<ResizeObservation>(ObserveResize, new ResizeObserveInput(input, wait), WorkflowPolicy.Until(deadline)), done);

            var seen = await ObserveAsync(s => s.Applied || s.FailureCode is not null || s.RestartRequired);
            if (seen is { Applied: false, FailureCode: null, RestartRequired: true })
            {
                // Not live-updatable (a decrease, or beyond the maxima): KubeVirt applies it on restart.
                context.SetCustomStatus(new ActionProgress(60));
                await context.CallActivityAsync(RestartForResize, input, WorkflowPolicy.Until(deadline));
                seen = await ObserveAsync(s => s.Applied || s.FailureCode is not null);
            }
            if (!seen.Applied)
                return await RollBackAsync(context, input, previous, seen.FailureCode ?? "action_timeout",
                    seen.FailureMessage ?? $"KubeVirt did not apply the new size within {action.Deadline.TotalSeconds:0} s.");
            var done = new ActionOutcome(action.Droplet, action.ActionId, ActionStatus.Completed, previous, seen.PrivateIp, null);
            await context.CallActivityAsync(RecordResize, new ResizeRecord(input, done), WorkflowPolicy.UntilDone);
            return done;
        }
        catch (TaskFailedException e)
        {
            return await RollBackAsync(context, input, previous, "action_failed", WorkflowPolicy.ClusterFailure(context, e));
        }
    }

    static async Task<ActionOutcome> RollBackAsync(TaskOrchestrationContext context, ResizeInput input, DropletStatus previous, string code, string message)
    {
        await context.CallActivityAsync(RollbackResize, input, WorkflowPolicy.UntilDone);
        var failed = new ActionOutcome(input.Action.Droplet, input.Action.ActionId, ActionStatus.Errored, previous, null, new ErrorDetail(code, message));
        await context.CallActivityAsync(ActionWorkflows.FinishAction, failed, WorkflowPolicy.UntilDone);
        return failed;
    }
}

public sealed record ResizeRecord(ResizeInput Input, ActionOutcome Outcome);

public sealed class ResizeActivities(
    DropletStore droplets, ActionActivities finish, KubeVirtClients clusters, IOptions<CatalogOptions> catalog,
    Poller poller)
{
    public async Task ApplyAsync(ResizeInput input, CancellationToken cancellationToken)
    {
        var (record, cluster, ns, vm) = await LocateAsync(input, cancellationToken);
        var (from, to) = (catalog.Value.Plans[input.FromPlanId], catalog.Value.Plans[input.ToPlanId]);
        await cluster.PatchVirtualMachineAsync(ns, vm, SizePatch(to), cancellationToken);
        if (to.DiskGib > from.DiskGib)
            await cluster.PatchClaimStorageAsync(ns, DropletMapping.RootDiskNameFor(record.Id), $"{to.DiskGib}Gi", cancellationToken);
    }

    public async Task<ResizeObservation> ObserveAsync(ResizeObserveInput observe, CancellationToken cancellationToken)
    {
        var input = observe.Resize;
        var (record, cluster, ns, name) = await LocateAsync(input, cancellationToken);
        var to = catalog.Value.Plans[input.ToPlanId];
        return await poller.PollAsync(cluster, record.Id, reads => ObserveOnceAsync(reads, record, ns, name, to, input.WasRunning, cancellationToken),
            seen => seen.Applied || seen.RestartRequired || seen.FailureCode is not null, observe.Wait, cancellationToken);
    }

    public async Task RestartAsync(ResizeInput input, CancellationToken cancellationToken)
    {
        var (_, cluster, ns, name) = await LocateAsync(input, cancellationToken);
        await cluster.PutSubresourceAsync(ns, name, "restart", cancellationToken);
    }

    public async Task RecordAsync(ResizeRecord resize, CancellationToken cancellationToken)
    {
        var plan = catalog.Value.Plans[resize.Input.ToPlanId];
        var outcome = resize.Outcome;
        await finish.FinishActionAsync(outcome, cancellationToken, current => current with
        {
            PlanId = resize.Input.ToPlanId,
            Vcpus = plan.Vcpus,
            Memory = plan.MemoryMib,
            Disk = Math.Max(current.Disk, plan.DiskGib),
        });
    }

    // CPU and memory go back to the old plan. A grown disk stays grown: claims cannot shrink.
    public async Task RollbackAsync(ResizeInput input, CancellationToken cancellationToken)
    {
        var (_, cluster, ns, name) = await LocateAsync(input, cancellationToken);
        await cluster.PatchVirtualMachineAsync(ns, name, SizePatch(catalog.Value.Plans[input.FromPlanId]), cancellationToken);
    }

    internal static object SizePatch(Plan plan) => new
    {
        spec = new { template = new { spec = new { domain = new { cpu = new { sockets = plan.Vcpus }, memory = new { guest = $"{plan.MemoryMib}Mi" } } } } },
    };

    static async Task<ResizeObservation> ObserveOnceAsync(
        ClusterReads cluster, Droplet record, string ns, string name, Plan to, bool running, CancellationToken cancellationToken)
    {
        var vm = await cluster.GetVirtualMachineAsync(ns, name, cancellationToken);
        var diskApplied = to.DiskGib <= record.Disk
            || (await cluster.GetClaimAsync(ns, DropletMapping.RootDiskNameFor(record.Id), cancellationToken))?.Status?.Capacity is { } capacity
                && capacity.TryGetValue("storage", out var size) && size.ToInt64() >= to.DiskGib * (1L << 30);
        var conditions = vm?.Status?.Conditions ?? [];
        var restartRequired = conditions.Any(c => c.Type == "RestartRequired" && c.Status == "True");
        if (DropletStatusRules.FailureCode(vm?.Status?.PrintableStatus) is { } code)
            return new ResizeObservation(false, restartRequired, null, code, conditions.FirstOrDefault(c => c.Status == "False" && c.Message is not null)?.Message);
        if (!running)
            return new ResizeObservation(diskApplied, false, null, null, null);

        var vmi = await cluster.GetInstanceAsync(ns, name, cancellationToken);
        var sockets = vmi?.Status?.CurrentCpuTopology?.Sockets ?? vmi?.Spec?.Domain.Cpu?.Sockets;
        var memory = vmi?.Status?.Memory?.GuestCurrent ?? vmi?.Spec?.Domain.Memory?.Guest;
        var hotplugging = vmi?.Status?.Conditions?.Any(c => c.Type is "HotVCPUChange" or "HotMemoryChange" && c.Status == "True") ?? false;
        var sized = sockets == to.Vcpus && memory is not null && new ResourceQuantity(memory).ToInt64() == to.MemoryMib * (1L << 20);
        var applied = sized && diskApplied && !hotplugging && !restartRequired
            && vm?.Status?.PrintableStatus == "Running" && vmi?.Status?.Phase == "Running";
        var ip = vmi?.Status?.Interfaces?.Select(i => i.IpAddress).FirstOrDefault(a => !string.IsNullOrEmpty(a))?.Split('/')[0];
        return new ResizeObservation(applied, restartRequired, ip, null, null);
    }

    async Task<(Droplet Record, KubeVirtClient Cluster, string Namespace, string Name)> LocateAsync(ResizeInput input, CancellationToken cancellationToken)
    {
        var record = await droplets.GetAsync(input.Action.Droplet.ProjectId, input.Action.Droplet.Id, cancellationToken)
            ?? throw new InvalidOperationException($"Droplet {input.Action.Droplet.Id} has no record.");
        return (record, clusters.For(record.Region), record.Namespace, DropletMapping.VmNameFor(record.Id));
    }
}
