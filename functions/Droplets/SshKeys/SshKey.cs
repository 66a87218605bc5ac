using System.Text.Json.Serialization;

namespace Droplets.SshKeys;

// An SSH public key as the API shows it. Belongs to a project; droplets of that project can be created with it.
public sealed record SshKey
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required string PublicKey { get; init; }
    public required string Fingerprint { get; init; }
    public required string FingerprintMd5 { get; init; }
    public required string Type { get; init; }
    public int Bits { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Comment { get; init; }

    public required string ProjectId { get; init; }
    public DateTimeOffset CreatedAt { get; init; }

    // The id of the token that added it, for the audit trail; not shown.
    [JsonIgnore]
    public string? CreatedBy { get; init; }
}

public static class SshKeyIds
{
    public const string Prefix = "sk_";

    // 12 hex digits: 48 random bits. A collision is caught by the id index's insert, which draws again.
    public static string New() => Prefix + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));

    public static bool IsWellFormed(string? id) =>
        id is not null && id.Length == Prefix.Length + 12 && id.StartsWith(Prefix, StringComparison.Ordinal) && !id.AsSpan(Prefix.Length).ContainsAnyExcept("0123456789abcdef");
}
