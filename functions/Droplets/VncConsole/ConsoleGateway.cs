using System.Net;
using System.Net.WebSockets;
using Droplets.Http;
using Droplets.KubeVirt;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Droplets.VncConsole;

// The console gateway: a WebSocket endpoint that redeems a console ticket and relays raw bytes between the
// client (noVNC, any RFB client over websockets) and the VMI's vnc subresource. Everything that can refuse
// (ticket, droplet, KubeVirt) is checked before the client's upgrade, so a refused client gets a plain HTTP
// problem and nothing is relayed. Azure Functions cannot hold inbound websockets: the standalone host maps
// this, and Droplets.ConsoleGateway runs it on its own next to the clusters.
public static class ConsoleGateway
{
    public const string Path = "/console/vnc";
    const int BufferSize = 64 * 1024;
    static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(2);

    public static IEndpointRouteBuilder MapConsoleGateway(this IEndpointRouteBuilder app)
    {
        app.MapGet(Path, ConnectAsync);
        return app;
    }

    // What a process that maps the gateway runs beside it.
    public static IServiceCollection AddConsoleGateway(this IServiceCollection services) => services.AddHostedService<ConsoleRevocations>();

    public static async Task ConnectAsync(
        HttpContext context, ConsoleTickets tickets, ConsoleSessions sessions, KubeVirtClients clusters, IOptions<ConsoleOptions> options,
        IHostApplicationLifetime lifetime, TimeProvider time, ILoggerFactory loggers)
    {
        var log = loggers.CreateLogger(typeof(ConsoleGateway));
        var aborted = context.RequestAborted;
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await Problems.BadRequest("websocket_required", "The console gateway speaks WebSocket only: open the console URL with a WebSocket (or noVNC) client.").ExecuteAsync(context);
            return;
        }
        var (ticket, refusal) = await tickets.RedeemAsync(context.Request.Query["token"], aborted);
        if (ticket is null)
        {
            await Problems.Create(StatusCodes.Status401Unauthorized, "invalid_ticket", "Unauthorized", refusal switch
            {
                TicketRefusal.Expired => "This console URL has expired: ask for a new one (POST /api/v1/droplets/{id}/console).",
                TicketRefusal.Used => "This console URL was already used: each one opens one session. Ask for a new one.",
                _ => "This is not a valid console URL.",
            }).ExecuteAsync(context);
            return;
        }
        using var lease = sessions.TryOpen(ticket);
        if (lease is null)
        {
            await Problems.Create(StatusCodes.Status429TooManyRequests, "too_many_sessions", "Too many console sessions",
                $"A token may have {options.Value.MaxSessionsPerToken} console sessions open at once: close one first.")
                .ExecuteAsync(context);
            return;
        }
        // KubeVirt is the one to ask: a droplet deleted or stopped since the ticket was minted has no VMI to connect to.
        var (upstream, refused, why) = await clusters.For(ticket.Region)
            .ConnectVncAsync(ticket.Namespace, DropletMapping.VmNameFor(ticket.DropletId), aborted);
        if (upstream is null)
        {
            await ConsoleApi.NotRunning(ticket.DropletId, refused == HttpStatusCode.NotFound ? "its VirtualMachineInstance does not exist (the droplet was stopped or deleted)" : why ?? "KubeVirt refused it")
                .ExecuteAsync(context);
            return;
        }

