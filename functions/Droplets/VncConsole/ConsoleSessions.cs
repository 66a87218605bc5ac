using Microsoft.Extensions.Options;

namespace Droplets.VncConsole;

// The console sessions open in this gateway process, counted per token, so that one token cannot hold more than
// ConsoleOptions.MaxSessionsPerToken. (Per droplet there is nothing to count: KubeVirt gives a VMI one VNC connection,
// and a new one replaces the old.) A lease is released when its session ends.
public sealed class ConsoleSessions(IOptions<ConsoleOptions> options)
{
    readonly Lock gate = new();
    readonly Dictionary<string, int> open = new(StringComparer.Ordinal);

    // Null when the ticket's token has as many sessions open as allowed. A ticket from before tokens were recorded
    // counts for nobody.
    public IDisposable? TryOpen(ConsoleTicket ticket)
    {
        if (ticket.TokenId is not { } token)
            return new Lease(this, null);
        lock (gate)
        {
            var count = open.GetValueOrDefault(token);
            if (count >= options.Value.MaxSessionsPerToken)
                return null;
            open[token] = count + 1;
        }
        return new Lease(this, token);
    }

    void Release(string token)
    {
        lock (gate)
            if (open.GetValueOrDefault(token) <= 1)
                open.Remove(token);
            else
                open[token]--;
    }

    sealed class Lease(ConsoleSessions sessions, string? token) : IDisposable
    {
        int disposed;

        public void Dispose()
        {
            if (token is not null && Interlocked.Exchange(ref disposed, 1) == 0)
                sessions.Release(token);
        }
    }
}
