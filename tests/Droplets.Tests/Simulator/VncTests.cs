using System.Buffers.Binary;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Droplets.Tests.Infrastructure;

namespace Droplets.Tests.Simulator;

// The vnc websocket and vnc/screenshot subresources: RFB 3.8 spoken by hand, the refusals virt-api makes
// before upgrading, the close when the guest goes, the PNG, and noVNC in Chromium as a real client.
public sealed class VncTests
{
    // The simulator's documented screen (tests/KubeVirt.Simulator/README.md).
    const int Width = 640;
    const int Height = 400;
    const uint Background = 0x1E3A8A;
    const uint Text = 0xFACC15;
    const string Subprotocol = "plain.kubevirt.io";

    static string PathOf(string ns, string name, string subresource = "vnc") =>
        $"apis/subresources.kubevirt.io/v1/namespaces/{ns}/virtualmachineinstances/{name}/{subresource}";

    static async Task<SimulatorWorld> RunningVmAsync(string name, string? hostname = null)
    {
        var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        var vm = SimulatorWorld.ContainerDiskVm(name, "ns", "quay.io/containerdisks/ubuntu:22.04");
        if (hostname is not null)
            vm["spec"]!["template"]!["spec"]!["hostname"] = hostname;
        await world.CreateVmAsync(vm);
        await world.WaitForPrintableStatusAsync("ns", name, "Running");
        return world;
    }

