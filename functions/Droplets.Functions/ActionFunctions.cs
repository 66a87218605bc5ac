using Droplets.Actions;
using Droplets.KubeVirt;
using Droplets.Provisioning;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;

namespace Droplets.Functions;

// The power and delete workflows under the same names the standalone host registers.
sealed class ActionFunctions(ActionActivities activities, ResizeActivities resize)
{
    [Function(ActionWorkflows.PowerDroplet)]
    public static Task<ActionOutcome> Power([OrchestrationTrigger] TaskOrchestrationContext context) =>
        ActionWorkflows.RunPowerAsync(context, context.GetInput<ActionInput>()!);

    [Function(ActionWorkflows.DeleteDroplet)]
    public static Task<ActionOutcome> Delete([OrchestrationTrigger] TaskOrchestrationContext context) =>
        ActionWorkflows.RunDeleteAsync(context, context.GetInput<ActionInput>()!);

    [Function(ActionWorkflows.RequestPower)]
    public Task<PowerRequestResult> RequestPower([ActivityTrigger] ActionInput input, CancellationToken cancellationToken) =>
        activities.RequestPowerAsync(input, cancellationToken);

    [Function(ActionWorkflows.ObservePower)]
    public Task<VmObservation> ObservePower([ActivityTrigger] PowerObserveInput input, CancellationToken cancellationToken) =>
        activities.ObservePowerAsync(input, cancellationToken);

    [Function(ActionWorkflows.DeleteVirtualMachine)]
    public Task DeleteVirtualMachine([ActivityTrigger] DropletRef droplet, CancellationToken cancellationToken) =>
        activities.DeleteVirtualMachineAsync(droplet, cancellationToken);

    [Function(ActionWorkflows.ObserveDeletion)]
    public Task<bool> ObserveDeletion([ActivityTrigger] PowerObserveInput input, CancellationToken cancellationToken) =>
        activities.ObserveDeletionAsync(input, cancellationToken);

    [Function(ActionWorkflows.FinishAction)]
    public Task FinishAction([ActivityTrigger] ActionOutcome outcome, CancellationToken cancellationToken) =>
        activities.FinishActionAsync(outcome, cancellationToken);

    [Function(ActionWorkflows.RemoveDroplet)]
    public Task RemoveDroplet([ActivityTrigger] ActionOutcome outcome, CancellationToken cancellationToken) =>
        activities.RemoveDropletAsync(outcome, cancellationToken);

    [Function(ResizeDroplet.Name)]
    public static Task<ActionOutcome> Resize([OrchestrationTrigger] TaskOrchestrationContext context) =>
        ResizeDroplet.RunAsync(context, context.GetInput<ResizeInput>()!);

    [Function(ResizeDroplet.ApplyResize)]
    public Task ApplyResize([ActivityTrigger] ResizeInput input, CancellationToken cancellationToken) => resize.ApplyAsync(input, cancellationToken);

    [Function(ResizeDroplet.ObserveResize)]
    public Task<ResizeObservation> ObserveResize([ActivityTrigger] ResizeObserveInput input, CancellationToken cancellationToken) => resize.ObserveAsync(input, cancellationToken);

    [Function(ResizeDroplet.RestartForResize)]
    public Task RestartForResize([ActivityTrigger] ResizeInput input, CancellationToken cancellationToken) => resize.RestartAsync(input, cancellationToken);

    [Function(ResizeDroplet.RecordResize)]
    public Task RecordResize([ActivityTrigger] ResizeRecord record, CancellationToken cancellationToken) => resize.RecordAsync(record, cancellationToken);

    [Function(ResizeDroplet.RollbackResize)]
    public Task RollbackResize([ActivityTrigger] ResizeInput input, CancellationToken cancellationToken) => resize.RollbackAsync(input, cancellationToken);
}
