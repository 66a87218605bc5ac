using Microsoft.AspNetCore.Http;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;

namespace Droplets.Actions;

// What every accepted action does once its resource is held (the create of a droplet or a volume, a droplet's
// actions, a volume's): record the action, start its workflow, and give the headers to follow it by. A workflow that
// could not be started (the task hub unreachable for a moment, or this process gone right here) is left to the
// reconciler (ActionRecovery), which finds the resource held by an action without a workflow and starts it; instance
// ids are derived from the action, so a double start is harmless.
public sealed class ActionStarter(ActionStore actions, WorkflowLinker links, ILogger<ActionStarter> log)
{
    public async Task<ActionHeaders> StartAsync(
        HttpContext context, DurableTaskClient workflows, ResourceAction action, string instanceId, string? location,
        Func<Task> start, CancellationToken cancellationToken)
    {
        await actions.AddAsync(action, cancellationToken);
        try
        {
            await start();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning(e, "Workflow of {Type} {ActionId} on {ResourceId} not started; the reconciler will start it", action.Type, action.Id, action.ResourceId);
        }
        return Headers(context, workflows, action.Id, instanceId, location);
    }

    // The reconciler's start of an action whose resource is held without a workflow (the handler's process died after
    // the hold, or the instance was purged): the action is recorded if it is not, then its workflow started. Failures
    // are the caller's to retry.
    public async Task ResumeAsync(ResourceAction action, Func<Task> start, CancellationToken cancellationToken)
    {
        if (await actions.GetAsync(action.ResourceId, action.Id, cancellationToken) is null)
            await actions.AddAsync(action, cancellationToken);
        await start();
    }

    // Also the headers of an earlier attempt's action, answered again.
    public ActionHeaders Headers(HttpContext context, DurableTaskClient workflows, string actionId, string instanceId, string? location) =>
        new(location, ResourceAction.Location(actionId), links(context.Request, workflows, instanceId));
}
