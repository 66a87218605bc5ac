using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Droplets.Tests.Infrastructure;

// The storage account as one host reaches it: a TCP relay per service (blob, queue, table) in front of the shared
// Azurite. Cut, it resets every open connection and refuses new ones, as a stopped Azurite does; mended, it listens on
// the same ports again, in front of the same data. Only the hosts given ConnectionString lose their storage.
public sealed class StorageLink : IAsyncDisposable
{
    readonly Relay[] relays;

    StorageLink(Relay[] relays)
    {
        this.relays = relays;
        ConnectionString = Azurite.ConnectionStringFor([.. relays.Select(r => r.Port)]);
    }

    public string ConnectionString { get; }

    public static async Task<StorageLink> OpenAsync()
    {
        var azurite = await Azurite.SharedAsync();
        var link = new StorageLink([.. azurite.Ports.Select(port => new Relay(Repository.FreePort(), port))]);
        link.Mend();
        return link;
    }

    public void Cut()
    {
        foreach (var relay in relays)
            relay.Stop();
    }

    public void Mend()
    {
        foreach (var relay in relays)
            relay.Start();
    }

    public ValueTask DisposeAsync()
    {
        Cut();
        return ValueTask.CompletedTask;
    }

    sealed class Relay(int port, int target)
    {
        readonly ConcurrentDictionary<Socket, byte> open = new();
        TcpListener? listener;

        public int Port => port;

        public void Start()
        {
            var started = new TcpListener(IPAddress.Loopback, port);
            started.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            started.Start();
            listener = started;
            _ = AcceptAsync(started);
        }

        public void Stop()
        {
            listener?.Stop();
            listener = null;
            foreach (var socket in open.Keys)
                Reset(socket);
        }

        async Task AcceptAsync(TcpListener from)
        {
            while (true)
            {
                Socket client;
                try
                {
                    client = await from.AcceptSocketAsync();
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }
                _ = RelayAsync(client);
            }
        }

        async Task RelayAsync(Socket client)
        {
            using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            open[client] = 0;
            open[upstream] = 0;
            try
            {
                await upstream.ConnectAsync(IPAddress.Loopback, target);
                using var a = new NetworkStream(client, ownsSocket: false);
                using var b = new NetworkStream(upstream, ownsSocket: false);
                await Task.WhenAny(a.CopyToAsync(b), b.CopyToAsync(a));
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
            }
            finally
            {
                open.TryRemove(client, out _);
                open.TryRemove(upstream, out _);
                Reset(client);
            }
        }

        // Closed with a zero linger: an RST, as from a process that is gone.
        static void Reset(Socket socket)
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
                socket.Close();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}
