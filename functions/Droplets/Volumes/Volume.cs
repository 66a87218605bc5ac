using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Droplets.Actions;
using Droplets.Droplets;

namespace Droplets.Volumes;

// A block-storage volume: a claim in the region's cluster that can be attached to one droplet at a time.
public sealed record Volume
{
    public const string Prefix = "vol_";

    public required string Id { get; init; }
    public required string Name { get; init; }
    public required int SizeGigabytes { get; init; }
    public required string Region { get; init; }
    public string Description { get; init; } = "";
    public required string ProjectId { get; init; }
    public required VolumeStatus Status { get; init; }

    // The droplet it is attached to; null unless attached.
    public string? DropletId { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ErrorDetail? Error { get; init; }

    [JsonIgnore]
    public DateTimeOffset UpdatedAt { get; init; }

    // The Kubernetes namespace of its claim, fixed when it is created (see TenantNamespaces); attachable only to
    // droplets in the same one.
    [JsonIgnore]
    public string Namespace { get; init; } = "";

    [JsonIgnore]
    public string? CreatedBy { get; init; }

    // One action at a time, as for droplets. A droplet being created with the volume holds it with its
    // create action (LockedFor create, PendingDropletId = the new droplet) until provisioning ends.
    [JsonIgnore]
    public string? LockedBy { get; init; }

    [JsonIgnore]
    public ActionType? LockedFor { get; init; }

    // What the running action needs, kept with the lock so that recovery can start its workflow too:
    // the droplet an attach/detach works on (or a create reserved it for), the size a resize grows to.
    [JsonIgnore]
    public string? PendingDropletId { get; init; }

    [JsonIgnore]
    public int? PendingSize { get; init; }

    public bool Locked => LockedBy is not null;

    // 12 hex digits: 48 random bits; a collision is caught by the id index's insert, which retries.
    public static string NewId() => Prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    // With an Idempotency-Key, as for droplets: a create re-run after a crash finds what its first attempt wrote.
    public static string IdFromKey(string tokenId, string key) =>
        Prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"volume\n{tokenId}\n{key}")))[..12];

    public static bool IsWellFormedId(string? id) =>
        id is not null && id.Length == Prefix.Length + 12 && id.StartsWith(Prefix, StringComparison.Ordinal) && !id.AsSpan(Prefix.Length).ContainsAnyExcept("0123456789abcdef");

    public static string Location(string id) => $"/api/v1/volumes/{id}";
}

[JsonConverter(typeof(JsonStringEnumConverter<VolumeStatus>))]
public enum VolumeStatus
{
    [JsonStringEnumMemberName("creating")] Creating,
    [JsonStringEnumMemberName("available")] Available,
    [JsonStringEnumMemberName("attached")] Attached,
    [JsonStringEnumMemberName("error")] Error,
}
