using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace KubeVirt.Simulator;

// The smallest PNG writer that does the job (PNG spec, ISO/IEC 15948): 8-bit RGB, no interlace, every scanline
// with filter 0, one IDAT chunk compressed with zlib.
internal static class Png
{
    static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
    static readonly uint[] CrcTable = BuildCrcTable();

    public static byte[] Encode(Screen screen)
    {
        var output = new MemoryStream();
        output.Write(Signature);

        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, Screen.Width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), Screen.Height);
        header[8] = 8;   // bit depth
        header[9] = 2;   // colour type: truecolour (RGB)
        // compression 0, filter method 0, interlace 0
        WriteChunk(output, "IHDR", header);

        var raw = new byte[Screen.Height * (1 + (Screen.Width * 3))];
        var offset = 0;
        for (var y = 0; y < Screen.Height; y++)
        {
            raw[offset++] = 0;   // filter type None
            for (var x = 0; x < Screen.Width; x++)
            {
                var rgb = screen[x, y];
                raw[offset++] = (byte)(rgb >> 16);
                raw[offset++] = (byte)(rgb >> 8);
                raw[offset++] = (byte)rgb;
            }
        }
        var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            zlib.Write(raw);
        }
        WriteChunk(output, "IDAT", compressed.ToArray());
        WriteChunk(output, "IEND", []);
        return output.ToArray();
    }

    // length, type, data, CRC-32 of type and data.
    static void WriteChunk(Stream output, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        output.Write(word);
        var typeBytes = Encoding.ASCII.GetBytes(type);
        output.Write(typeBytes);
        output.Write(data);
        var crc = Crc32(Crc32(0xFFFFFFFF, typeBytes), data) ^ 0xFFFFFFFF;
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        output.Write(word);
    }

    // The PNG spec's CRC-32 (reflected polynomial 0xEDB88320), fed incrementally; callers start at 0xFFFFFFFF and
    // invert the result.
    internal static uint Crc32(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }
        return crc;
    }

    static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }
            table[n] = c;
        }
        return table;
    }
}
