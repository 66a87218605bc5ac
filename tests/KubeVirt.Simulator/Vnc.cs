using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace KubeVirt.Simulator;

// virt-api's vnc (a websocket carrying raw RFB bytes) and vnc/screenshot (a PNG) subresources, with the guest's
// VNC server played by RfbSession. Validation follows KV:pkg/virt-api/rest/vnc.go and streamer.go: the VMI is
// fetched and checked before any upgrade, so refusals are ordinary Status responses.
internal sealed class Vnc(Store store, CancellationToken stopping)
{
    public const string Subprotocol = "plain.kubevirt.io";
    const string VmiResource = "virtualmachineinstance.kubevirt.io";
    static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    readonly Lock gate = new();
    readonly List<(string Namespace, string Name, RfbSession Session)> sessions = [];

    public async Task Connect(HttpContext context, string ns, string name)
    {
        var vmi = Validate(context, ns, name);
        if (!context.WebSockets.IsWebSocketRequest)
        {
            // gorilla/websocket's words when virt-api's upgrader is handed a plain request.
            throw Errors.BadRequest("websocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header");
        }
        var subprotocol = context.WebSockets.WebSocketRequestedProtocols.Contains(Subprotocol) ? Subprotocol : null;
        using var socket = await context.WebSockets.AcceptWebSocketAsync(subprotocol);
        var hostname = Hostname(vmi);
        var session = new RfbSession(socket, Screen.Showing(hostname), hostname);

        // virt-handler keeps one VNC session per VMI: a new one drops the old unless it asks to preserve it.
        List<RfbSession> replaced;
        lock (gate)
        {
            replaced = IsTrue(context.Request.Query["preserveSession"])
                ? []
                : sessions.Where(s => s.Namespace == ns && s.Name == name).Select(s => s.Session).ToList();
            sessions.RemoveAll(s => replaced.Contains(s.Session));
            sessions.Add((ns, name, session));
        }
        foreach (var old in replaced)
        {
            _ = old.CloseAsync(WebSocketCloseStatus.NormalClosure, "replaced by a new VNC connection");
        }

        try
        {
            var conversation = session.RunAsync(context.RequestAborted);
            await CloseWhenGoneAsync(session, conversation, ns, name, vmi.Uid());
            await conversation;
        }
        finally
        {
            lock (gate)
            {
                sessions.RemoveAll(s => s.Session == session);
            }
        }
    }

    public async Task Screenshot(HttpContext context, string ns, string name)
    {
        var vmi = Validate(context, ns, name);
        var png = Png.Encode(Screen.Showing(Hostname(vmi)));
        context.Response.StatusCode = 200;
        context.Response.ContentType = "image/png";
        context.Response.ContentLength = png.Length;
        await context.Response.Body.WriteAsync(png, context.RequestAborted);
    }

    JsonObject Validate(HttpContext context, string ns, string name)
    {
        if (context.Request.Method != "GET")
        {
            throw Errors.MethodNotAllowed();
        }
        var vmi = store.Get(Resources.VirtualMachineInstances, ns, name) ?? throw Errors.NotFound(VmiResource, name);
        if (vmi.Bool("spec", "domain", "devices", "autoattachGraphicsDevice") == false)
        {
            throw Errors.BadRequest("No graphics devices are present.");
        }
        if (!IsRunning(vmi))
        {
            throw Errors.BadRequest("VMI is not running");
        }
        return vmi;
    }

    static bool IsRunning(JsonObject vmi) => vmi.Str("status", "phase") == "Running";

    // The guest's hostname as KubeVirt sets it: spec.hostname, else the VMI name up to the first dot.
    internal static string Hostname(JsonObject vmi) =>
        vmi.Str("spec", "hostname") is { Length: > 0 } hostname ? hostname : vmi.Name().Split('.')[0];

    // Go's strconv.ParseBool, which virt-api uses for the query parameter.
    static bool IsTrue(string? value) => value is "1" or "t" or "T" or "true" or "TRUE" or "True";

    // The console ends with the guest: a deleted, stopped or replaced VMI closes the websocket, as does shutdown.
    async Task CloseWhenGoneAsync(RfbSession session, Task conversation, string ns, string name, string uid)
    {
        while (await Task.WhenAny(conversation, Task.Delay(PollInterval)) != conversation)
        {
            if (stopping.IsCancellationRequested)
            {
                await session.CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "the simulator is shutting down");
                return;
            }
            var vmi = store.Get(Resources.VirtualMachineInstances, ns, name);
            if (vmi is null || vmi.Uid() != uid || !IsRunning(vmi))
            {
                await session.CloseAsync(WebSocketCloseStatus.NormalClosure, "VMI is not running");
                return;
            }
        }
    }
}

