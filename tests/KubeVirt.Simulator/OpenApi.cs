using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace KubeVirt.Simulator;

// A skeleton OpenAPI v3: no schemas, only PATCH operations that advertise the fieldValidation query parameter.
// That is what kubectl checks before leaving validation to the server, so "kubectl create -f" and "apply" work
// without the client-side schema download that would otherwise fail.
internal static class OpenApi
{
    public static void MapOpenApi(this WebApplication app)
    {
        app.MapGet("/openapi/v3", () => Results.Text(Root().ToJsonString(), "application/json"));
        app.MapGet("/openapi/v3/{**groupVersion}", (string groupVersion) =>
            Document(groupVersion) is { } doc ? Results.Text(doc.ToJsonString(), "application/json") : Results.NotFound());
    }

    static IEnumerable<string> GroupVersions() =>
        Resources.All.Select(r => r.Group.Length == 0 ? $"api/{r.Version}" : $"apis/{r.Group}/{r.Version}").Distinct();

    static JsonObject Root()
    {
        var paths = new JsonObject();
        foreach (var gv in GroupVersions())
        {
            paths[gv] = new JsonObject { ["serverRelativeURL"] = $"/openapi/v3/{gv}" };
        }
        return new JsonObject { ["paths"] = paths };
    }

    static JsonObject? Document(string groupVersion)
    {
        var types = Resources.All.Where(r => (r.Group.Length == 0 ? $"api/{r.Version}" : $"apis/{r.Group}/{r.Version}") == groupVersion).ToList();
        if (types.Count == 0)
        {
            return null;
        }
        var paths = new JsonObject();
        foreach (var type in types)
        {
            var path = type.Namespaced
                ? $"/{groupVersion}/namespaces/{{namespace}}/{type.Plural}/{{name}}"
                : $"/{groupVersion}/{type.Plural}/{{name}}";
            paths[path] = new JsonObject
            {
                ["patch"] = new JsonObject
                {
                    ["operationId"] = $"patch{type.Kind}",
                    ["x-kubernetes-group-version-kind"] = new JsonObject { ["group"] = type.Group, ["version"] = type.Version, ["kind"] = type.Kind },
                    ["parameters"] = new JsonArray(new JsonObject
                    {
                        ["name"] = "fieldValidation",
                        ["in"] = "query",
                        ["schema"] = new JsonObject { ["type"] = "string" },
                    }),
                    ["responses"] = new JsonObject { ["200"] = new JsonObject { ["description"] = "OK" } },
                },
            };
        }
        return new JsonObject
        {
            ["openapi"] = "3.0.0",
            ["info"] = new JsonObject { ["title"] = "Kubernetes", ["version"] = "v1.31.0" },
            ["paths"] = paths,
            ["components"] = new JsonObject { ["schemas"] = new JsonObject() },
        };
    }
}
