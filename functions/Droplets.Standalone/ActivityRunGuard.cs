using System.Collections.Concurrent;
using DurableTask.Core;
using DurableTask.Core.History;

namespace Droplets.Standalone;

// The sidecar (Microsoft.DurableTask.InProcessTestHost's TaskHubGrpcServer) pairs an activity's answer from the worker
// with its dispatch by instance id and task id alone, not by execution. Two runs of one instance id can have the same
// task in flight: a workflow purged while a step of its run was still going, then run again by the reconciler under the
// same id (ids are derived from the action). The second dispatch is then never answered, and its workflow waits for
// ever with the droplet held. This decorator of the orchestration service dispatches one of them at a time: an activity
// whose instance and task id are still running is handed back to its queue (abandoned: the engine offers it again after
// a backoff) until the first is done. The Functions host's own sidecar pairs them correctly and needs none of this.
public sealed class ActivityRunGuard(IOrchestrationService inner, ILogger<ActivityRunGuard> log) : IOrchestrationService
{
    readonly ConcurrentDictionary<(string Instance, int Task), byte> running = new();

    public async Task<TaskActivityWorkItem> LockNextTaskActivityWorkItem(TimeSpan receiveTimeout, CancellationToken cancellationToken)
    {
        var item = await inner.LockNextTaskActivityWorkItem(receiveTimeout, cancellationToken);
        if (item is null || running.TryAdd(Key(item), 0))
            return item!;
        log.LogWarning("Activity {Name} (task {TaskId}) of {InstanceId} deferred: the same task of an earlier run of this instance is still running",
            ((TaskScheduledEvent)item.TaskMessage.Event).Name, item.TaskMessage.Event.EventId, item.TaskMessage.OrchestrationInstance.InstanceId);
        await inner.AbandonTaskActivityWorkItemAsync(item);
        return null!;
    }

    public async Task CompleteTaskActivityWorkItemAsync(TaskActivityWorkItem workItem, TaskMessage responseMessage)
    {
        try
        {
            await inner.CompleteTaskActivityWorkItemAsync(workItem, responseMessage);
        }
        finally
        {
            running.TryRemove(Key(workItem), out _);
        }
    }

    public async Task AbandonTaskActivityWorkItemAsync(TaskActivityWorkItem workItem)
    {
        try
        {
            await inner.AbandonTaskActivityWorkItemAsync(workItem);
        }
        finally
        {
            running.TryRemove(Key(workItem), out _);
        }
    }

    static (string, int) Key(TaskActivityWorkItem item) => (item.TaskMessage.OrchestrationInstance.InstanceId, item.TaskMessage.Event.EventId);

    // The rest is the engine's own.
    public Task<TaskActivityWorkItem> RenewTaskActivityWorkItemLockAsync(TaskActivityWorkItem workItem) => inner.RenewTaskActivityWorkItemLockAsync(workItem);
    public int TaskActivityDispatcherCount => inner.TaskActivityDispatcherCount;
    public int MaxConcurrentTaskActivityWorkItems => inner.MaxConcurrentTaskActivityWorkItems;
    public Task StartAsync() => inner.StartAsync();
    public Task StopAsync() => inner.StopAsync();
    public Task StopAsync(bool isForced) => inner.StopAsync(isForced);
    public Task CreateAsync() => inner.CreateAsync();
    public Task CreateAsync(bool recreateInstanceStore) => inner.CreateAsync(recreateInstanceStore);
    public Task CreateIfNotExistsAsync() => inner.CreateIfNotExistsAsync();
    public Task DeleteAsync() => inner.DeleteAsync();
    public Task DeleteAsync(bool deleteInstanceStore) => inner.DeleteAsync(deleteInstanceStore);
    public bool IsMaxMessageCountExceeded(int currentMessageCount, OrchestrationRuntimeState runtimeState) => inner.IsMaxMessageCountExceeded(currentMessageCount, runtimeState);
    public int GetDelayInSecondsAfterOnProcessException(Exception exception) => inner.GetDelayInSecondsAfterOnProcessException(exception);
    public int GetDelayInSecondsAfterOnFetchException(Exception exception) => inner.GetDelayInSecondsAfterOnFetchException(exception);
    public int TaskOrchestrationDispatcherCount => inner.TaskOrchestrationDispatcherCount;
    public int MaxConcurrentTaskOrchestrationWorkItems => inner.MaxConcurrentTaskOrchestrationWorkItems;
    public BehaviorOnContinueAsNew EventBehaviourForContinueAsNew => inner.EventBehaviourForContinueAsNew;
    public Task<TaskOrchestrationWorkItem> LockNextTaskOrchestrationWorkItemAsync(TimeSpan receiveTimeout, CancellationToken cancellationToken) =>
        inner.LockNextTaskOrchestrationWorkItemAsync(receiveTimeout, cancellationToken);
    public Task RenewTaskOrchestrationWorkItemLockAsync(TaskOrchestrationWorkItem workItem) => inner.RenewTaskOrchestrationWorkItemLockAsync(workItem);
    public Task CompleteTaskOrchestrationWorkItemAsync(
        TaskOrchestrationWorkItem workItem, OrchestrationRuntimeState newOrchestrationRuntimeState, IList<TaskMessage> outboundMessages,
        IList<TaskMessage> orchestratorMessages, IList<TaskMessage> timerMessages, TaskMessage continuedAsNewMessage, OrchestrationState orchestrationState) =>
        inner.CompleteTaskOrchestrationWorkItemAsync(workItem, newOrchestrationRuntimeState, outboundMessages, orchestratorMessages, timerMessages, continuedAsNewMessage, orchestrationState);
    public Task AbandonTaskOrchestrationWorkItemAsync(TaskOrchestrationWorkItem workItem) => inner.AbandonTaskOrchestrationWorkItemAsync(workItem);
    public Task ReleaseTaskOrchestrationWorkItemAsync(TaskOrchestrationWorkItem workItem) => inner.ReleaseTaskOrchestrationWorkItemAsync(workItem);
}
