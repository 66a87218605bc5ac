using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Droplets.Tests.SshKeys;

// Public keys for the tests. The fixed ones were made with `ssh-keygen -t … -C …` (OpenSSH 9.2p1) when these
// tests were written, and their fingerprints are what `ssh-keygen -l -E sha256 -f` and `-E md5` printed for
// them then. The generated ones are built here from System.Security.Cryptography keys, in the SSH wire format
// (RFC 4253 §6.6, RFC 5656 §3.1), independently of the product's parser.
public static class TestKeys
{
    public sealed record Fixed(string Line, string Type, int Bits, string? Comment, string Sha256, string Md5);

    public static readonly Fixed Ed25519 = new(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ8X2Q9burX9kIvdzJ4sIjHVexJ3dsr2WtBvhkzKL7np alice@example",
        "ssh-ed25519", 256, "alice@example",
        "SHA256:a83rj8l/0G3mvmqTg/Ls9J4Vo4pnHzn3OEOkk0b0cL4", "aa:08:50:ee:7f:da:e4:ad:21:4d:e4:64:ff:d9:0e:f3");

    // As ssh-keygen writes a key made with -C '': a trailing space, no comment.
    public static readonly Fixed Ed25519NoComment = new(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKtvs9gIbmflLC6bVEqHgZBu9y5kiMjUIMjEWZU1/h2P \n",
        "ssh-ed25519", 256, null,
        "SHA256:2hVHmjCbrBBDbJUIxQ0ARWlfaPXXhCBPHx+EerxVPyU", "4e:b6:c4:6a:55:ca:fe:62:29:38:dd:08:4b:ae:ff:12");

    public static readonly Fixed Rsa2048 = new(
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCa2ANnIfrY0kiwCJ1icKxU1vOvUPoTt/6D01E/uhLuJLYwL9+bJ8CiuNBUaaWokz2BqDXbh+ryIMGU5uB0Gq7VjdOcmZtZPZXhDtz2JAJMAghdq0ozkJBbhAT9tUeNDbyuk7eMJTCpwttyM4YsBgghcCU15odeoTcTDeYY47OfU0OxBt/wvOgXbpyqvgBG976l4Fwh/r7vN5BmxLcG2SnWP4UzKdKboMBlWjGc+JV1D4Bjzitb0FjyDULccBD9u8WnI1+giAqGK3wdWKLelGYW/I37osrqUFyJjrm7P4a6pz2uHTRT+r0W8COStGCOkyrKCb/V3CbD4SWKPbsLkRP1 bob@example",
        "ssh-rsa", 2048, "bob@example",
        "SHA256:Z94zKx3bz1J5bfIXcKzUW4ZpIsdoBIxRU7Nr6oS2o8A", "ff:f4:bf:f8:00:0d:ba:fa:b4:15:4f:e2:d4:60:6d:70");

    public static readonly Fixed Rsa4096 = new(
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAACAQCy1UX5OdnknDYEXvaN1Xc7pgNyXz9dH9JDKZASrcQ4DLW6wUi5YQLgv5y9Hh0VamnsTss22viVRJ43OsL1m3HScTfeUZq4uqdqH6sufrmKG8iVoy08T3kldH0ESqYAOC5SGsls90YuEtzVr0IF4WzY9bMYYsEl9rO2RNSVE1o630kESDr4p+4JpAWqVhgAGc95gsTAD9Ix/Icn14FqMp25GL5QD3kcw0lho15ClUqtYx9mT6AbZ0Ho9oX2HGcJiWzhAKNBa9OFG4h3ApXC7CFVDMI+HxZvgeGObPNMF+svxCiID0AZQCoEEvhDGShSyG4tRpg30EQAzY1sLCjHJ5bGKac9coA3mbH6t9EwhzWV4CEHZ7Csmoy5LqjvhyH7Td6ataPkq+ZuDvf1umdxVm4hMXskIHUa8wF/lIZZXKMnk98x1I/0WS3QgWSBW5NBYI9FGFc4chSVWOBByNyAl5xnOR2ziGVpe16/MaqmJkj5a24jEQGQAlzqDDwaNHUolHpaYqMfgGAK40uvoM8eyfO2JTYzx6/dIJh/TJMJ6rWJZefskXYY/1FSFvBiUKOSblkS+RA5vmQTvLsDgJ6nPY4g2PACVZpp73lUwSZCvzBwiyW3OsPdKFn3yQFfvI2mfSbIaIVj6SXtYdaqVex8JmRHycSCJR8x5JMM6TaZAFskww== rsa4096",
        "ssh-rsa", 4096, "rsa4096",
        "SHA256:qQWSFUFBeNv/wpg1Cc8pDS/lDXc+LiOYMNiUWCXqNfw", "04:46:98:5b:2d:54:20:5f:55:1d:1f:fb:63:73:9b:af");

