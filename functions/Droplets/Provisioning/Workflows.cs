using Droplets.Actions;
using Droplets.Volumes;
using Microsoft.DurableTask;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Droplets.Provisioning;

// Registers every workflow and activity under the names the Functions app uses too, for hosts that run
// the Durable Task SDK directly (the standalone host and tests).
public static class Workflows
{
    public static DurableTaskRegistry AddDropletWorkflows(this DurableTaskRegistry registry) => registry
        .AddOrchestratorFunc<ProvisionInput, ProvisionResult>(ProvisionDroplet.Name, ProvisionDroplet.RunAsync)
        .AddActivity<ProvisioningActivities, DropletRef, bool>(ProvisionDroplet.CreateVirtualMachine, async (a, input, ct) =>
        {
            await a.CreateVirtualMachineAsync(input, ct);
            return true;
        })
        .AddActivity<ProvisioningActivities, ObserveInput, KubeVirt.VmObservation>(ProvisionDroplet.ObserveVirtualMachine, (a, input, ct) => a.ObserveVirtualMachineAsync(input, ct))
        .AddActivity<ProvisioningActivities, ProvisionResult, bool>(ProvisionDroplet.RecordProvisioning, async (a, input, ct) =>
        {
            await a.RecordProvisioningAsync(input, ct);
            return true;
        })
        .AddOrchestratorFunc<ActionInput, ActionOutcome>(ActionWorkflows.PowerDroplet, ActionWorkflows.RunPowerAsync)
        .AddOrchestratorFunc<ActionInput, ActionOutcome>(ActionWorkflows.DeleteDroplet, ActionWorkflows.RunDeleteAsync)
        .AddActivity<ActionActivities, ActionInput, PowerRequestResult>(ActionWorkflows.RequestPower, (a, input, ct) => a.RequestPowerAsync(input, ct))
        .AddActivity<ActionActivities, PowerObserveInput, KubeVirt.VmObservation>(ActionWorkflows.ObservePower, (a, input, ct) => a.ObservePowerAsync(input, ct))
        .AddActivity<ActionActivities, DropletRef, bool>(ActionWorkflows.DeleteVirtualMachine, async (a, input, ct) =>
        {
            await a.DeleteVirtualMachineAsync(input, ct);
            return true;
        })
        .AddActivity<ActionActivities, PowerObserveInput, bool>(ActionWorkflows.ObserveDeletion, (a, input, ct) => a.ObserveDeletionAsync(input, ct))
        .AddActivity<ActionActivities, ActionOutcome, bool>(ActionWorkflows.FinishAction, async (a, input, ct) =>
        {
            await a.FinishActionAsync(input, ct);
            return true;
        })
        .AddActivity<ActionActivities, ActionOutcome, bool>(ActionWorkflows.RemoveDroplet, async (a, input, ct) =>
        {
            await a.RemoveDropletAsync(input, ct);
            return true;
        })
        .AddOrchestratorFunc<ResizeInput, ActionOutcome>(ResizeDroplet.Name, ResizeDroplet.RunAsync)
        .AddActivity<ResizeActivities, ResizeInput, bool>(ResizeDroplet.ApplyResize, async (a, input, ct) =>
        {
            await a.ApplyAsync(input, ct);
            return true;
        })
        .AddActivity<ResizeActivities, ResizeObserveInput, ResizeObservation>(ResizeDroplet.ObserveResize, (a, input, ct) => a.ObserveAsync(input, ct))
        .AddActivity<ResizeActivities, ResizeInput, bool>(ResizeDroplet.RestartForResize, async (a, input, ct) =>
        {
            await a.RestartAsync(input, ct);
            return true;
        })
        .AddActivity<ResizeActivities, ResizeRecord, bool>(ResizeDroplet.RecordResize, async (a, input, ct) =>
        {
            await a.RecordAsync(input, ct);
            return true;
        })
        .AddActivity<ResizeActivities, ResizeInput, bool>(ResizeDroplet.RollbackResize, async (a, input, ct) =>
        {
            await a.RollbackAsync(input, ct);
            return true;
        })
        .AddOrchestratorFunc<RebuildInput, ActionOutcome>(RebuildDroplet.Name, RebuildDroplet.RunAsync)
        .AddActivity<RebuildActivities, RebuildInput, bool>(RebuildDroplet.RemoveRootDisk, async (a, input, ct) =>
        {
            await a.RemoveRootDiskAsync(input, ct);
            return true;
        })
        .AddActivity<RebuildActivities, RebuildInput, RootDiskState>(RebuildDroplet.RestoreRootDisk, (a, input, ct) => a.RestoreRootDiskAsync(input, ct))
        .AddActivity<RebuildActivities, ActionOutcome, bool>(RebuildDroplet.RecordRebuild, async (a, input, ct) =>
        {
            await a.RecordAsync(input, ct);
            return true;
        })
        .AddVolumeWorkflows();