        using (upstream)
        {
            // noVNC offers "binary" by default; plain.kubevirt.io is virtctl's name for the same raw stream.
            var offered = context.WebSockets.WebSocketRequestedProtocols;
            var protocol = offered.FirstOrDefault(p => p is "binary" or "plain.kubevirt.io");
            using var client = await context.WebSockets.AcceptWebSocketAsync(protocol);
            log.LogInformation("Console session for {DropletId} opened", ticket.DropletId);
            // A session ends at its lifetime, or when its token expires if that is sooner.
            var max = options.Value.MaxSessionLifetime;
            var limit = ticket.TokenExpiresAt is { } expires && expires - time.GetUtcNow() < max
                ? (expires - time.GetUtcNow() is { Ticks: > 0 } left ? left : TimeSpan.Zero, "the token of this session expired")
                : (max, $"the session reached its limit of {max.TotalSeconds:0} s; open a new one");
            var reason = await RelayAsync(client, upstream, options.Value.IdleTimeout, limit, lifetime.ApplicationStopping, lease.Revoked);
            log.LogInformation("Console session for {DropletId} closed: {Reason}", ticket.DropletId, reason);
        }
    }

    // Copies both ways until either side closes, the session idles or reaches its lifetime, or the host stops; then
    // closes both with the same status. The pumps are never cancelled mid-receive (that would abort the sockets instead
    // of closing them): a close frame to a side ends the pump reading from it.
    public static async Task<string> RelayAsync(
        WebSocket client, WebSocket upstream, TimeSpan idleTimeout, (TimeSpan After, string Why) limit, CancellationToken stopping, CancellationToken revoked)
    {
        using var idle = new CancellationTokenSource(idleTimeout);
        using var old = new CancellationTokenSource(limit.After);
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(stopping, idle.Token, old.Token, revoked);
        var toUpstream = PumpAsync(client, upstream, idle, idleTimeout);
        var toClient = PumpAsync(upstream, client, idle, idleTimeout);
        var interrupted = Task.Delay(Timeout.Infinite, ended.Token).ContinueWith(_ => ((WebSocketCloseStatus, string)?)null, TaskScheduler.Default);
        var first = await Task.WhenAny(toUpstream, toClient, interrupted);

        WebSocketCloseStatus status;
        string description;
        if (first == interrupted)
        {
            // Nobody closed: idle (so nothing is in flight), at its lifetime, its token revoked, or the host is stopping.
            (status, description) = stopping.IsCancellationRequested ? (WebSocketCloseStatus.EndpointUnavailable, "the console gateway is stopping")
                : revoked.IsCancellationRequested ? (WebSocketCloseStatus.PolicyViolation, "the token of this session was revoked")
                : old.IsCancellationRequested ? (WebSocketCloseStatus.NormalClosure, limit.Why)
                : (WebSocketCloseStatus.NormalClosure, $"idle for {idleTimeout.TotalSeconds:0} s");
            await Task.WhenAll(CloseAsync(client, status, description), CloseAsync(upstream, status, description));
        }
        else
        {
            var (closing, other, otherPump) = first == toUpstream ? (client, upstream, toClient) : (upstream, client, toUpstream);
            (status, description) = first.Result ?? (WebSocketCloseStatus.EndpointUnavailable, "the other side of the console went away");
            await CloseAsync(other, status, description);
            await Task.WhenAny(otherPump, Task.Delay(CloseGrace, CancellationToken.None));
            await CloseAsync(closing, status, description);
        }
        // The close replies end the pumps; a side that never answers is cut off.
        var pumps = Task.WhenAll(toUpstream, toClient);
        await Task.WhenAny(pumps, Task.Delay(CloseGrace, CancellationToken.None));
        if (!pumps.IsCompleted)
        {
            client.Abort();
            upstream.Abort();
        }
        await pumps;
        return $"{status} {description}";
    }

    // One direction. Returns the close the source sent, or null when its connection broke.
    static async Task<(WebSocketCloseStatus, string)?> PumpAsync(WebSocket from, WebSocket to, CancellationTokenSource idle, TimeSpan idleTimeout)
    {
        var buffer = new byte[BufferSize];
        try
        {
            while (true)
            {
                var received = await from.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
                if (received.MessageType == WebSocketMessageType.Close)
                    return (from.CloseStatus ?? WebSocketCloseStatus.NormalClosure, from.CloseStatusDescription ?? "");
                idle.CancelAfter(idleTimeout);
                await to.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, CancellationToken.None);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            return null;
        }
    }

    static async Task CloseAsync(WebSocket socket, WebSocketCloseStatus status, string description)
    {
        using var grace = new CancellationTokenSource(CloseGrace);
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                await socket.CloseOutputAsync(status, description, grace.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            socket.Abort();
        }
    }
}