// The server side of RFB 3.8 (RFC 6143; 3.7 and 3.3 clients are served too) over one websocket: security type
// None, a fixed screen, Raw encoding only, converted to whatever true-colour pixel format the client asks for.
// The screen never changes, so an incremental update request waits until something does (a new pixel format).
internal sealed class RfbSession(WebSocket socket, Screen screen, string desktopName)
{
    const int MaxMessage = 64 * 1024;
    static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(2);

    readonly WebSocketStream stream = WebSocketStream.Create(socket, WebSocketMessageType.Binary);
    readonly SemaphoreSlim sending = new(1, 1);
    readonly TaskCompletionSource ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    bool closing;

    // Until the client closes, the connection drops, the client breaks the protocol, or CloseAsync is called.
    public async Task RunAsync(CancellationToken aborted)
    {
        try
        {
            await ConverseAsync(aborted);
        }
        catch (EndOfStreamException)
        {
            await AnswerCloseAsync();
        }
        catch (RfbException e)
        {
            await CloseAsync(WebSocketCloseStatus.ProtocolError, e.Message, waitForClient: false);
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            ended.TrySetResult();
        }
    }

    // Sends a close frame once, then gives the client a moment to answer before dropping the connection.
    public Task CloseAsync(WebSocketCloseStatus status, string reason) => CloseAsync(status, reason, waitForClient: true);

    async Task CloseAsync(WebSocketCloseStatus status, string reason, bool waitForClient)
    {
        await sending.WaitAsync();
        try
        {
            if (closing)
            {
                return;
            }
            closing = true;
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await socket.CloseOutputAsync(status, reason, CancellationToken.None);
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException)
        {
        }
        finally
        {
            sending.Release();
        }
        if (waitForClient && await Task.WhenAny(ended.Task, Task.Delay(CloseTimeout)) != ended.Task)
        {
            socket.Abort();
        }
    }

    async Task AnswerCloseAsync()
    {
        if (socket.State == WebSocketState.CloseReceived)
        {
            await CloseAsync(WebSocketCloseStatus.NormalClosure, "", waitForClient: false);
        }
    }

    async Task ConverseAsync(CancellationToken ct)
    {
        await HandshakeAsync(ct);
        var format = PixelFormat.Server;
        var changed = false;
        (int X, int Y, int Width, int Height)? waiting = null;
        var message = new byte[20];
        while (true)
        {
            await ReadAsync(message.AsMemory(0, 1), ct);
            switch (message[0])
            {
                case 0: // SetPixelFormat
                    await ReadAsync(message.AsMemory(0, 19), ct);
                    var requested = PixelFormat.Read(message.AsSpan(3));
                    format = requested.Unsupported() is { } why ? throw new RfbException(why) : requested;
                    if (waiting is { } area)
                    {
                        waiting = null;
                        await SendUpdateAsync(format, area);
                    }
                    else
                    {
                        changed = true;
                    }
                    break;
                case 2: // SetEncodings: Raw is all we send, and every client must accept it.
                    await ReadAsync(message.AsMemory(0, 3), ct);
                    await SkipAsync(4 * BinaryPrimitives.ReadUInt16BigEndian(message.AsSpan(1)), ct);
                    break;
                case 3: // FramebufferUpdateRequest
                    await ReadAsync(message.AsMemory(0, 9), ct);
                    var rect = (X: Read16(message, 1), Y: Read16(message, 3), Width: Read16(message, 5), Height: Read16(message, 7));
                    if (message[0] == 0 || changed)
                    {
                        changed = false;
                        waiting = null;
                        await SendUpdateAsync(format, rect);
                    }
                    else
                    {
                        waiting = rect;
                    }
                    break;
                case 4: // KeyEvent: the simulated guest has no keyboard handler.
                    await ReadAsync(message.AsMemory(0, 7), ct);
                    break;
                case 5: // PointerEvent
                    await ReadAsync(message.AsMemory(0, 5), ct);
                    break;
                case 6: // ClientCutText; a negative length is the Extended Clipboard form, |length| bytes follow.
                    await ReadAsync(message.AsMemory(0, 7), ct);
                    await SkipAsync(Math.Abs((long)BinaryPrimitives.ReadInt32BigEndian(message.AsSpan(3))), ct);
                    break;
                default:
                    throw new RfbException($"unsupported RFB client message type {message[0]}");
            }
        }
    }

