using System.Text.Json.Serialization;

namespace Droplets.Droplets;

// The droplet as the API shows it: the seed's fields plus the full object of GET /droplets/{id}.
public sealed record Droplet
{
    public required string Id { get; init; }
    public required string ProjectId { get; init; }
    public required string Name { get; init; }
    public required string Image { get; init; }
    public required string PlanId { get; init; }
    public required string Region { get; init; }
    public required DropletStatus Status { get; init; }
    public string? PublicIp { get; init; }
    public string? PrivateIp { get; init; }
    public IReadOnlyList<string> Tags { get; init; } = [];
    public IReadOnlyList<string> SshKeyIds { get; init; } = [];
    public IReadOnlyList<string> VolumeIds { get; init; } = [];
    public int Vcpus { get; init; }
    public int Memory { get; init; }
    public int Disk { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ErrorDetail? Error { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }

    // The Kubernetes namespace of its objects, fixed when it is created (see TenantNamespaces).
    [JsonIgnore]
    public string Namespace { get; init; } = "";

    // The id of the token that created it (never the secret). Kept for the audit trail, not shown.
    [JsonIgnore]
    public string? CreatedBy { get; init; }

    // One action at a time: the running action holds the droplet. `locked` shows that it is held.
    [JsonIgnore]
    public string? LockedBy { get; init; }

    [JsonIgnore]
    public Actions.ActionType? LockedFor { get; init; }

    // The status before the running action took the droplet, and the action's argument (the plan a resize is moving
    // to): what the action's workflow needs, kept with the lock so the reconciler can start it too.
    [JsonIgnore]
    public DropletStatus? LockedFrom { get; init; }

    [JsonIgnore]
    public string? LockedWith { get; init; }

    public bool Locked => LockedBy is not null;
}

// What a droplet boots with, fixed when it is created: the public keys of its ssh_key_ids as they were then
// (deleting a key later changes no droplet) and the caller's user_data. Stored apart from the record (see
// DropletStore) and never shown: user data often carries secrets.
public sealed record DropletBoot(IReadOnlyList<string> SshKeys, string? UserData)
{
    public static readonly DropletBoot None = new([], null);
}

[JsonConverter(typeof(JsonStringEnumConverter<DropletStatus>))]
public enum DropletStatus
{
    [JsonStringEnumMemberName("provisioning")] Provisioning,
    [JsonStringEnumMemberName("starting")] Starting,
    [JsonStringEnumMemberName("running")] Running,
    [JsonStringEnumMemberName("stopping")] Stopping,
    [JsonStringEnumMemberName("stopped")] Stopped,
    [JsonStringEnumMemberName("rebooting")] Rebooting,
    [JsonStringEnumMemberName("resizing")] Resizing,
    [JsonStringEnumMemberName("rebuilding")] Rebuilding,
    [JsonStringEnumMemberName("deleting")] Deleting,
    [JsonStringEnumMemberName("error")] Error,
}

public static class DropletIds
{
    public const string Prefix = "dpl_";

    // 12 hex digits: 48 random bits. A collision is caught by the id index's insert, which retries.
    public static string New() => Prefix + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));

    // With an Idempotency-Key the id is derived from the token and the key, so that a create re-run after
    // a crash finds the droplet its first attempt wrote instead of making a second one.
    public static string FromKey(string tokenId, string key) =>
        Prefix + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{tokenId}\n{key}")))[..12];

    public static bool IsWellFormed(string id) =>
        id.Length == Prefix.Length + 12 && id.StartsWith(Prefix, StringComparison.Ordinal) && !id.AsSpan(Prefix.Length).ContainsAnyExcept("0123456789abcdef");
}
