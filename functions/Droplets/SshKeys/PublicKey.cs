using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace Droplets.SshKeys;

// One OpenSSH public key line, "type base64 [comment]" as in id_ed25519.pub, checked by decoding the key blob
// ourselves: the wire format of RFC 4253 §6.6 (ssh-rsa: string type, mpint e, mpint n), RFC 5656 §3.1
// (ecdsa-sha2-*: string type, string curve, string Q) and RFC 8709 §4 (ssh-ed25519: string type, string key).
// Fingerprints are computed over the blob exactly as `ssh-keygen -l -E sha256` and `-E md5` print them.
public sealed class PublicKey
{
    public const int MaxBytes = 16 * 1024;
    public const int MinRsaBits = 2048;
    public const int MaxRsaBits = 16384; // OpenSSH's own limit (SSH_RSA_MAXIMUM_MODULUS_SIZE)

    static readonly Dictionary<string, (string Curve, int Bits, int CoordinateBytes, ECCurve NamedCurve)> Ecdsa = new(StringComparer.Ordinal)
    {
        ["ecdsa-sha2-nistp256"] = ("nistp256", 256, 32, ECCurve.NamedCurves.nistP256),
        ["ecdsa-sha2-nistp384"] = ("nistp384", 384, 48, ECCurve.NamedCurves.nistP384),
        ["ecdsa-sha2-nistp521"] = ("nistp521", 521, 66, ECCurve.NamedCurves.nistP521),
    };

    public static readonly IReadOnlyList<string> SupportedTypes = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"];

    PublicKey(string type, byte[] blob, int bits, string? comment)
    {
        Type = type;
        Blob = blob;
        Bits = bits;
        Comment = comment;
    }

    public string Type { get; }
    public byte[] Blob { get; }
    public int Bits { get; }
    public string? Comment { get; }

    // The line as stored and shown: single spaces, canonical base64, the comment as given.
    public string Line => Comment is null ? $"{Type} {Convert.ToBase64String(Blob)}" : $"{Type} {Convert.ToBase64String(Blob)} {Comment}";

    public string Fingerprint => "SHA256:" + Convert.ToBase64String(SHA256.HashData(Blob)).TrimEnd('=');

