using System.Text.Json.Nodes;

namespace KubeVirt.Simulator;

// Thrown anywhere in request handling; the dispatcher turns it into a Kubernetes Status body.
internal sealed class ApiException(int code, string reason, string message, JsonObject? details = null) : Exception(message)
{
    public int Code { get; } = code;
    public string Reason { get; } = reason;
    public JsonObject? Details { get; } = details;

    // The API server's own refusal (a Status body), rethrown as it came.
    public static ApiException FromStatus(int code, JsonObject status) =>
        new(code, status.Str("reason") ?? "", status.Str("message") ?? $"the API server answered {code}", status["details"]?.DeepClone() as JsonObject);

    public JsonObject ToStatus()
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = Message,
        };
        if (Reason.Length > 0)
        {
            status["reason"] = Reason;
        }
        if (Details is not null)
        {
            status["details"] = Details.DeepClone();
        }
        status["code"] = Code;
        return status;
    }
}

// Constructors mirror k8s.io/apimachinery/pkg/api/errors so messages match the real API server.
internal static class Errors
{
    public static ApiException NotFound(string groupResource, string name) =>
        new(404, "NotFound", $"{groupResource} \"{name}\" not found", Details(name, groupResource));

    public static ApiException AlreadyExists(string groupResource, string name) =>
        new(409, "AlreadyExists", $"{groupResource} \"{name}\" already exists", Details(name, groupResource));

    public static ApiException Conflict(string groupResource, string name, string why) =>
        new(409, "Conflict", $"Operation cannot be fulfilled on {groupResource} \"{name}\": {why}", Details(name, groupResource));

    public static ApiException StaleObject(string groupResource, string name) =>
        Conflict(groupResource, name, "the object has been modified; please apply your changes to the latest version and try again");

    public static ApiException Invalid(string groupKind, string name, string field, string causeReason, string detail) =>
        Invalid(groupKind, name, [(field, causeReason, detail)]);

    // Several field errors are listed in brackets, as apimachinery's aggregate error prints them.
    public static ApiException Invalid(string groupKind, string name, IReadOnlyList<(string Field, string Reason, string Detail)> causes)
    {
        var (group, kind) = Split(groupKind);
        var details = new JsonObject
        {
            ["name"] = name,
            ["group"] = group,
            ["kind"] = kind,
            ["causes"] = Json.Array(causes.Select(c => (JsonNode)new JsonObject { ["reason"] = c.Reason, ["message"] = c.Detail, ["field"] = c.Field })),
        };
        if (group.Length == 0)
        {
            details.Remove("group");
        }
        var errors = causes.Select(c => $"{c.Field}: {c.Detail}").ToList();
        var text = errors.Count == 1 ? errors[0] : $"[{string.Join(", ", errors)}]";
        return new(422, "Invalid", $"{groupKind} \"{name}\" is invalid: {text}", details);
    }

    public static ApiException BadRequest(string message) => new(400, "BadRequest", message);

    public static ApiException MethodNotAllowed() =>
        new(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");

    public static ApiException UnsupportedMediaType(bool strategicAllowed) =>
        new(415, "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml" +
            (strategicAllowed ? ", application/strategic-merge-patch+json" : ""));

    public static ApiException Internal(string why) =>
        new(500, "InternalError", $"Internal error occurred: {why}",
            new JsonObject { ["causes"] = new JsonArray(new JsonObject { ["message"] = why }) });

    public static ApiException Gone(string message) => new(410, "Expired", message);

    static JsonObject Details(string name, string groupResource)
    {
        var (resource, group) = SplitResource(groupResource);
        var details = new JsonObject { ["name"] = name };
        if (group.Length > 0)
        {
            details["group"] = group;
        }
        details["kind"] = resource;
        return details;
    }

    // "virtualmachines.kubevirt.io" -> ("virtualmachines", "kubevirt.io")
    static (string Resource, string Group) SplitResource(string groupResource)
    {
        var dot = groupResource.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? (groupResource, "") : (groupResource[..dot], groupResource[(dot + 1)..]);
    }

    // "VirtualMachine.kubevirt.io" -> ("kubevirt.io", "VirtualMachine")
    static (string Group, string Kind) Split(string groupKind)
    {
        var dot = groupKind.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? ("", groupKind) : (groupKind[(dot + 1)..], groupKind[..dot]);
    }
}
