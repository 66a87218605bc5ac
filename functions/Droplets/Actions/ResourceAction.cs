using System.Text.Json.Serialization;
using Droplets.Droplets;

namespace Droplets.Actions;

[JsonConverter(typeof(JsonStringEnumConverter<ActionType>))]
public enum ActionType
{
    [JsonStringEnumMemberName("create")] Create,
    [JsonStringEnumMemberName("resize")] Resize,
    [JsonStringEnumMemberName("reboot")] Reboot,
    [JsonStringEnumMemberName("power_off")] PowerOff,
    [JsonStringEnumMemberName("power_on")] PowerOn,
    [JsonStringEnumMemberName("delete")] Delete,
    [JsonStringEnumMemberName("rebuild")] Rebuild,

    // Volume actions; a volume's create, delete and resize use the types above.
    [JsonStringEnumMemberName("attach")] Attach,
    [JsonStringEnumMemberName("detach")] Detach,
}

[JsonConverter(typeof(JsonStringEnumConverter<ActionStatus>))]
public enum ActionStatus
{
    [JsonStringEnumMemberName("in-progress")] InProgress,
    [JsonStringEnumMemberName("completed")] Completed,
    [JsonStringEnumMemberName("errored")] Errored,
}

// Every mutation of a droplet or a volume is an action that can be followed to its end. The record outlives
// the durable instance's history; while in progress, its progress comes from the workflow.
public sealed record ResourceAction
{
    public required string Id { get; init; }
    public required ActionType Type { get; init; }
    public required ActionStatus Status { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? CompletedAt { get; init; }
    public required string ResourceId { get; init; }

    // What the action works on, told by the resource id's prefix: "droplet" or "volume".
    public string ResourceType => ResourceId.StartsWith(Volumes.Volume.Prefix, StringComparison.Ordinal) ? "volume" : "droplet";
    public required string Region { get; init; }
    public int Progress { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ErrorDetail? Error { get; init; }

    // The token that asked for it (never the secret). Stored for the audit trail, not shown.
    [JsonIgnore]
    public string? CreatedBy { get; init; }

    [JsonIgnore]
    public string ProjectId { get; init; } = "";

    public static string NewId() => "act_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));

    public static bool IsWellFormedId(string id) =>
        id.Length == 16 && id.StartsWith("act_", StringComparison.Ordinal) && !id.AsSpan(4).ContainsAnyExcept("0123456789abcdef");

    public static string Location(string id) => $"/api/v1/actions/{id}";

    // The durable instance that carries out an action: derived from the action, so a retried start
    // of the same action can never run twice.
    public static string InstanceIdFor(string actionId) => $"action-{actionId}";
}
