using System.Buffers.Binary;

namespace KubeVirt.Simulator;

// What a simulated guest shows on its graphics console: a solid background with the guest's hostname written
// large and centred in a 5×7 bitmap font. Two colours only, so tests can assert exact pixels.
internal sealed class Screen
{
    public const int Width = 640;
    public const int Height = 400;
    public const uint Background = 0x1E3A8A;   // RGB, a dark blue
    public const uint Foreground = 0xFACC15;   // RGB, a yellow

    const int Margin = 32;
    const int MaxScale = 8;

    Screen(uint[] pixels) => Pixels = pixels;

    // 0xRRGGBB, row by row from the top left.
    public uint[] Pixels { get; }

    public uint this[int x, int y] => Pixels[(y * Width) + x];

    public static Screen Showing(string text)
    {
        var pixels = new uint[Width * Height];
        Array.Fill(pixels, Background);
        text = text.ToLowerInvariant();
        if (text.Length == 0)
        {
            return new Screen(pixels);
        }

        // The largest whole scale that fits; very long names are clipped at scale 1.
        var scale = Math.Clamp((Width - (2 * Margin)) / (text.Length * Font.Advance), 1, MaxScale);
        var textWidth = ((text.Length * Font.Advance) - 1) * scale;
        var left = Math.Max(Margin, (Width - textWidth) / 2);
        var top = (Height - (Font.Rows * scale)) / 2;
        for (var i = 0; i < text.Length; i++)
        {
            var glyph = Font.Glyph(text[i]);
            for (var row = 0; row < Font.Rows; row++)
            {
                for (var col = 0; col < Font.Columns; col++)
                {
                    if (glyph[row][col] == '#')
                    {
                        Fill(pixels, left + (((i * Font.Advance) + col) * scale), top + (row * scale), scale);
                    }
                }
            }
        }
        return new Screen(pixels);
    }

    static void Fill(uint[] pixels, int x, int y, int size)
    {
        for (var dy = 0; dy < size; dy++)
        {
            for (var dx = 0; dx < size && x + dx < Width - Margin; dx++)
            {
                pixels[((y + dy) * Width) + x + dx] = Foreground;
            }
        }
    }

    // The pixels of a rectangle in a client's pixel format, row by row: a Raw-encoded rectangle's payload.
    public void Encode(PixelFormat format, int x, int y, int width, int height, Span<byte> destination)
    {
        var size = format.BytesPerPixel;
        var offset = 0;
        for (var row = y; row < y + height; row++)
        {
            for (var col = x; col < x + width; col++)
            {
                format.Write(Pixels[(row * Width) + col], destination.Slice(offset, size));
                offset += size;
            }
        }
    }
}

// RFC 6143 §7.4 PIXEL_FORMAT. Only true-colour formats of 8, 16 or 32 bits per pixel are supported.
internal readonly record struct PixelFormat(
    byte BitsPerPixel, byte Depth, bool BigEndian, bool TrueColour,
    ushort RedMax, ushort GreenMax, ushort BlueMax, byte RedShift, byte GreenShift, byte BlueShift)
{
    public const int Size = 16;

    // What the simulated guest's display uses, like QEMU's default: 32 bpp, depth 24, little-endian 0x00RRGGBB.
    public static PixelFormat Server { get; } = new(32, 24, false, true, 255, 255, 255, 16, 8, 0);

    public int BytesPerPixel => BitsPerPixel / 8;

    public static PixelFormat Read(ReadOnlySpan<byte> b) => new(
        b[0], b[1], b[2] != 0, b[3] != 0,
        BinaryPrimitives.ReadUInt16BigEndian(b[4..]), BinaryPrimitives.ReadUInt16BigEndian(b[6..]), BinaryPrimitives.ReadUInt16BigEndian(b[8..]),
        b[10], b[11], b[12]);

    public void WriteTo(Span<byte> b)
    {
        b[..Size].Clear();
        b[0] = BitsPerPixel;
        b[1] = Depth;
        b[2] = (byte)(BigEndian ? 1 : 0);
        b[3] = (byte)(TrueColour ? 1 : 0);
        BinaryPrimitives.WriteUInt16BigEndian(b[4..], RedMax);
        BinaryPrimitives.WriteUInt16BigEndian(b[6..], GreenMax);
        BinaryPrimitives.WriteUInt16BigEndian(b[8..], BlueMax);
        b[10] = RedShift;
        b[11] = GreenShift;
        b[12] = BlueShift;
    }

    // Why a client's format cannot be served, or null when it can.
    public string? Unsupported() =>
        !TrueColour ? "colour-map pixel formats are not supported"
        : BitsPerPixel is not (8 or 16 or 32) ? $"{BitsPerPixel} bits per pixel is not supported"
        : RedMax == 0 || GreenMax == 0 || BlueMax == 0 ? "a colour maximum is 0"
        : RedShift >= BitsPerPixel || GreenShift >= BitsPerPixel || BlueShift >= BitsPerPixel ? "a colour shift is outside the pixel"
        : null;

    // Each 8-bit channel is scaled to the channel's maximum and shifted into place (RFC 6143 §7.4).
    public void Write(uint rgb, Span<byte> destination)
    {
        var value = (Scale(rgb >> 16, RedMax) << RedShift) | (Scale(rgb >> 8, GreenMax) << GreenShift) | (Scale(rgb, BlueMax) << BlueShift);
        switch (BitsPerPixel, BigEndian)
        {
            case (8, _):
                destination[0] = (byte)value;
                break;
            case (16, true):
                BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)value);
                break;
            case (16, false):
                BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)value);
                break;
            case (_, true):
                BinaryPrimitives.WriteUInt32BigEndian(destination, value);
                break;
            default:
                BinaryPrimitives.WriteUInt32LittleEndian(destination, value);
                break;
        }
    }

    static uint Scale(uint channel, ushort max) => (((channel & 0xFF) * max) + 127) / 255;
}

