using Microsoft.Extensions.Hosting;

namespace Droplets.Droplets;

// Creates the tables once at startup, so that no request pays for it.
public sealed class StoreInitializer(DropletStore store) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => store.InitializeAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
