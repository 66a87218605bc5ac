using Droplets.Actions;
using Droplets.Auth;
using Microsoft.Extensions.Hosting;

namespace Droplets.Droplets;

// Creates the tables once at startup, so that no request pays for it.
public sealed class StoreInitializer(
    DropletStore droplets, Volumes.VolumeStore volumes, ActionStore actions, TokenStore tokens, Http.Idempotency idempotency) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await droplets.InitializeAsync(cancellationToken);
        await volumes.InitializeAsync(cancellationToken);
        await actions.InitializeAsync(cancellationToken);
        await tokens.InitializeAsync(cancellationToken);
        await idempotency.InitializeAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
