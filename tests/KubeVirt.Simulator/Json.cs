using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace KubeVirt.Simulator;

// Small helpers for walking schema-less objects the way controllers read typed ones.
internal static class Json
{
    public static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };

    public static string Now() => Time(DateTime.UtcNow);

    // RFC 3339 with whole seconds, as metav1.Time writes it.
    public static string Time(DateTime at) => at.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static DateTime? Time(string? text) =>
        DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var at) ? at : null;

    public static JsonNode? At(this JsonNode? node, params string[] path)
    {
        foreach (var key in path)
        {
            node = node is JsonObject obj && obj.TryGetPropertyValue(key, out var next) ? next : null;
        }
        return node;
    }

    public static string? Str(this JsonNode? node, params string[] path) =>
        node.At(path) is JsonValue value && value.TryGetValue<string>(out var s) ? s : null;

    public static long? Long(this JsonNode? node, params string[] path) =>
        Number(node.At(path)) is { } number ? (long)number : null;

    // Nodes built in code hold int/long/double while parsed ones hold JsonElement; going through the JSON text reads both.
    public static decimal? Number(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.Number
            ? decimal.Parse(value.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture)
            : null;

    public static bool? Bool(this JsonNode? node, params string[] path) =>
        node.At(path) is JsonValue value && value.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? value.GetValue<bool>() : null;

    public static JsonObject? Object(this JsonNode? node, params string[] path) => node.At(path) as JsonObject;

    public static IEnumerable<JsonObject> Objects(this JsonNode? node, params string[] path) =>
        node.At(path) is JsonArray array ? array.OfType<JsonObject>() : [];

    // Returns the child object, creating it (and replacing a non-object) when missing.
    public static JsonObject Child(this JsonObject obj, string key)
    {
        if (obj[key] is JsonObject existing)
        {
            return existing;
        }
        var created = new JsonObject();
        obj[key] = created;
        return created;
    }

    public static JsonObject Meta(this JsonObject obj) => obj.Child("metadata");

    public static string Name(this JsonObject obj) => obj.Str("metadata", "name") ?? "";
    public static string Namespace(this JsonObject obj) => obj.Str("metadata", "namespace") ?? "";
    public static string Uid(this JsonObject obj) => obj.Str("metadata", "uid") ?? "";
    public static bool IsDeleting(this JsonObject obj) => obj.Str("metadata", "deletionTimestamp") is not null;

    public static JsonObject Clone(this JsonObject obj) => (JsonObject)obj.DeepClone();

    public static IReadOnlyList<string> Finalizers(this JsonObject obj) =>
        obj.At("metadata", "finalizers") is JsonArray array ? array.Select(n => n?.GetValue<string>() ?? "").ToList() : [];

    public static void SetFinalizers(this JsonObject obj, IEnumerable<string> finalizers)
    {
        var list = finalizers.Distinct().ToList();
        if (list.Count == 0)
        {
            obj.Meta().Remove("finalizers");
        }
        else
        {
            obj.Meta()["finalizers"] = new JsonArray(list.Select(f => (JsonNode)f).ToArray());
        }
    }

    public static JsonArray Array(IEnumerable<JsonNode?> items) => new(items.ToArray());

    public static JsonObject? Condition(this JsonNode? obj, string type) =>
        obj.Objects("status", "conditions").FirstOrDefault(c => c.Str("type") == type);

    public static bool HasCondition(this JsonNode? obj, string type, string status, string? reason = null)
    {
        var condition = obj.Condition(type);
        return condition is not null && condition.Str("status") == status && (reason is null || condition.Str("reason") == reason);
    }

    // Upserts a condition, keeping lastTransitionTime when the status does not change (as condition managers do).
    public static void SetCondition(this JsonObject status, string type, string value, string? reason = null, string? message = null, bool probeTime = true)
    {
        if (status["conditions"] is not JsonArray conditions)
        {
            conditions = [];
            status["conditions"] = conditions;
        }
        var existing = conditions.OfType<JsonObject>().FirstOrDefault(c => c.Str("type") == type);
        var transition = existing is not null && existing.Str("status") == value ? existing.Str("lastTransitionTime") ?? Now() : Now();
        var condition = new JsonObject { ["type"] = type, ["status"] = value };
        if (probeTime)
        {
            condition["lastProbeTime"] = null;
        }
        condition["lastTransitionTime"] = transition;
        if (!string.IsNullOrEmpty(reason))
        {
            condition["reason"] = reason;
        }
        if (!string.IsNullOrEmpty(message))
        {
            condition["message"] = message;
        }
        if (existing is null)
        {
            conditions.Add(condition);
        }
        else if (!JsonNode.DeepEquals(existing, condition))
        {
            conditions[conditions.IndexOf(existing)] = condition;
        }
    }

    public static void RemoveCondition(this JsonObject status, string type)
    {
        if (status["conditions"] is JsonArray conditions)
        {
            foreach (var c in conditions.OfType<JsonObject>().Where(c => c.Str("type") == type).ToList())
            {
                conditions.Remove(c);
            }
        }
    }

    public static JsonObject OwnerReference(JsonObject owner, bool controller = true) => new()
    {
        ["apiVersion"] = owner.Str("apiVersion"),
        ["kind"] = owner.Str("kind"),
        ["name"] = owner.Name(),
        ["uid"] = owner.Uid(),
        ["controller"] = controller,
        ["blockOwnerDeletion"] = true,
    };

    public static bool IsOwnedBy(this JsonObject obj, string ownerUid) =>
        obj.Objects("metadata", "ownerReferences").Any(r => r.Str("uid") == ownerUid);

    public static string? ControllerUid(this JsonObject obj) =>
        obj.Objects("metadata", "ownerReferences").FirstOrDefault(r => r.Bool("controller") == true)?.Str("uid");
}
