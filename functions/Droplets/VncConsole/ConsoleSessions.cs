using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Droplets.VncConsole;

// The console sessions open in this gateway process, per token, so that one token cannot hold more than
// ConsoleOptions.MaxSessionsPerToken, and so that a revoked token's sessions can be ended (ConsoleRevocations). (Per
// droplet there is nothing to count: KubeVirt gives a VMI one VNC connection, and a new one replaces the old.) A lease
// is released when its session ends.
public sealed class ConsoleSessions(IOptions<ConsoleOptions> options)
{
    readonly Lock gate = new();
    readonly Dictionary<string, HashSet<Lease>> open = new(StringComparer.Ordinal);

    // Null when the ticket's token has as many sessions open as allowed. A ticket from before tokens were recorded
    // counts for nobody and is never revoked.
    public Lease? TryOpen(ConsoleTicket ticket)
    {
        var lease = new Lease(this, ticket.TokenId);
        if (ticket.TokenId is not { } token)
            return lease;
        lock (gate)
        {
            if (!open.TryGetValue(token, out var leases))
                open[token] = leases = [];
            if (leases.Count >= options.Value.MaxSessionsPerToken)
                return null;
            leases.Add(lease);
        }
        return lease;
    }

    public bool AnyOpen
    {
        get
        {
            lock (gate)
                return open.Count > 0;
        }
    }

    // Ends the sessions of these tokens (their leases' Revoked fires). Returns how many.
    public int Revoke(IReadOnlySet<string> tokens)
    {
        List<Lease> ending;
        lock (gate)
            ending = [.. open.Where(o => tokens.Contains(o.Key)).SelectMany(o => o.Value)];
        foreach (var lease in ending)
            lease.End();
        return ending.Count;
    }

    void Release(Lease lease)
    {
        lock (gate)
            if (lease.Token is { } token && open.TryGetValue(token, out var leases) && leases.Remove(lease) && leases.Count == 0)
                open.Remove(token);
    }

    public sealed class Lease(ConsoleSessions sessions, string? token) : IDisposable
    {
        readonly CancellationTokenSource revoked = new();
        int disposed;

        public string? Token => token;

        // Fires when the session's token is revoked.
        public CancellationToken Revoked => revoked.Token;

        internal void End()
        {
            try
            {
                revoked.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) != 0)
                return;
            sessions.Release(this);
            revoked.Dispose();
        }
    }
}

// Ends the sessions of revoked tokens: while this gateway has sessions open, it reads the revoked tokens every
// Console:RevocationCheckInterval (one partition query of `consoletickets`), so a session ends at most that long (and
// one read) after its token's DELETE. While storage cannot be read, sessions go on; the lifetime still bounds them.
public sealed class ConsoleRevocations(ConsoleSessions sessions, ConsoleTickets tickets, IOptions<ConsoleOptions> options, TimeProvider time, ILogger<ConsoleRevocations> log)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.RevocationCheckInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (!sessions.AnyOpen)
                continue;
            try
            {
                if (sessions.Revoke(await tickets.RevokedAsync(stoppingToken)) is > 0 and var ended)
                    log.LogInformation("Ended {Count} console sessions of revoked tokens", ended);
            }
            catch (Exception e) when (e is Azure.RequestFailedException or HttpRequestException or TimeoutException || e is TaskCanceledException && !stoppingToken.IsCancellationRequested)
            {
                log.LogWarning(e, "Revoked tokens could not be read; console sessions go on until the next check");
            }
        }
    }
}
