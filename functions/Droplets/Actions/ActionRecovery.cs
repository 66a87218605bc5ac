using Droplets.Droplets;
using Droplets.Provisioning;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Droplets.Actions;

public sealed class RecoveryOptions
{
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(30);

    // A droplet taken more recently than this may still be between its answer and its workflow start.
    public TimeSpan Grace { get; set; } = TimeSpan.FromSeconds(30);
}

// Handlers take the droplet (and write it) before they start the workflow that will release it. If the
// process dies in between, nothing would ever release it. This sweep finds droplets held by an action
// for longer than the grace period whose workflow instance does not exist, writes the action record if
// it is missing, and starts the workflow. Instance ids are derived from the action, so a race with a
// late start is harmless, and every workflow step is idempotent.
public sealed class ActionRecovery(
    DropletStore droplets, ActionStore actions, IOptions<ProvisioningOptions> provisioning, IOptions<ActionOptions> actionOptions,
    IOptions<RecoveryOptions> options, TimeProvider time, ILogger<ActionRecovery> log)
{
    // The client is a parameter because the Functions host hands it out per invocation (binding).
    public async Task<int> RunOnceAsync(DurableTaskClient workflows, CancellationToken cancellationToken)
    {
        var recovered = 0;
        await foreach (var droplet in droplets.ListLockedAsync(time.GetUtcNow() - options.Value.Grace, cancellationToken))
        {
            if (droplet is not { LockedBy: { } actionId, LockedFor: { } type })
                continue;
            var instanceId = type == ActionType.Create ? ProvisionDroplet.InstanceIdFor(droplet.Id) : DropletAction.InstanceIdFor(actionId);
            if (await workflows.GetInstanceAsync(instanceId, cancellationToken) is not null)
                continue;
            try
            {
                if (await actions.GetAsync(droplet.Id, actionId, cancellationToken) is null)
                {
                    await actions.AddAsync(new DropletAction
                    {
                        Id = actionId, Type = type, Status = ActionStatus.InProgress, StartedAt = droplet.UpdatedAt,
                        ResourceId = droplet.Id, Region = droplet.Region, ProjectId = droplet.ProjectId, CreatedBy = droplet.CreatedBy,
                    }, cancellationToken);
                }
                if (type == ActionType.Create)
                    await ProvisionDroplet.StartAsync(workflows, droplet, provisioning.Value, cancellationToken);
                else
                    await ActionWorkflows.StartAsync(workflows, droplet, actionOptions.Value.Deadline, cancellationToken);
                recovered++;
                log.LogWarning("Droplet {DropletId} was held by {ActionId} without a workflow; started it", droplet.Id, actionId);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogWarning(e, "Could not start the workflow of {ActionId}; will retry", actionId);
            }
        }
        return recovered;
    }
}

// Runs the sweep periodically in the standalone host (the Functions app uses a timer trigger instead).
public sealed class ActionRecoveryService(
    ActionRecovery recovery, DurableTaskClient workflows, IOptions<RecoveryOptions> options, ILogger<ActionRecoveryService> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await recovery.RunOnceAsync(workflows, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogWarning(e, "Action recovery sweep failed; next one in {Interval}", options.Value.Interval);
            }
        }
    }
}