    static DurableTaskRegistry AddVolumeWorkflows(this DurableTaskRegistry registry) => registry
        .AddOrchestratorFunc<VolumeActionInput, VolumeOutcome>(VolumeWorkflows.ProvisionVolume, VolumeWorkflows.RunProvisionAsync)
        .AddOrchestratorFunc<VolumeActionInput, VolumeOutcome>(VolumeWorkflows.DeleteVolume, VolumeWorkflows.RunDeleteAsync)
        .AddOrchestratorFunc<VolumeActionInput, VolumeOutcome>(VolumeWorkflows.AttachVolume, VolumeWorkflows.RunAttachAsync)
        .AddOrchestratorFunc<VolumeActionInput, VolumeOutcome>(VolumeWorkflows.DetachVolume, VolumeWorkflows.RunDetachAsync)
        .AddOrchestratorFunc<VolumeActionInput, VolumeOutcome>(VolumeWorkflows.ResizeVolume, VolumeWorkflows.RunResizeAsync)
        .AddActivity<VolumeActivities, VolumeRef, bool>(VolumeWorkflows.CreateVolumeClaim, async (a, input, ct) =>
        {
            await a.CreateClaimAsync(input, ct);
            return true;
        })
        .AddActivity<VolumeActivities, VolumeObserveInput, VolumeObservation>(VolumeWorkflows.ObserveVolumeClaim, (a, input, ct) => a.ObserveClaimAsync(input, ct))
        .AddActivity<VolumeActivities, VolumeRef, bool>(VolumeWorkflows.DeleteVolumeClaim, async (a, input, ct) =>
        {
            await a.DeleteClaimAsync(input, ct);
            return true;
        })
        .AddActivity<VolumeActivities, VolumeObserveInput, VolumeObservation>(VolumeWorkflows.ObserveVolumeDeletion, (a, input, ct) => a.ObserveDeletionAsync(input, ct))
        .AddActivity<VolumeActivities, VolumeOutcome, bool>(VolumeWorkflows.RemoveVolume, async (a, input, ct) =>
        {
            await a.RemoveAsync(input, ct);
            return true;
        })
        .AddActivity<VolumeActivities, VolumeActionInput, string?>(VolumeWorkflows.TakeDropletForVolume, (a, input, ct) => a.TakeDropletAsync(input, ct))
        .AddActivity<VolumeActivities, VolumeActionInput, string?>(VolumeWorkflows.RequestVolumeAttach, (a, input, ct) => a.RequestAttachAsync(input, ct))
        .AddActivity<VolumeActivities, VolumeActionInput, string?>(VolumeWorkflows.RequestVolumeDetach, (a, input, ct) => a.RequestDetachAsync(input, ct))
        .AddActivity<VolumeActivities, VolumeObserveInput, VolumeObservation>(VolumeWorkflows.ObserveVolumeAttachment, (a, input, ct) => a.ObserveAttachmentAsync(input, ct))
        .AddActivity<VolumeActivities, VolumeActionInput, string?>(VolumeWorkflows.GrowVolumeClaim, (a, input, ct) => a.GrowClaimAsync(input, ct))
        .AddActivity<VolumeActivities, VolumeOutcome, bool>(VolumeWorkflows.FinishVolumeAction, async (a, input, ct) =>
        {
            await a.FinishAsync(input, ct);
            return true;
        })
        .AddActivity<VolumeActivities, DropletRef, bool>(VolumeWorkflows.DetachDropletVolumes, async (a, input, ct) =>
        {
            await a.DetachDropletVolumesAsync(input, ct);
            return true;
        });

    static DurableTaskRegistry AddActivity<TService, TIn, TOut>(this DurableTaskRegistry registry, string name, Func<TService, TIn, CancellationToken, Task<TOut>> run)
        where TService : notnull =>
        registry.AddActivity(name, services => new ServiceActivity<TService, TIn, TOut>(
            services.GetRequiredService<TService>(), run, services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping));

    // An activity is cancelled when the host stops, as the Functions host cancels its functions: a poll ends at once
    // instead of waiting out its time, and the work item it leaves is run again (after a restart, or by another
    // process), which every activity allows.
    sealed class ServiceActivity<TService, TIn, TOut>(TService service, Func<TService, TIn, CancellationToken, Task<TOut>> run, CancellationToken stopping)
        : TaskActivity<TIn, TOut>
    {
        public override Task<TOut> RunAsync(TaskActivityContext context, TIn input) => run(service, input, stopping);
    }
}