// A 5×7 bitmap font for hostnames: a–z, 0–9, '-', '.', '_'; anything else draws as '?'.
internal static class Font
{
    public const int Columns = 5;
    public const int Rows = 7;
    public const int Advance = Columns + 1;

    const string Chars = "abcdefghijklmnopqrstuvwxyz0123456789-._? ";

    // One string per glyph: 7 rows of 5 cells, '#' lit.
    static readonly string[] Glyphs =
    [
        "..... ..... .###. ....# .#### #...# .####", // a
        "#.... #.... ####. #...# #...# #...# ####.", // b
        "..... ..... .###. #.... #.... #...# .###.", // c
        "....# ....# .#### #...# #...# #...# .####", // d
        "..... ..... .###. #...# ##### #.... .###.", // e
        "..##. .#..# .#... ###.. .#... .#... .#...", // f
        "..... .#### #...# #...# .#### ....# .###.", // g
        "#.... #.... #.##. ##..# #...# #...# #...#", // h
        "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.", // i
        "...#. ..... ..##. ...#. ...#. #..#. .##..", // j
        "#.... #.... #..#. #.#.. ##... #.#.. #..#.", // k
        ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.", // l
        "..... ..... ##.#. #.#.# #.#.# #...# #...#", // m
        "..... ..... #.##. ##..# #...# #...# #...#", // n
        "..... ..... .###. #...# #...# #...# .###.", // o
        "..... ####. #...# #...# ####. #.... #....", // p
        "..... .#### #...# #...# .#### ....# ....#", // q
        "..... ..... #.##. ##..# #.... #.... #....", // r
        "..... ..... .#### #.... .###. ....# ####.", // s
        ".#... .#... ###.. .#... .#... .#..# ..##.", // t
        "..... ..... #...# #...# #...# #..## .##.#", // u
        "..... ..... #...# #...# #...# .#.#. ..#..", // v
        "..... ..... #...# #...# #.#.# #.#.# .#.#.", // w
        "..... ..... #...# .#.#. ..#.. .#.#. #...#", // x
        "..... #...# #...# #...# .#### ....# .###.", // y
        "..... ..... ##### ...#. ..#.. .#... #####", // z
        ".###. #...# #..## #.#.# ##..# #...# .###.", // 0
        "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.", // 1
        ".###. #...# ....# ...#. ..#.. .#... #####", // 2
        "##### ...#. ..#.. ...#. ....# #...# .###.", // 3
        "...#. ..##. .#.#. #..#. ##### ...#. ...#.", // 4
        "##### #.... ####. ....# ....# #...# .###.", // 5
        "..##. .#... #.... ####. #...# #...# .###.", // 6
        "##### ....# ...#. ..#.. .#... .#... .#...", // 7
        ".###. #...# #...# .###. #...# #...# .###.", // 8
        ".###. #...# #...# .#### ....# ...#. .##..", // 9
        "..... ..... ..... ##### ..... ..... .....", // -
        "..... ..... ..... ..... ..... .##.. .##..", // .
        "..... ..... ..... ..... ..... ..... #####", // _
        ".###. #...# ....# ...#. ..#.. ..... ..#..", // ?
        "..... ..... ..... ..... ..... ..... .....", // space
    ];

    static readonly string[][] Rows7 = Glyphs.Select(Split).ToArray();

    public static string[] Glyph(char c)
    {
        var index = Chars.IndexOf(c, StringComparison.Ordinal);
        return Rows7[index < 0 ? Chars.IndexOf('?', StringComparison.Ordinal) : index];
    }

    static string[] Split(string glyph)
    {
        var rows = glyph.Split(' ');
        if (rows.Length != Rows || rows.Any(r => r.Length != Columns))
        {
            throw new InvalidOperationException($"malformed glyph '{glyph}'");
        }
        return rows;
    }
}