    // ProtocolVersion, security (None), SecurityResult, ClientInit, ServerInit.
    async Task HandshakeAsync(CancellationToken ct)
    {
        await SendAsync("RFB 003.008\n"u8.ToArray());
        var version = new byte[12];
        await ReadAsync(version, ct);
        var text = Encoding.ASCII.GetString(version);
        if (!text.StartsWith("RFB ", StringComparison.Ordinal) || text[7] != '.' || text[11] != '\n' ||
            !int.TryParse(text.AsSpan(4, 3), out var major) || !int.TryParse(text.AsSpan(8, 3), out var minor))
        {
            throw new RfbException("invalid RFB ProtocolVersion");
        }
        // RFC 6143 §7.1.1: anything other than 3.7 or 3.8 is treated as 3.3.
        minor = major > 3 || minor >= 8 ? 8 : minor == 7 ? 7 : 3;

        if (minor == 3)
        {
            await SendAsync(U32(1)); // the server chooses: None
        }
        else
        {
            await SendAsync([1, 1]); // one security type: None
            var choice = new byte[1];
            await ReadAsync(choice, ct);
            if (choice[0] != 1)
            {
                if (minor == 8)
                {
                    var reason = "only security type None is offered"u8.ToArray();
                    await SendAsync([.. U32(1), .. U32((uint)reason.Length), .. reason]);
                }
                throw new RfbException($"the client chose security type {choice[0]}, which was not offered");
            }
        }
        if (minor == 8)
        {
            await SendAsync(U32(0)); // SecurityResult OK (3.3 and 3.7 send none for None)
        }

        var shared = new byte[1];
        await ReadAsync(shared, ct); // ClientInit; the shared flag does not matter with a single screen

        var name = Encoding.UTF8.GetBytes(desktopName);
        var init = new byte[4 + PixelFormat.Size + 4 + name.Length];
        BinaryPrimitives.WriteUInt16BigEndian(init, Screen.Width);
        BinaryPrimitives.WriteUInt16BigEndian(init.AsSpan(2), Screen.Height);
        PixelFormat.Server.WriteTo(init.AsSpan(4));
        BinaryPrimitives.WriteUInt32BigEndian(init.AsSpan(4 + PixelFormat.Size), (uint)name.Length);
        name.CopyTo(init.AsSpan(8 + PixelFormat.Size));
        await SendAsync(init);
    }

    // One FramebufferUpdate with one Raw rectangle: the requested area, clipped to the screen.
    async Task SendUpdateAsync(PixelFormat format, (int X, int Y, int Width, int Height) area)
    {
        var x = Math.Min(area.X, Screen.Width);
        var y = Math.Min(area.Y, Screen.Height);
        var width = Math.Min(area.Width, Screen.Width - x);
        var height = Math.Min(area.Height, Screen.Height - y);
        var empty = width == 0 || height == 0;
        var update = new byte[4 + (empty ? 0 : 12 + (width * height * format.BytesPerPixel))];
        BinaryPrimitives.WriteUInt16BigEndian(update.AsSpan(2), (ushort)(empty ? 0 : 1));
        if (!empty)
        {
            BinaryPrimitives.WriteUInt16BigEndian(update.AsSpan(4), (ushort)x);
            BinaryPrimitives.WriteUInt16BigEndian(update.AsSpan(6), (ushort)y);
            BinaryPrimitives.WriteUInt16BigEndian(update.AsSpan(8), (ushort)width);
            BinaryPrimitives.WriteUInt16BigEndian(update.AsSpan(10), (ushort)height);
            // encoding 0 = Raw (bytes 12..15 stay zero)
            screen.Encode(format, x, y, width, height, update.AsSpan(16));
        }
        await SendAsync(update);
    }

    // Binary messages of at most 64 KiB; RFB is a byte stream, so where the messages split does not matter.
    async Task SendAsync(byte[] data)
    {
        await sending.WaitAsync();
        try
        {
            for (var offset = 0; offset < data.Length && !closing; offset += MaxMessage)
            {
                await stream.WriteAsync(data.AsMemory(offset, Math.Min(MaxMessage, data.Length - offset)));
            }
        }
        finally
        {
            sending.Release();
        }
    }

    // Bytes across websocket messages; the client's close frame ends the stream.
    async Task ReadAsync(Memory<byte> buffer, CancellationToken ct) => await stream.ReadExactlyAsync(buffer, ct);

    async Task SkipAsync(long count, CancellationToken ct)
    {
        var buffer = new byte[(int)Math.Min(count, 8192)];
        while (count > 0)
        {
            var chunk = (int)Math.Min(count, buffer.Length);
            await ReadAsync(buffer.AsMemory(0, chunk), ct);
            count -= chunk;
        }
    }

    static int Read16(byte[] b, int offset) => BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(offset));

    static byte[] U32(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }
}

// The client broke RFB; the websocket is closed with a protocol error and this message as the reason.
internal sealed class RfbException(string message) : Exception(message);
