using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace KubeVirt.Simulator;

// Server-side printing for kubectl (Accept: ...;as=Table;g=meta.k8s.io): the columns the real CRDs and core types show.
internal static class Tables
{
    sealed record Column(string Name, string Type, Func<JsonObject, JsonNode?> Value);

    public static bool Wanted(HttpRequest request) =>
        request.Headers.Accept.Any(a => a is not null && a.Contains("as=Table", StringComparison.Ordinal));

    public static JsonObject Build(ResourceType type, IEnumerable<JsonObject> items, JsonObject metadata)
    {
        var columns = new List<Column> { new("Name", "string", o => o.Name()) };
        columns.AddRange(Columns(type));
        columns.Add(new("Age", "date", o => Age(o.Str("metadata", "creationTimestamp"))));
        return new JsonObject
        {
            ["kind"] = "Table",
            ["apiVersion"] = "meta.k8s.io/v1",
            ["metadata"] = metadata,
            ["columnDefinitions"] = Json.Array(columns.Select(c => (JsonNode?)new JsonObject
            {
                ["name"] = c.Name,
                ["type"] = c.Type,
                ["format"] = c.Name == "Name" ? "name" : "",
                ["description"] = "",
                ["priority"] = 0,
            })),
            ["rows"] = Json.Array(items.Select(o => (JsonNode?)new JsonObject
            {
                ["cells"] = Json.Array(columns.Select(c => c.Value(o)?.DeepClone() ?? "<none>")),
                ["object"] = new JsonObject
                {
                    ["kind"] = "PartialObjectMetadata",
                    ["apiVersion"] = "meta.k8s.io/v1",
                    ["metadata"] = o.Meta().Clone(),
                },
            })),
        };
    }

    // Like k8s.io/apimachinery duration.HumanDuration, which the API server uses for the Age cell.
    static string Age(string? timestamp)
    {
        if (!DateTime.TryParse(timestamp, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal, out var created))
        {
            return "<unknown>";
        }
        var age = DateTime.UtcNow - created;
        return age.TotalSeconds switch
        {
            < 0 => "0s",
            < 120 => $"{(int)age.TotalSeconds}s",
            < 600 => age.Seconds == 0 ? $"{(int)age.TotalMinutes}m" : $"{(int)age.TotalMinutes}m{age.Seconds}s",
            < 3 * 3600 => $"{(int)age.TotalMinutes}m",
            < 8 * 3600 => age.Minutes == 0 ? $"{(int)age.TotalHours}h" : $"{(int)age.TotalHours}h{age.Minutes}m",
            < 48 * 3600 => $"{(int)age.TotalHours}h",
            < 8 * 86400 => age.Hours == 0 ? $"{(int)age.TotalDays}d" : $"{(int)age.TotalDays}d{age.Hours}h",
            _ => $"{(int)age.TotalDays}d",
        };
    }

    static IEnumerable<Column> Columns(ResourceType type)
    {
        if (type == Resources.VirtualMachines)
        {
            return [new("Status", "string", o => o.Str("status", "printableStatus")), new("Ready", "string", o => o.Condition("Ready").Str("status"))];
        }
        if (type == Resources.VirtualMachineInstances)
        {
            return
            [
                new("Phase", "string", o => o.Str("status", "phase")),
                new("IP", "string", o => o.Objects("status", "interfaces").FirstOrDefault()?.Str("ipAddress")),
                new("NodeName", "string", o => o.Str("status", "nodeName")),
                new("Ready", "string", o => o.Condition("Ready").Str("status")),
            ];
        }
        if (type == Resources.Migrations)
        {
            return [new("Phase", "string", o => o.Str("status", "phase")), new("VMI", "string", o => o.Str("spec", "vmiName"))];
        }
        if (type == Resources.DataVolumes)
        {
            return [new("Phase", "string", o => o.Str("status", "phase")), new("Progress", "string", o => o.Str("status", "progress")), new("Restarts", "integer", o => o.Long("status", "restartCount") ?? 0)];
        }
        if (type == Resources.Services)
        {
            return
            [
                new("Type", "string", o => o.Str("spec", "type")),
                new("Cluster-IP", "string", o => o.Str("spec", "clusterIP")),
                new("External-IP", "string", o => o.Objects("status", "loadBalancer", "ingress").FirstOrDefault()?.Str("ip") ?? (o.Str("spec", "type") == "LoadBalancer" ? "<pending>" : "<none>")),
                new("Port(s)", "string", o => string.Join(',', o.Objects("spec", "ports").Select(p => p.Long("nodePort") is { } np ? $"{p.Long("port")}:{np}/{p.Str("protocol")}" : $"{p.Long("port")}/{p.Str("protocol")}"))),
            ];
        }
        if (type == Resources.Pods)
        {
            return [new("Status", "string", o => o.Str("status", "phase")), new("IP", "string", o => o.Str("status", "podIP")), new("Node", "string", o => o.Str("spec", "nodeName"))];
        }
        if (type == Resources.Events)
        {
            return [new("Type", "string", o => o.Str("type")), new("Reason", "string", o => o.Str("reason")), new("Object", "string", o => $"{o.Str("involvedObject", "kind")}/{o.Str("involvedObject", "name")}"), new("Message", "string", o => o.Str("message"))];
        }
        if (type == Resources.Namespaces)
        {
            return [new("Status", "string", o => o.Str("status", "phase"))];
        }
        if (type == Resources.Secrets)
        {
            return [new("Type", "string", o => o.Str("type")), new("Data", "integer", o => (long)(o.Object("data")?.Count ?? 0))];
        }
        if (type == Resources.Pvcs)
        {
            return [new("Status", "string", o => o.IsDeleting() ? "Terminating" : o.Str("status", "phase")), new("Volume", "string", o => o.Str("spec", "volumeName")), new("Capacity", "string", o => o.Str("status", "capacity", "storage"))];
        }
        return [];
    }
}
