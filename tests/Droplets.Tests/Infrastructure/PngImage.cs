using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Droplets.Tests.Infrastructure;

// A PNG reader for what the tests meet: 8-bit RGB or RGBA, not interlaced, any of the five scanline filters
// (the simulator writes filter 0 only; Chromium uses them all). Chunk CRCs are checked.
public sealed class PngImage
{
    static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    readonly byte[] pixels;   // RGB, 3 bytes a pixel

    PngImage(int width, int height, byte[] pixels)
    {
        Width = width;
        Height = height;
        this.pixels = pixels;
    }

    public int Width { get; }
    public int Height { get; }

    // 0xRRGGBB; alpha, if any, is dropped.
    public uint this[int x, int y]
    {
        get
        {
            var i = ((y * Width) + x) * 3;
            return ((uint)pixels[i] << 16) | ((uint)pixels[i + 1] << 8) | pixels[i + 2];
        }
    }

    // Every pixel as 0xRRGGBB, row by row.
    public uint[] ToArray()
    {
        var all = new uint[Width * Height];
        for (var y = 0; y < Height; y++)
            for (var x = 0; x < Width; x++)
                all[(y * Width) + x] = this[x, y];
        return all;
    }

    public int Count(uint rgb) => ToArray().Count(p => p == rgb);

    public static PngImage Decode(byte[] png)
    {
        if (png.Length < Signature.Length || !png.AsSpan(0, Signature.Length).SequenceEqual(Signature))
            throw new InvalidDataException("not a PNG: wrong signature");
        int width = 0, height = 0, channels = 0;
        var idat = new MemoryStream();
        for (var offset = Signature.Length; offset < png.Length;)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(offset));
            var type = Encoding.ASCII.GetString(png, offset + 4, 4);
            var data = png.AsSpan(offset + 8, length);
            var crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset + 8 + length));
            if (Crc32(png.AsSpan(offset + 4, 4 + length)) != crc)
                throw new InvalidDataException($"bad CRC in chunk {type}");
            switch (type)
            {
                case "IHDR":
                    width = BinaryPrimitives.ReadInt32BigEndian(data);
                    height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                    var (depth, colourType, interlace) = (data[8], data[9], data[12]);
                    if (depth != 8 || interlace != 0 || colourType is not (2 or 6))
                        throw new InvalidDataException($"unsupported PNG: depth {depth}, colour type {colourType}, interlace {interlace}");
                    channels = colourType == 2 ? 3 : 4;
                    break;
                case "IDAT":
                    idat.Write(data);
                    break;
                case "IEND":
                    return new PngImage(width, height, Unfilter(Inflate(idat.ToArray()), width, height, channels));
            }
            offset += 12 + length;
        }
        throw new InvalidDataException("PNG has no IEND chunk");
    }

    static byte[] Inflate(byte[] zlib)
    {
        using var inflated = new MemoryStream();
        using (var stream = new ZLibStream(new MemoryStream(zlib), CompressionMode.Decompress))
            stream.CopyTo(inflated);
        return inflated.ToArray();
    }

    // PNG spec §9: each scanline starts with its filter type; filters work on bytes, "left" is one pixel back.
    static byte[] Unfilter(byte[] data, int width, int height, int channels)
    {
        var stride = width * channels;
        if (data.Length != height * (stride + 1))
            throw new InvalidDataException($"IDAT holds {data.Length} bytes, expected {height * (stride + 1)}");
        var current = new byte[stride];
        var previous = new byte[stride];
        var rgb = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
        {
            var filter = data[y * (stride + 1)];
            var line = data.AsSpan((y * (stride + 1)) + 1, stride);
            for (var i = 0; i < stride; i++)
            {
                int a = i >= channels ? current[i - channels] : 0, b = previous[i], c = i >= channels ? previous[i - channels] : 0;
                current[i] = (byte)(line[i] + filter switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) / 2,
                    4 => Paeth(a, b, c),
                    _ => throw new InvalidDataException($"unknown filter type {filter}"),
                });
            }
            for (var x = 0; x < width; x++)
                current.AsSpan(x * channels, 3).CopyTo(rgb.AsSpan(((y * width) + x) * 3));
            (previous, current) = (current, previous);
        }
        return rgb;
    }

    static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }
}