    // MD5 here is the legacy fingerprint format users compare against, not a security control.
    public string FingerprintMd5 => string.Join(':', MD5.HashData(Blob).Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));

    // Either a key or a sentence saying what is wrong with the text, for the 422 answer.
    public static (PublicKey? Key, string? Error) Parse(string text)
    {
        var size = Encoding.UTF8.GetByteCount(text);
        if (size > MaxBytes)
            return Fail($"public_key is {size} bytes; an OpenSSH public key line is at most {MaxBytes} bytes (16 KiB).");
        if (text.Contains("PRIVATE KEY", StringComparison.Ordinal) || text.Contains("PuTTY-User-Key-File", StringComparison.Ordinal))
            return Fail("public_key is a private key. Send only the public half (the .pub file, or the output of `ssh-keygen -y -f <private key>`), and keep the private key secret.");
        if (text.Contains("BEGIN SSH2 PUBLIC KEY", StringComparison.Ordinal))
            return Fail("public_key is in the RFC 4716 (SSH2) format; convert it to an OpenSSH line with `ssh-keygen -i -f <file>`.");
        if (text.Contains("BEGIN PUBLIC KEY", StringComparison.Ordinal) || text.Contains("BEGIN RSA PUBLIC KEY", StringComparison.Ordinal))
            return Fail("public_key is a PEM public key; convert it to an OpenSSH line with `ssh-keygen -i -m PKCS8 -f <file>`.");

        var line = text.Trim();
        if (line.Length == 0)
            return Fail("public_key is required.");
        if (line.AsSpan().IndexOfAny('\n', '\r') >= 0)
        {
            var lines = line.Split('\n').Count(l => l.Trim().Length > 0);
            return Fail($"public_key must be one key on one line; it has {lines} lines. Add each key separately.");
        }
        if (line.Any(c => c != '\t' && (char.IsControl(c) || c is '\u2028' or '\u2029')))
            return Fail("public_key contains control characters.");

        var rest = line.AsSpan();
        var first = NextToken(ref rest);
        if (!IsKeyType(first))
        {
            // authorized_keys allows options before the type (command="…", from="…", no-pty); a key resource does not.
            var probe = rest;
            while (probe.Length > 0)
            {
                if (IsKeyType(NextToken(ref probe)))
                    return Fail("public_key starts with authorized_keys options; send the key alone, starting with its type (e.g. ssh-ed25519 AAAA…).");
            }
            return first.StartsWith("AAAA", StringComparison.Ordinal)
                ? Fail("public_key has no key type; the line must start with it, e.g. ssh-ed25519 AAAA… .")
                : Fail($"'{Shorten(first)}' is not a supported key type; use one of {string.Join(", ", SupportedTypes)}.");
        }
        var type = first.ToString();
        if (Unsupported(type) is { } why)
            return Fail(why);

        var data = NextToken(ref rest);
        if (data.IsEmpty)
            return Fail($"public_key has no key data after '{type}'.");
        var buffer = new byte[data.Length];
        if (!Convert.TryFromBase64Chars(data, buffer, out var written))
            return Fail("the key data is not valid base64.");
        var blob = buffer[..written];
        var comment = rest.Trim().ToString();

        var (bits, error) = CheckBlob(type, blob);
        return error is not null ? Fail(error) : (new PublicKey(type, blob, bits, comment.Length == 0 ? null : comment), null);
    }

    static (int Bits, string? Error) CheckBlob(string type, byte[] blob)
    {
        var reader = new WireReader(blob);
        if (!reader.TryReadString(out var inner))
            return (0, "the key data is truncated: it does not hold a key type.");
        var innerType = Encoding.ASCII.GetString(inner);
        if (!inner.SequenceEqual(Encoding.ASCII.GetBytes(type)))
            return (0, inner.Length <= 64 && innerType.All(c => c is > ' ' and < '\x7f')
                ? $"the key data holds a '{innerType}' key but the line says '{type}'."
                : $"the key data does not hold a '{type}' key.");

        if (type == "ssh-ed25519")
        {
            if (!reader.TryReadString(out var key) || key.Length != 32)
                return (0, "the ssh-ed25519 key data must hold a 32-byte key.");
            return reader.AtEnd ? (256, null) : (0, "the key data has bytes after the key.");
        }

        if (Ecdsa.TryGetValue(type, out var curve))
        {
            if (!reader.TryReadString(out var curveName) || Encoding.ASCII.GetString(curveName) != curve.Curve)
                return (0, $"the {type} key data must name the curve {curve.Curve}.");
            if (!reader.TryReadString(out var point) || point.Length != 1 + 2 * curve.CoordinateBytes || point[0] != 0x04)
                return (0, $"the {type} key data must hold an uncompressed {curve.Curve} point ({1 + 2 * curve.CoordinateBytes} bytes).");
            if (!reader.AtEnd)
                return (0, "the key data has bytes after the key.");
            if (!OnCurve(curve.NamedCurve, point.ToArray(), curve.CoordinateBytes))
                return (0, $"the {type} key is not a point on {curve.Curve}.");
            return (curve.Bits, null);
        }

        // ssh-rsa
        if (!reader.TryReadMpint(out var e) || !reader.TryReadMpint(out var n))
            return (0, "the ssh-rsa key data must hold an exponent and a modulus (positive, minimally encoded mpints).");
        if (!reader.AtEnd)
            return (0, "the key data has bytes after the key.");
        var modulusBits = (int)n.GetBitLength();
        if (e < 3 || e.IsEven || n.IsEven)
            return (0, "the ssh-rsa key is not a valid RSA public key (odd exponent ≥ 3 and odd modulus required).");
        if (modulusBits < MinRsaBits)
            return (0, $"RSA keys must have at least {MinRsaBits} bits; this one has {modulusBits}. Make a new key, e.g. `ssh-keygen -t ed25519`.");
        if (modulusBits > MaxRsaBits)
            return (0, $"RSA keys may have at most {MaxRsaBits} bits (OpenSSH's limit); this one has {modulusBits}.");
        return (modulusBits, null);
    }

    // The platform checks that the point lies on the curve when it is imported.
    static bool OnCurve(ECCurve curve, byte[] point, int size)
    {
        try
        {
            using var key = ECDsa.Create(new ECParameters { Curve = curve, Q = new ECPoint { X = point[1..(1 + size)], Y = point[(1 + size)..] } });
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    static bool IsKeyType(ReadOnlySpan<char> token) =>
        token.StartsWith("ssh-", StringComparison.Ordinal) || token.StartsWith("ecdsa-sha2-", StringComparison.Ordinal)
        || token.StartsWith("sk-", StringComparison.Ordinal) || token.StartsWith("rsa-sha2-", StringComparison.Ordinal);

    static string? Unsupported(string type) => type switch
    {
        _ when SupportedTypes.Contains(type) => null,
        "ssh-dss" => "DSA (ssh-dss) keys are not accepted: OpenSSH has disabled them. Use ssh-ed25519, ecdsa or ssh-rsa (≥ 2048 bits).",
        _ when type.Contains("-cert-", StringComparison.Ordinal) => "certificates are not accepted; send the plain public key.",
        _ when type.StartsWith("sk-", StringComparison.Ordinal) => "security-key (FIDO) keys are not supported; use ssh-ed25519, ecdsa or ssh-rsa (≥ 2048 bits).",
        _ => $"'{Shorten(type)}' is not a supported key type; use one of {string.Join(", ", SupportedTypes)}.",
    };

    static ReadOnlySpan<char> NextToken(ref ReadOnlySpan<char> rest)
    {
        rest = rest.TrimStart(" \t");
        var end = rest.IndexOfAny(' ', '\t');
        var token = end < 0 ? rest : rest[..end];
        rest = end < 0 ? [] : rest[end..];
        return token;
    }

    static string Shorten(ReadOnlySpan<char> value) => value.Length <= 40 ? value.ToString() : value[..40].ToString() + "…";

    static (PublicKey? Key, string? Error) Fail(string error) => (null, error);

    // SSH wire format: uint32 big-endian lengths; mpints are two's complement, big-endian, minimal.
    ref struct WireReader(ReadOnlySpan<byte> data)
    {
        ReadOnlySpan<byte> rest = data;

        public readonly bool AtEnd => rest.IsEmpty;

        public bool TryReadString(out ReadOnlySpan<byte> value)
        {
            value = default;
            if (rest.Length < 4)
                return false;
            var length = BinaryPrimitives.ReadUInt32BigEndian(rest);
            if (length > (uint)(rest.Length - 4))
                return false;
            value = rest.Slice(4, (int)length);
            rest = rest[(4 + (int)length)..];
            return true;
        }

        public bool TryReadMpint(out BigInteger value)
        {
            value = default;
            if (!TryReadString(out var bytes) || bytes.IsEmpty)
                return false;
            if ((bytes[0] & 0x80) != 0)
                return false; // negative
            if (bytes.Length > 1 && bytes[0] == 0 && (bytes[1] & 0x80) == 0)
                return false; // a leading zero that is not needed
            value = new BigInteger(bytes, isUnsigned: true, isBigEndian: true);
            return true;
        }
    }
}
