using KubeVirt.Simulator;
using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Azure.Data.Tables;
using Droplets.Droplets;
using Droplets.Tests.Infrastructure;
using Droplets.VncConsole;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Droplets.Tests.Console;

// The console end to end: POST /droplets/{id}/console → the gateway (in the standalone host, or beside the Functions
// app) → the simulated VMI's vnc websocket, which speaks real RFB.
public abstract class ConsoleTests(DropletsWorld world)
{
    public sealed class OnStandalone(DropletsWorld<StandaloneKind> world) : ConsoleTests(world), IClassFixture<DropletsWorld<StandaloneKind>>;

    public sealed class OnFunctions(DropletsWorld<FunctionsKind> world) : ConsoleTests(world), IClassFixture<DropletsWorld<FunctionsKind>>;

    const uint Background = 0x1E3A8A;   // the simulator's screen (its README, Console)
    const uint Text = 0xFACC15;
    const int Width = 640, Height = 400;
    readonly ApiHost host = world.Host;

    async Task<string> RunningDropletAsync(string name = "console-1")
    {
        var id = (await host.CreateDropletAsync(new { name, image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = Repository.UniqueName("p") }))
            .GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(id, "running");
        return id;
    }

    async Task<JsonElement> OpenAsync(string id)
    {
        var response = await host.Client.PostAsync($"api/v1/droplets/{id}/console", null);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    static async Task<ClientWebSocket> ConnectAsync(string url, string protocol = "binary")
    {
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol(protocol);
        socket.Options.CollectHttpResponseDetails = true;
        await socket.ConnectAsync(new Uri(url), CancellationToken.None);
        return socket;
    }

    // RFB 3.8 with security None; returns the desktop name and the first full frame (server pixel format,
    // 32 bpp little-endian 0x00RRGGBB).
    static async Task<(string Name, uint[] Pixels)> HandshakeAsync(Stream rfb)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        async Task<byte[]> Read(int count)
        {
            var buffer = new byte[count];
            await rfb.ReadExactlyAsync(buffer, deadline.Token);
            return buffer;
        }
        Assert.Equal("RFB 003.008\n", Encoding.ASCII.GetString(await Read(12)));
        await rfb.WriteAsync("RFB 003.008\n"u8.ToArray(), deadline.Token);
        Assert.Equal([1, 1], await Read(2));                    // one security type: None
        await rfb.WriteAsync(new byte[] { 1 }, deadline.Token);
        Assert.Equal([0, 0, 0, 0], await Read(4));              // SecurityResult OK
        await rfb.WriteAsync(new byte[] { 1 }, deadline.Token);  // shared
        var init = await Read(24);
        Assert.Equal(Width, BinaryPrimitives.ReadUInt16BigEndian(init));
        Assert.Equal(Height, BinaryPrimitives.ReadUInt16BigEndian(init.AsSpan(2)));
        var name = Encoding.UTF8.GetString(await Read((int)BinaryPrimitives.ReadUInt32BigEndian(init.AsSpan(20))));
        await rfb.WriteAsync(new byte[] { 3, 0, 0, 0, 0, 0, Width >> 8, Width & 0xFF, Height >> 8, Height & 0xFF }, deadline.Token);
        var header = await Read(16);
        Assert.Equal(0, header[0]);
        var data = await Read(Width * Height * 4);
        return (name, Enumerable.Range(0, Width * Height).Select(i => BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(i * 4)) & 0xFFFFFF).ToArray());
    }

    [Fact]
    public async Task A_console_url_opens_an_rfb_session_on_the_droplets_screen()
    {
        var id = await RunningDropletAsync();
        var before = DateTimeOffset.UtcNow;
        var console = await OpenAsync(id);
        var after = DateTimeOffset.UtcNow;

        Assert.Equal("vnc", console.GetProperty("protocol").GetString());
        var url = console.GetProperty("url").GetString()!;
        Assert.StartsWith($"{host.ConsoleGateway}?token=v1.", url, StringComparison.Ordinal);
        // 60 s from when the ticket was made, which was between before and after (expires_at has whole seconds).
        Assert.InRange(console.GetProperty("expires_at").GetDateTimeOffset(), before.AddSeconds(59), after.AddSeconds(61));

        using var socket = await ConnectAsync(url);
        Assert.Equal("binary", socket.SubProtocol);
        await using var rfb = WebSocketStream.Create(socket, WebSocketMessageType.Binary);
        var (name, pixels) = await HandshakeAsync(rfb);
        Assert.Equal(id.Replace('_', '-'), name);            // the guest hostname: the VM's name
        Assert.Equal(Background, pixels[0]);
        Assert.Contains(Text, pixels);
    }

    [Fact]
    public async Task A_console_url_is_single_use()
    {
        var id = await RunningDropletAsync();
        var url = (await OpenAsync(id)).GetProperty("url").GetString()!;
        using (var first = await ConnectAsync(url))
            await first.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);

        using var second = new ClientWebSocket();
        second.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => second.ConnectAsync(new Uri(url), CancellationToken.None));
        Assert.Equal(HttpStatusCode.Unauthorized, second.HttpStatusCode);
    }

    [Fact]
    public async Task Bad_tampered_and_expired_tickets_are_refused_before_any_upgrade()
    {
        var id = await RunningDropletAsync();
        var url = (await OpenAsync(id)).GetProperty("url").GetString()!;
        var token = url[(url.IndexOf("token=", StringComparison.Ordinal) + 6)..];
        var gateway = url[..url.IndexOf('?', StringComparison.Ordinal)];

        // Another key signs the same claims with an expiry in the past, and the signature does not match:
        // refused as invalid (an expired ticket signed by the gateway's key is refused as expired, below).
        var forged = Tickets("another-signing-key-of-32-characters!").Sign(new ConsoleTicket("00", id, "proj_x", "nyc1", DateTimeOffset.UtcNow.AddMinutes(5)));
        var tampered = token[..^2] + (token[^2..] == "AA" ? "BB" : "AA");
        foreach (var bad in new[] { "", "nonsense", "v1.a.b", forged, tampered })
        {
            using var socket = new ClientWebSocket();
            socket.Options.CollectHttpResponseDetails = true;
            await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(new Uri($"{gateway}?token={Uri.EscapeDataString(bad)}"), CancellationToken.None));
            Assert.Equal(HttpStatusCode.Unauthorized, socket.HttpStatusCode);
        }

        // The real ticket still works afterwards: refusals consumed nothing.
        using var good = await ConnectAsync(url);
        Assert.Equal(WebSocketState.Open, good.State);

        // Plain HTTP gets a problem, not an upgrade.
        var plain = await new HttpClient().GetAsync(new UriBuilder(url) { Scheme = "http" }.Uri);
        Assert.Equal(HttpStatusCode.BadRequest, plain.StatusCode);
        Assert.Equal("application/problem+json", plain.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task An_expired_ticket_is_refused()
    {
        await using var expiring = await ApiHost.StartAsync(world.Kind,
            new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = world.Nyc1 },
            new Dictionary<string, string> { ["Console__SigningKey"] = SigningKey, ["Console__TicketTtl"] = "00:00:01" });
        var id = (await expiring.CreateDropletAsync(new { name = "expiry", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = Repository.UniqueName("p") }))
            .GetProperty("id").GetString()!;
        await expiring.WaitForStatusAsync(id, "running");
        var console = await (await expiring.Client.PostAsync($"api/v1/droplets/{id}/console", null)).Content.ReadFromJsonAsync<JsonElement>();
        var expiresAt = console.GetProperty("expires_at").GetDateTimeOffset();
        await Eventually.HoldsAsync(() => Task.FromResult(DateTimeOffset.UtcNow), now => now > expiresAt.AddSeconds(1), TimeSpan.FromSeconds(10), "the ticket to expire");

        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(new Uri(console.GetProperty("url").GetString()!), CancellationToken.None));
        Assert.Equal(HttpStatusCode.Unauthorized, socket.HttpStatusCode);

        // Never used, it is swept by the next round of the reconciler (every second here).
        var tickets = new TableServiceClient((await Azurite.SharedAsync()).ConnectionString).GetTableClient(expiring.TablePrefix + "consoletickets");
        await Eventually.HoldsAsync(async () =>
        {
            var rows = 0;
            await foreach (var _ in tickets.QueryAsync<TableEntity>(select: ["PartitionKey"]))
                rows++;
            return rows;
        }, rows => rows == 0, TimeSpan.FromSeconds(30), "the expired ticket to be swept");
    }

    [Fact]
    public async Task A_droplet_that_is_not_running_has_no_console_and_an_open_one_closes_when_it_stops()
    {
        var id = await RunningDropletAsync();
        using var socket = await ConnectAsync((await OpenAsync(id)).GetProperty("url").GetString()!);
        await using var rfb = WebSocketStream.Create(socket, WebSocketMessageType.Binary);
        await HandshakeAsync(rfb);

        var off = await host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type = "power_off" });
        Assert.Equal(HttpStatusCode.Accepted, off.StatusCode);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[64 * 1024];
        while ((await socket.ReceiveAsync(buffer, deadline.Token)).MessageType != WebSocketMessageType.Close)
        {
        }
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        Assert.Equal("VMI is not running", socket.CloseStatusDescription);

        await host.WaitForStatusAsync(id, "stopped");
        foreach (var response in new[] { await host.Client.PostAsync($"api/v1/droplets/{id}/console", null), await host.Client.GetAsync($"api/v1/droplets/{id}/console/screenshot") })
        {
            Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("not_running", problem.GetProperty("code").GetString());
            Assert.Contains("it is stopped", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.PostAsync("api/v1/droplets/dpl_000000000000/console", null)).StatusCode);
    }

    [Fact]
    public async Task An_idle_session_is_closed()
    {
        await using var idle = await ApiHost.StartAsync(world.Kind,
            new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = world.Nyc1 }, new Dictionary<string, string> { ["Console__IdleTimeout"] = "00:00:01" });
        var id = (await idle.CreateDropletAsync(new { name = "idle", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = Repository.UniqueName("p") }))
            .GetProperty("id").GetString()!;
        await idle.WaitForStatusAsync(id, "running");
        var console = await (await idle.Client.PostAsync($"api/v1/droplets/{id}/console", null)).Content.ReadFromJsonAsync<JsonElement>();
        using var socket = await ConnectAsync(console.GetProperty("url").GetString()!);
        await using var rfb = WebSocketStream.Create(socket, WebSocketMessageType.Binary);
        await HandshakeAsync(rfb);

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[1024];
        while ((await socket.ReceiveAsync(buffer, deadline.Token)).MessageType != WebSocketMessageType.Close)
        {
        }
        Assert.Equal("idle for 1 s", socket.CloseStatusDescription);
    }

    // At most Console:MaxSessionsPerToken sessions with one token's tickets at once (2 here): the third is 429 before its
    // upgrade. Each lasts at most Console:MaxSessionLifetime (6 s here), busy or not, and a closed one frees its place.
    // (One droplet has one session at most: KubeVirt's VMI takes one VNC connection, and a new one replaces the old.)
    [Fact]
    public async Task Sessions_are_capped_per_token_and_end_at_their_lifetime()
    {
        await using var capped = await ApiHost.StartAsync(world.Kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = world.Nyc1 },
            new Dictionary<string, string> { ["Console__MaxSessionsPerToken"] = "2", ["Console__MaxSessionLifetime"] = "00:00:06" });
        var project = Repository.UniqueName("p");
        var ids = new List<string>();
        foreach (var name in new[] { "capped-1", "capped-2", "capped-3" })
            ids.Add((await capped.CreateDropletAsync(new { name, image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project })).GetProperty("id").GetString()!);
        foreach (var id in ids)
            await capped.WaitForStatusAsync(id, "running");
        async Task<Uri> UrlAsync(string id) =>
            new((await (await capped.Client.PostAsync($"api/v1/droplets/{id}/console", null)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("url").GetString()!);

        using var first = await ConnectAsync((await UrlAsync(ids[0])).ToString());
        using var second = await ConnectAsync((await UrlAsync(ids[1])).ToString());
        using (var third = new ClientWebSocket())
        {
            third.Options.CollectHttpResponseDetails = true;
            var url = await UrlAsync(ids[2]);
            await Assert.ThrowsAsync<WebSocketException>(() => third.ConnectAsync(url, CancellationToken.None));
            Assert.Equal(HttpStatusCode.TooManyRequests, third.HttpStatusCode);
        }

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var buffer = new byte[64 * 1024];
        while ((await first.ReceiveAsync(buffer, deadline.Token)).MessageType != WebSocketMessageType.Close)
        {
        }
        Assert.Equal("the session reached its limit of 6 s; open a new one", first.CloseStatusDescription);
        using var again = await Eventually.HoldsAsync(async () =>
        {
            var socket = new ClientWebSocket();
            try
            {
                await socket.ConnectAsync(await UrlAsync(ids[2]), CancellationToken.None);
            }
            catch (WebSocketException)
            {
            }
            return socket;
        }, socket => socket.State == WebSocketState.Open, TimeSpan.FromSeconds(30), "a place to be free again");
    }

    // Revoking a token ends its open sessions within Console:RevocationCheckInterval (1 s here) and a read; another
    // token's session goes on.
    [Fact]
    public async Task Revoking_a_token_ends_its_open_sessions()
    {
        await using var api = await ApiHost.StartAsync(world.Kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = world.Nyc1 },
            new Dictionary<string, string> { ["Console__RevocationCheckInterval"] = "00:00:01" });
        var project = Repository.UniqueName("p");
        var ids = new List<string>();
        foreach (var name in new[] { "revoked", "kept" })
            ids.Add((await api.CreateDropletAsync(new { name, image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project })).GetProperty("id").GetString()!);
        foreach (var id in ids)
            await api.WaitForStatusAsync(id, "running");
        async Task<(string Id, HttpClient Client)> TokenAsync()
        {
            var created = await (await api.Client.PostAsJsonAsync("api/v1/tokens", new { name = "console", project_ids = new[] { project }, scope = "write" }))
                .Content.ReadFromJsonAsync<JsonElement>();
            return (created.GetProperty("id").GetString()!, api.ClientWith(created.GetProperty("token").GetString()));
        }
        var (revoked, kept) = (await TokenAsync(), await TokenAsync());
        async Task<ClientWebSocket> SessionAsync(HttpClient client, string id)
        {
            var response = await client.PostAsync($"api/v1/droplets/{id}/console", null);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            var socket = await ConnectAsync((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("url").GetString()!);
            await HandshakeAsync(WebSocketStream.Create(socket, WebSocketMessageType.Binary));
            return socket;
        }
        using var ending = await SessionAsync(revoked.Client, ids[0]);
        using var going = await SessionAsync(kept.Client, ids[1]);

        Assert.Equal(HttpStatusCode.NoContent, (await api.Client.DeleteAsync($"api/v1/tokens/{revoked.Id}")).StatusCode);

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[64 * 1024];
        while ((await ending.ReceiveAsync(buffer, deadline.Token)).MessageType != WebSocketMessageType.Close)
        {
        }
        Assert.Equal((WebSocketCloseStatus.PolicyViolation, "the token of this session was revoked"), (ending.CloseStatus!.Value, ending.CloseStatusDescription));
        Assert.Equal(WebSocketState.Open, going.State);
        // Still relaying: a (non-incremental) FramebufferUpdateRequest is answered.
        await going.SendAsync(new byte[] { 3, 0, 0, 0, 0, 0, 0, 8, 0, 8 }, WebSocketMessageType.Binary, true, deadline.Token);
        Assert.True((await going.ReceiveAsync(buffer, deadline.Token)).Count > 0);
    }

    // A session outlives neither its lifetime nor its token: one opened with a token that expires in 10 s ends then.
    [Fact]
    public async Task A_session_ends_when_its_token_expires()
    {
        var project = Repository.UniqueName("p");
        var id = (await host.CreateDropletAsync(new { name = "expiring", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project }))
            .GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(id, "running");
        var expires = DateTimeOffset.UtcNow.AddSeconds(10);
        var created = await (await host.Client.PostAsJsonAsync("api/v1/tokens", new { name = "short", project_ids = new[] { project }, scope = "write", expires_at = expires }))
            .Content.ReadFromJsonAsync<JsonElement>();
        var client = host.ClientWith(created.GetProperty("token").GetString());
        var console = await (await client.PostAsync($"api/v1/droplets/{id}/console", null)).Content.ReadFromJsonAsync<JsonElement>();
        using var socket = await ConnectAsync(console.GetProperty("url").GetString()!);
        await HandshakeAsync(WebSocketStream.Create(socket, WebSocketMessageType.Binary));

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        var buffer = new byte[64 * 1024];
        while ((await socket.ReceiveAsync(buffer, deadline.Token)).MessageType != WebSocketMessageType.Close)
        {
        }
        Assert.Equal("the token of this session expired", socket.CloseStatusDescription);
        Assert.True(DateTimeOffset.UtcNow >= expires.AddSeconds(-1), "closed before the token expired");
    }

    [Fact]
    public async Task The_screenshot_is_the_droplets_screen_as_png()
    {
        var id = await RunningDropletAsync();
        var response = await host.Client.GetAsync($"api/v1/droplets/{id}/console/screenshot");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        var png = PngImage.Decode(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal((Width, Height), (png.Width, png.Height));
        Assert.Equal(Background, png[0, 0]);
        Assert.True(png.Count(Text) > 0);
    }

    [Fact]
    public async Task NoVnc_in_a_real_browser_renders_the_droplets_screen_through_the_gateway()
    {
        var id = await RunningDropletAsync();
        var url = (await OpenAsync(id)).GetProperty("url").GetString()!;
        var (png, desktopName) = await Browser.NoVncScreenshotAsync(new Uri(url), TimeSpan.FromSeconds(60));
        Assert.Equal(id.Replace('_', '-'), desktopName);
        var canvas = PngImage.Decode(png);
        Assert.Equal((Width, Height), (canvas.Width, canvas.Height));
        Assert.True(canvas.Count(Background) > Width * Height / 2, "mostly the screen's background");
        Assert.True(canvas.Count(Text) > 0, "the hostname's pixels");
    }

    [Fact]
    public async Task The_gateway_runs_on_its_own_with_the_apis_signing_key()
    {
        await using var api = await ApiHost.StartAsync(world.Kind,
            new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = world.Nyc1 }, new Dictionary<string, string> { ["Console__SigningKey"] = SigningKey });
        await using var gateway = await api.StartSiblingAsync("Droplets.ConsoleGateway");
        var id = (await api.CreateDropletAsync(new { name = "apart", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = Repository.UniqueName("p") }))
            .GetProperty("id").GetString()!;
        await api.WaitForStatusAsync(id, "running");
        var url = (await (await api.Client.PostAsync($"api/v1/droplets/{id}/console", null)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("url").GetString()!;

        // Without Console__GatewayUrl the URL names the API host; the ticket is what the gateway checks.
        var elsewhere = new UriBuilder(url) { Port = gateway.BaseAddress.Port }.Uri.ToString();
        using var socket = await ConnectAsync(elsewhere, "plain.kubevirt.io");
        await using var rfb = WebSocketStream.Create(socket, WebSocketMessageType.Binary);
        Assert.Equal(id.Replace('_', '-'), (await HandshakeAsync(rfb)).Name);
    }

    const string SigningKey = "console-signing-key-for-tests-0123456789";

    static ConsoleTickets Tickets(string key) => new(
        new TableServiceClient("UseDevelopmentStorage=true"), new StoreOptions(), Options.Create(new ConsoleOptions { SigningKey = key }),
        TimeProvider.System, NullLogger<ConsoleTickets>.Instance);
}
