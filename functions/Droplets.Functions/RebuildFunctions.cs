using Droplets.Actions;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;

namespace Droplets.Functions;

// The rebuild workflow under the same names the standalone host registers.
sealed class RebuildFunctions(RebuildActivities activities)
{
    [Function(RebuildDroplet.Name)]
    public static Task<ActionOutcome> Rebuild([OrchestrationTrigger] TaskOrchestrationContext context) =>
        RebuildDroplet.RunAsync(context, context.GetInput<RebuildInput>()!);

    [Function(RebuildDroplet.RemoveRootDisk)]
    public Task RemoveRootDisk([ActivityTrigger] RebuildInput input, CancellationToken cancellationToken) => activities.RemoveRootDiskAsync(input, cancellationToken);

    [Function(RebuildDroplet.RestoreRootDisk)]
    public Task<RootDiskState> RestoreRootDisk([ActivityTrigger] RebuildInput input, CancellationToken cancellationToken) =>
        activities.RestoreRootDiskAsync(input, cancellationToken);

    [Function(RebuildDroplet.RecordRebuild)]
    public Task RecordRebuild([ActivityTrigger] ActionOutcome outcome, CancellationToken cancellationToken) => activities.RecordAsync(outcome, cancellationToken);
}
