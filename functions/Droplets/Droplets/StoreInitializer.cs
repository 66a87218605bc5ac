using Droplets.Actions;
using Droplets.Auth;
using Microsoft.Extensions.Hosting;

namespace Droplets.Droplets;

// Creates the tables once at startup, so that no request pays for it.
public sealed class StoreInitializer(
    DropletStore droplets, Volumes.VolumeStore volumes, ActionStore actions, TokenStore tokens, SshKeys.SshKeyStore sshKeys, Http.Idempotency idempotency,
    VncConsole.ConsoleTickets tickets)
    : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await droplets.InitializeAsync(cancellationToken);
        await volumes.InitializeAsync(cancellationToken);
        await actions.InitializeAsync(cancellationToken);
        await tokens.InitializeAsync(cancellationToken);
        await sshKeys.InitializeAsync(cancellationToken);
        await idempotency.InitializeAsync(cancellationToken);
        await tickets.InitializeAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