    public static readonly Fixed EcdsaP256 = new(
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHDtIK9a/wZ99vJDyEfFs3KW5ymmEwhvMmoulQ5JMHMjCSYVGJjdBX8kwA/r61vKxBv76Dx9Rp9EQdBeAUAJuRw= p256",
        "ecdsa-sha2-nistp256", 256, "p256",
        "SHA256:glcZBJyxvtdL5AOJ0WBripiN3x2rQfThbFBhlSSBZco", "c9:be:d4:6f:98:f7:2f:e9:ef:13:7c:ea:73:2b:44:78");

    public static readonly Fixed EcdsaP384 = new(
        "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBFuMpQ67za8VNO0m5z+y4kLJGfhhb9wwKB78oSzDzfcSSL0ktJkoA/ojw0JynFwEvG/Rn7b1BgU6KzuA6/ITpcMlfV0WgvKROLNyz5kLq/OCPcnSXA8ludcdcGyyUZReiA== p384",
        "ecdsa-sha2-nistp384", 384, "p384",
        "SHA256:C902aX5TrvyprjEoEjhgm1ZyDDmNShcCP48n7dWLsKo", "2a:6c:7a:18:7c:2f:ab:76:32:2d:f0:d2:84:bb:a3:7b");

    public static readonly Fixed EcdsaP521 = new(
        "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAGwScfx2AUUTI4hoyEQ1GY6leVphqlYbGcMIHMVJ8ebGQbA3nAvPu9QZSNS9bNgLnSrQPE5JmGkg41GJ+/2tYMEGwHVN2mejn4u90B9YKeyR+LlAL+WZJZp1l4u+u36yc3CD52kzSrwUQ8akMPR8D4zi2fIVt4SzD+9ay/u14ed1Sgjfw== p521",
        "ecdsa-sha2-nistp521", 521, "p521",
        "SHA256:hdqn+eh0TaMc2cTk0vRUZ1oNpZ3YFBa6Gzhp9hACUdQ", "fb:3e:4b:9b:60:be:34:75:ca:b0:d7:29:c7:39:92:8e");

    public static readonly Fixed Rsa1024 = new(
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDZxeXtqkcqxWU9aXDF5BnPm4ipz1zWr1w7MJeID43aC4uJAvqcYMBoMevLttQFMOFJ+H6b71h21HX6yAgO8gT6f4i9qhkONRvfdq/18AqRietNpnHvwADC05uYePEtBEKGuTzZl3VenM6wcCzcJSHvI/R1aqQ2TV0G8zUiK4Ryhw== weak",
        "ssh-rsa", 1024, "weak",
        "SHA256:TaJoSJNm6b1GgCDQ+mFub/r4xhs777Ff/QZWPovw+YA", "ae:43:e9:15:71:2c:a4:dc:9c:35:a4:3c:b5:77:58:87");

    public static IEnumerable<Fixed> Accepted => [Ed25519, Ed25519NoComment, Rsa2048, Rsa4096, EcdsaP256, EcdsaP384, EcdsaP521];

    public static Fixed ByName(string name) => typeof(TestKeys).GetField(name)!.GetValue(null) as Fixed ?? throw new ArgumentException(name);

    public static byte[] Rsa(int bits)
    {
        using var rsa = RSA.Create(bits);
        var p = rsa.ExportParameters(false);
        return Concat(String("ssh-rsa"), Mpint(p.Exponent!), Mpint(p.Modulus!));
    }

    public static byte[] Ecdsa(string curveName)
    {
        var curve = curveName switch
        {
            "nistp256" => ECCurve.NamedCurves.nistP256,
            "nistp384" => ECCurve.NamedCurves.nistP384,
            _ => ECCurve.NamedCurves.nistP521,
        };
        using var ec = ECDsa.Create(curve);
        var p = ec.ExportParameters(false);
        return Concat(String("ecdsa-sha2-" + curveName), String(curveName), String([0x04, .. p.Q.X!, .. p.Q.Y!]));
    }

    public static string Line(string type, byte[] blob, string? comment = "generated") =>
        comment is null ? $"{type} {Convert.ToBase64String(blob)}" : $"{type} {Convert.ToBase64String(blob)} {comment}";

    public static string Sha256Of(byte[] blob) => "SHA256:" + Convert.ToBase64String(SHA256.HashData(blob)).TrimEnd('=');

    public static byte[] String(string value) => String(Encoding.ASCII.GetBytes(value));

    public static byte[] String(byte[] value)
    {
        var bytes = new byte[4 + value.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)value.Length);
        value.CopyTo(bytes, 4);
        return bytes;
    }

    // A positive mpint: a leading zero byte when the top bit is set.
    public static byte[] Mpint(byte[] magnitude)
    {
        var trimmed = magnitude.SkipWhile(b => b == 0).ToArray();
        return String((trimmed.Length > 0 && (trimmed[0] & 0x80) != 0) ? [0, .. trimmed] : trimmed);
    }

    public static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];
}