    [Fact]
    public async Task Vnc_speaks_RFB_3_8_and_shows_the_guest_hostname()
    {
        await using var world = await RunningVmAsync("vm-a", hostname: "web-01");
        await using var rfb = await RfbClient.ConnectAsync(world, PathOf("ns", "vm-a"));
        Assert.Equal("plain.kubevirt.io", rfb.Socket.SubProtocol);

        Assert.Equal("RFB 003.008\n", Encoding.ASCII.GetString(await rfb.ReadAsync(12)));
        await rfb.SendAsync("RFB 003.008\n"u8.ToArray());
        Assert.Equal([1, 1], await rfb.ReadAsync(2));          // one security type: None
        await rfb.SendAsync(1);
        Assert.Equal([0, 0, 0, 0], await rfb.ReadAsync(4));    // SecurityResult: OK
        await rfb.SendAsync(1);                                 // ClientInit, shared
        var init = await rfb.ReadAsync(24);
        Assert.Equal(Width, BinaryPrimitives.ReadUInt16BigEndian(init));
        Assert.Equal(Height, BinaryPrimitives.ReadUInt16BigEndian(init.AsSpan(2)));
        // 32 bpp, depth 24, little-endian, true colour, maxima 255, shifts red 16, green 8, blue 0.
        Assert.Equal([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0], init[4..17]);
        var name = await rfb.ReadAsync((int)BinaryPrimitives.ReadUInt32BigEndian(init.AsSpan(20)));
        Assert.Equal("web-01", Encoding.UTF8.GetString(name));

        // The server's own format: 0x00RRGGBB, little-endian.
        await rfb.SendAsync(RfbClient.UpdateRequest(incremental: false));
        var screen = await rfb.ReadUpdateAsync(4, p => BinaryPrimitives.ReadUInt32LittleEndian(p));
        Assert.Equal(Background, screen[0]);
        Assert.Equal(Background, screen[^1]);
        Assert.InRange(screen.Count(p => p == Text), 1000, Width * Height / 4);
        Assert.Equal(Width * Height, screen.Count(p => p is Background or Text));

        // Input and encodings are read and ignored; then noVNC's format: little-endian, red at shift 0, so the
        // bytes are R, G, B, 0.
        await rfb.SendAsync(4, 1, 0, 0, 0, 0, 0xFF, 0x0D);                  // KeyEvent: Return down
        await rfb.SendAsync(5, 0, 0, 10, 0, 20);                             // PointerEvent
        await rfb.SendAsync([6, 0, 0, 0, 0, 0, 0, 5, .. "hello"u8]);         // ClientCutText
        await rfb.SendAsync([6, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFC, 0, 0, 0, 1]); // Extended Clipboard (length -4)
        await rfb.SendAsync(2, 0, 0, 2, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x21);  // SetEncodings: Raw, DesktopSize
        await rfb.SendAsync(RfbClient.SetPixelFormat(32, 24, bigEndian: false, 255, 255, 255, 0, 8, 16));
        await rfb.SendAsync(RfbClient.UpdateRequest(incremental: false));
        var rgbx = await rfb.ReadUpdateAsync(4, p => p[3] == 0 ? ((uint)p[0] << 16) | ((uint)p[1] << 8) | p[2] : 0xBAD);
        Assert.Equal(screen, rgbx);

        // An incremental request waits for a change, and a new pixel format is one: RGB565, big-endian.
        await rfb.SendAsync(RfbClient.UpdateRequest(incremental: true));
        await rfb.SendAsync(RfbClient.SetPixelFormat(16, 16, bigEndian: true, 31, 63, 31, 11, 5, 0));
        var rgb565 = await rfb.ReadUpdateAsync(2, p => BinaryPrimitives.ReadUInt16BigEndian(p));
        // Each channel scaled to its maximum and rounded: #1E3A8A → (4, 14, 17), #FACC15 → (30, 50, 3).
        const uint Background565 = (4 << 11) | (14 << 5) | 17, Text565 = (30 << 11) | (50 << 5) | 3;
        Assert.Equal(screen.Select(p => p == Background ? Background565 : Text565), rgb565);

        await rfb.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", rfb.Deadline);
        Assert.Equal(WebSocketState.Closed, rfb.Socket.State);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, rfb.Socket.CloseStatus);
    }

    [Fact]
    public async Task Vnc_is_refused_before_any_upgrade_unless_the_vmi_is_running()
    {
        await using var world = await SimulatorWorld.StartAsync(o => o.BootDelay = TimeSpan.FromHours(1));
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.ContainerDiskVm("vm", "ns", "quay.io/containerdisks/ubuntu:22.04"));
        await SimulatorWorld.Eventually(() => world.ExistsAsync(SimulatorWorld.KubeVirt, "v1", "virtualmachineinstances", "ns", "vm"), e => e, "a scheduled VMI");

        var missing = await world.Http.GetAsync(PathOf("ns", "missing"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        var status = await SimulatorWorld.StatusOf(missing);
        Assert.Equal("Status", status["kind"]!.GetValue<string>());
        Assert.Equal("virtualmachineinstance.kubevirt.io \"missing\" not found", Message(status));
        Assert.Equal(HttpStatusCode.NotFound, await UpgradeFailureAsync(world, PathOf("ns", "missing")));

        foreach (var subresource in new[] { "vnc", "vnc/screenshot" })
        {
            var notRunning = await world.Http.GetAsync(PathOf("ns", "vm", subresource));
            Assert.Equal(HttpStatusCode.BadRequest, notRunning.StatusCode);
            status = await SimulatorWorld.StatusOf(notRunning);
            Assert.Equal("VMI is not running", Message(status));
            Assert.Equal("BadRequest", status["reason"]!.GetValue<string>());
        }
        Assert.Equal(HttpStatusCode.BadRequest, await UpgradeFailureAsync(world, PathOf("ns", "vm")));

        world.Simulator.Options.BootDelay = TimeSpan.Zero;
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        var plain = await world.Http.GetAsync(PathOf("ns", "vm"));
        Assert.Equal(HttpStatusCode.BadRequest, plain.StatusCode);
        Assert.StartsWith("websocket: the client is not using the websocket protocol", Message(await SimulatorWorld.StatusOf(plain)), StringComparison.Ordinal);
        var put = await world.Http.PutAsync(PathOf("ns", "vm"), null);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, put.StatusCode);
    }

    [Fact]
    public async Task Vnc_closes_cleanly_when_the_vm_stops()
    {
        // No spec.hostname: the guest is named after the VMI up to the first dot.
        await using var world = await RunningVmAsync("db.example");
        await using var rfb = await RfbClient.ConnectAsync(world, PathOf("ns", "db.example"));
        Assert.Equal("db", await rfb.HandshakeAsync());

        var stop = await world.SubresourceAsync("ns", "db.example", "stop");
        Assert.Equal(HttpStatusCode.Accepted, stop.StatusCode);
        await rfb.ReadUntilCloseAsync();
        Assert.Equal(WebSocketCloseStatus.NormalClosure, rfb.Socket.CloseStatus);
        Assert.Equal("VMI is not running", rfb.Socket.CloseStatusDescription);
        await rfb.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", rfb.Deadline);
        Assert.Equal(WebSocketState.Closed, rfb.Socket.State);
    }

    [Fact]
    public async Task An_open_console_does_not_hold_up_the_simulator_shutdown()
    {
        var world = await RunningVmAsync("vm");
        await using var rfb = await RfbClient.ConnectAsync(world, PathOf("ns", "vm"));
        await rfb.HandshakeAsync();

        var disposing = world.DisposeAsync().AsTask();
        await rfb.ReadUntilCloseAsync();
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, rfb.Socket.CloseStatus);
        await rfb.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", rfb.Deadline);
        // Kestrel would otherwise wait its whole shutdown timeout (30 s) for the request to end.
        await disposing.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_new_vnc_connection_replaces_the_old_one_unless_it_preserves_the_session()
    {
        await using var world = await RunningVmAsync("vm");
        await using var first = await RfbClient.ConnectAsync(world, PathOf("ns", "vm"));
        await first.HandshakeAsync();
        await using var second = await RfbClient.ConnectAsync(world, PathOf("ns", "vm") + "?preserveSession=true");
        await second.HandshakeAsync();
        // The first is still served (had it been dropped, its close frame would come before this update).
        await first.SendAsync(RfbClient.UpdateRequest(incremental: false));
        Assert.Equal(Background, (await first.ReadUpdateAsync(4, p => BinaryPrimitives.ReadUInt32LittleEndian(p)))[0]);

        await using var third = await RfbClient.ConnectAsync(world, PathOf("ns", "vm"));
        await third.HandshakeAsync();

        // The third (preserveSession=false, the default) drops both; it still works.
        await first.ReadUntilCloseAsync();
        await second.ReadUntilCloseAsync();
        Assert.Equal("replaced by a new VNC connection", second.Socket.CloseStatusDescription);
        await third.SendAsync(RfbClient.UpdateRequest(incremental: false));
        Assert.Equal(Background, (await third.ReadUpdateAsync(4, p => BinaryPrimitives.ReadUInt32LittleEndian(p)))[0]);
    }

    [Fact]
    public async Task Screenshot_is_a_png_of_the_vnc_screen()
    {
        await using var world = await RunningVmAsync("web-01");
        var response = await world.Http.GetAsync(PathOf("ns", "web-01", "vnc/screenshot") + "?moveCursor=true");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType!.MediaType);
        var bytes = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A], bytes[..8]);
        Assert.Equal("IHDR", Encoding.ASCII.GetString(bytes, 12, 4));
        Assert.Equal(Width, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(Height, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        var png = PngImage.Decode(bytes);
        Assert.Equal(Background, png[0, 0]);
        Assert.Equal(Background, png[Width - 1, Height - 1]);
        Assert.True(png.Count(Text) > 1000);

        await using var rfb = await RfbClient.ConnectAsync(world, PathOf("ns", "web-01"));
        await rfb.HandshakeAsync();
        await rfb.SendAsync(RfbClient.UpdateRequest(incremental: false));
        Assert.Equal(await rfb.ReadUpdateAsync(4, p => BinaryPrimitives.ReadUInt32LittleEndian(p)), png.ToArray());

        // Discovery names both, with the verb RBAC rules use for them.
        var discovery = JsonNode.Parse(await world.Http.GetStringAsync("apis/subresources.kubevirt.io/v1"))!;
        var vncResources = discovery["resources"]!.AsArray().Where(r => r!["name"]!.GetValue<string>().Contains("/vnc", StringComparison.Ordinal));
        Assert.Equal(["virtualmachineinstances/vnc get", "virtualmachineinstances/vnc/screenshot get"],
            vncResources.Select(r => $"{r!["name"]} {string.Join(',', r!["verbs"]!.AsArray())}"));
    }

    // noVNC (@novnc/novnc from npm) in headless Chromium, through the same URL a console would use.
    [Fact]
    public async Task NoVncRendersTheSimulatorScreen()
    {
        await using var world = await RunningVmAsync("web-01");
        var url = new UriBuilder(new Uri(world.Simulator.BaseAddress, PathOf("ns", "web-01"))) { Scheme = "ws" }.Uri;

        var (bytes, desktopName) = await Browser.NoVncScreenshotAsync(url, TimeSpan.FromSeconds(90), world.Simulator.AdminToken);

        Assert.Equal("web-01", desktopName);
        var drawn = PngImage.Decode(bytes);
        Assert.Equal((Width, Height), (drawn.Width, drawn.Height));
        Assert.Equal(Background, drawn[0, 0]);
        Assert.True(drawn.Count(Text) > 1000);
        var screenshot = PngImage.Decode(await world.Http.GetByteArrayAsync(PathOf("ns", "web-01", "vnc/screenshot")));
        Assert.Equal(screenshot.ToArray(), drawn.ToArray());
    }

    static string Message(JsonObject status) => status["message"]!.GetValue<string>();

    static async Task<HttpStatusCode> UpgradeFailureAsync(SimulatorWorld world, string path)
    {
        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol(Subprotocol);
        socket.Options.SetRequestHeader("Authorization", $"Bearer {world.Simulator.AdminToken}");
        socket.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(RfbClient.WebSocketUri(world, path), CancellationToken.None));
        return socket.HttpStatusCode;
    }

    // The client half of RFB, just enough to check the server: raw bytes across binary websocket messages.
    sealed class RfbClient : IAsyncDisposable
    {
        readonly CancellationTokenSource deadline = new(TimeSpan.FromSeconds(30));
        readonly WebSocketStream stream;

        RfbClient(ClientWebSocket socket)
        {
            Socket = socket;
            stream = WebSocketStream.Create(socket, WebSocketMessageType.Binary);
        }

        public ClientWebSocket Socket { get; }
        public CancellationToken Deadline => deadline.Token;

        public static Uri WebSocketUri(SimulatorWorld world, string path) =>
            new UriBuilder(new Uri(world.Simulator.BaseAddress, path)) { Scheme = "ws" }.Uri;

        public static async Task<RfbClient> ConnectAsync(SimulatorWorld world, string path)
        {
            var socket = new ClientWebSocket();
            socket.Options.AddSubProtocol(Subprotocol);
            socket.Options.SetRequestHeader("Authorization", $"Bearer {world.Simulator.AdminToken}");
            await socket.ConnectAsync(WebSocketUri(world, path), CancellationToken.None);
            return new RfbClient(socket);
        }

        // Version 3.8, security None, shared ClientInit; returns the desktop name.
        public async Task<string> HandshakeAsync()
        {
            await ReadAsync(12);
            await SendAsync("RFB 003.008\n"u8.ToArray());
            await ReadAsync(2);
            await SendAsync(1);
            await ReadAsync(4);
            await SendAsync(1);
            var init = await ReadAsync(24);
            return Encoding.UTF8.GetString(await ReadAsync((int)BinaryPrimitives.ReadUInt32BigEndian(init.AsSpan(20))));
        }

        public async Task<byte[]> ReadAsync(int count)
        {
            var buffer = new byte[count];
            await stream.ReadExactlyAsync(buffer, Deadline);
            return buffer;
        }

        public async Task SendAsync(params byte[] bytes) => await stream.WriteAsync(bytes, Deadline);

        // A FramebufferUpdate with one full-screen Raw rectangle, decoded pixel by pixel.
        public async Task<uint[]> ReadUpdateAsync(int bytesPerPixel, Func<byte[], uint> pixel)
        {
            var header = await ReadAsync(16);
            Assert.Equal(0, header[0]);                                                   // FramebufferUpdate
            Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(2)));      // one rectangle
            Assert.Equal([0, 0, 0, 0, Width >> 8, Width & 0xFF, Height >> 8, Height & 0xFF, 0, 0, 0, 0], header[4..]);  // x, y, w, h, Raw
            var data = await ReadAsync(Width * Height * bytesPerPixel);
            return Enumerable.Range(0, Width * Height).Select(i => pixel(data[(i * bytesPerPixel)..((i + 1) * bytesPerPixel)])).ToArray();
        }

        public async Task ReadUntilCloseAsync()
        {
            var buffer = new byte[1024];
            while ((await Socket.ReceiveAsync(buffer, Deadline)).MessageType != WebSocketMessageType.Close)
            {
            }
        }

        public static byte[] UpdateRequest(bool incremental) =>
            [3, (byte)(incremental ? 1 : 0), 0, 0, 0, 0, Width >> 8, Width & 0xFF, Height >> 8, Height & 0xFF];

        public static byte[] SetPixelFormat(byte bpp, byte depth, bool bigEndian, ushort redMax, ushort greenMax, ushort blueMax, byte redShift, byte greenShift, byte blueShift) =>
            [0, 0, 0, 0, bpp, depth, (byte)(bigEndian ? 1 : 0), 1,
             (byte)(redMax >> 8), (byte)redMax, (byte)(greenMax >> 8), (byte)greenMax, (byte)(blueMax >> 8), (byte)blueMax,
             redShift, greenShift, blueShift, 0, 0, 0];

        public async ValueTask DisposeAsync()
        {
            Socket.Abort();
            Socket.Dispose();
            await stream.DisposeAsync();
            deadline.Dispose();
        }
    }
}
