using Droplets.Droplets;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Droplets.Provisioning;

public sealed class RecoveryOptions
{
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(30);

    // A droplet younger than this may still be between its 201 and its workflow start: leave it.
    public TimeSpan Grace { get; set; } = TimeSpan.FromSeconds(30);
}

// The create handler writes the record and then starts the workflow. If the process dies between the
// two, nothing else would ever move the droplet out of `provisioning`. This sweep finds such droplets
// (status provisioning, unchanged for longer than the grace period, no workflow instance) and starts
// their workflow. The deterministic instance id makes a race with a late start harmless.
public sealed class ProvisioningRecovery(
    DropletStore store, IOptions<ProvisioningOptions> provisioning, IOptions<RecoveryOptions> options,
    TimeProvider time, ILogger<ProvisioningRecovery> log)
{
    // The client is a parameter because the Functions host hands it out per invocation (binding).
    public async Task<int> RunOnceAsync(DurableTaskClient workflows, CancellationToken cancellationToken)
    {
        var recovered = 0;
        await foreach (var droplet in store.ListProvisioningAsync(time.GetUtcNow() - options.Value.Grace, cancellationToken))
        {
            var instance = await workflows.GetInstanceAsync(ProvisionDroplet.InstanceIdFor(droplet.Id), cancellationToken);
            if (instance is not null)
                continue;
            try
            {
                await ProvisionDroplet.StartAsync(workflows, droplet, provisioning.Value, cancellationToken);
                recovered++;
                log.LogWarning("Droplet {DropletId} had no provisioning workflow; started it", droplet.Id);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogWarning(e, "Could not start provisioning for {DropletId}; will retry", droplet.Id);
            }
        }
        return recovered;
    }
}

// Runs the sweep periodically in the standalone host (the Functions app uses a timer trigger instead).
public sealed class ProvisioningRecoveryService(
    ProvisioningRecovery recovery, DurableTaskClient workflows, IOptions<RecoveryOptions> options, ILogger<ProvisioningRecoveryService> log)
    : BackgroundService
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
                log.LogWarning(e, "Provisioning recovery sweep failed; next one in {Interval}", options.Value.Interval);
            }
        }
    }
}
