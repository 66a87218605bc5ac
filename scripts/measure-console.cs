// Relay throughput of one console session: an RFB client that asks for full 640×400×32 bpp frames
// back to back for a few seconds and prints MB/s. Usage: dotnet run scripts/measure-console.cs -- <ws url> [seconds=5]
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.WebSockets;

var url = new Uri(args[0]);
var seconds = args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5;
using var socket = new ClientWebSocket();
socket.Options.AddSubProtocol("plain.kubevirt.io");
// A third argument: a bearer token for the region's URL (the gateway's URL carries its ticket instead).
if (args.Length > 2)
    socket.Options.SetRequestHeader("Authorization", $"Bearer {args[2]}");
await socket.ConnectAsync(url, CancellationToken.None);
await using var rfb = WebSocketStream.Create(socket, WebSocketMessageType.Binary);

async Task<byte[]> Read(int count)
{
    var buffer = new byte[count];
    await rfb.ReadExactlyAsync(buffer);
    return buffer;
}

await Read(12);
await rfb.WriteAsync("RFB 003.008\n"u8.ToArray());
await Read(2);
await rfb.WriteAsync(new byte[] { 1 });
await Read(4);
await rfb.WriteAsync(new byte[] { 1 });
var init = await Read(24);
int width = BinaryPrimitives.ReadUInt16BigEndian(init), height = BinaryPrimitives.ReadUInt16BigEndian(init.AsSpan(2));
await Read((int)BinaryPrimitives.ReadUInt32BigEndian(init.AsSpan(20)));
byte[] request = [3, 0, 0, 0, 0, 0, (byte)(width >> 8), (byte)width, (byte)(height >> 8), (byte)height];
var frame = new byte[16 + width * height * 4];

long bytes = 0;
var frames = 0;
var clock = Stopwatch.StartNew();
while (clock.Elapsed.TotalSeconds < seconds)
{
    await rfb.WriteAsync(request);
    await rfb.ReadExactlyAsync(frame);
    bytes += frame.Length;
    frames++;
}
var elapsed = clock.Elapsed.TotalSeconds;
Console.WriteLine($"{bytes / elapsed / 1e6:0.0} MB/s ({frames / elapsed:0.0} full frames/s of {frame.Length / 1e6:0.00} MB, {elapsed:0.0} s)");
await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
