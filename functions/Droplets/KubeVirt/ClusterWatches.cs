using Droplets.Provisioning;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Droplets.KubeVirt;

// Runs each region's ClusterWatch for the life of the process, on both hosts (in the Functions app, in its worker). Each
// instance of the app watches for itself and wakes only the waits it runs, so several instances are as one.
public sealed class ClusterWatches(KubeVirtClients clusters, IOptions<ProvisioningOptions> options, ILogger<ClusterWatches> log) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        options.Value.Watch ? Task.WhenAll(clusters.Regions.Select(region => RunAsync(region, stoppingToken))) : Task.CompletedTask;

    async Task RunAsync(string region, CancellationToken stoppingToken)
    {
        await Task.Yield();
        try
        {
            await clusters.For(region).Watch.RunAsync(stoppingToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A region whose client cannot be made (its kubeconfig context is missing) fails each action in its own words; its
            // waits poll.
            log.LogError(e, "Region {Region} is not watched", region);
        }
    }
}
