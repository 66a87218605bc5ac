using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using KubeVirt.Simulator.Cluster;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace KubeVirt.Simulator;

// virt-api's subresources.kubevirt.io behind the API server. kube-apiserver authenticates and authorizes a request
// to an aggregated API before proxying it, so the same check runs first here: a SelfSubjectAccessReview made with
// the caller's own credentials, with the attributes the API server's RequestInfo reads from the path (the
// subresource is the first segment after the name: ".../vnc/screenshot" is authorized as "vnc").
internal sealed class VirtApi(Subresources subresources, KubeApiServer server)
{
    public const string Group = "subresources.kubevirt.io";

    readonly HttpClient reviews = new(KubeApiServer.Handler()) { BaseAddress = server.BaseAddress };

    const string BearerProtocol = "base64url.bearer.authorization.k8s.io.";

    public void Map(WebApplication app)
    {
        app.MapGet($"/apis/{Group}/v1", Discovery);
        app.Map($"/apis/{Group}/{{**rest}}", Handle);
    }

    // virt-api's APIResourceList: what kubectl and RBAC tooling read to learn the subresources and their verbs.
    Task Discovery(HttpContext context) => Rest.Write(context, 200, new JsonObject
    {
        ["kind"] = "APIResourceList",
        ["apiVersion"] = "v1",
        ["groupVersion"] = $"{Group}/v1",
        ["resources"] = Json.Array(subresources.Served.Select(s => (JsonNode)new JsonObject
        {
            ["name"] = $"{s.Resource}/{s.Action}",
            ["singularName"] = "",
            ["namespaced"] = true,
            ["kind"] = s.Resource == "virtualmachines" ? "VirtualMachine" : "VirtualMachineInstance",
            ["verbs"] = new JsonArray(s.Verb),
        })),
    });

    async Task Handle(HttpContext context)
    {
        try
        {
            var segments = context.Request.Path.Value!.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
            if (segments is not ["apis", Group, "v1", "namespaces", var ns, var resource, var name, .. var action] || action.Length == 0)
                throw new ApiException(404, "NotFound", "the server could not find the requested resource", new JsonObject());
            await AuthorizeAsync(context, ns, resource, name, action[0]);
            await subresources.Handle(context, ns, resource, name, string.Join('/', action));
        }
        catch (ApiException e)
        {
            if (!context.Response.HasStarted)
                await Rest.Write(context, e.Code, e.ToStatus());
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
        }
    }

    // The Authorization header, or (browsers cannot set headers on a websocket) a bearer token offered as the
    // websocket subprotocol "base64url.bearer.authorization.k8s.io.<token, base64url>", as the API server accepts.
    static string? Credentials(HttpRequest request)
    {
        if (request.Headers.Authorization.ToString() is { Length: > 0 } header)
            return header;
        var offered = request.Headers.SecWebSocketProtocol.SelectMany(p => (p ?? "").Split(',', StringSplitOptions.TrimEntries));
        if (offered.FirstOrDefault(p => p.StartsWith(BearerProtocol, StringComparison.Ordinal)) is not { } protocol)
            return null;
        var encoded = protocol[BearerProtocol.Length..].Replace('-', '+').Replace('_', '/');
        try
        {
            return "Bearer " + Encoding.UTF8.GetString(Convert.FromBase64String(encoded.PadRight(encoded.Length + (4 - encoded.Length % 4) % 4, '=')));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    async Task AuthorizeAsync(HttpContext context, string ns, string resource, string name, string subresource)
    {
        var verb = context.Request.Method switch
        {
            "GET" or "HEAD" => "get",
            "PUT" => "update",
            "POST" => "create",
            "PATCH" => "patch",
            "DELETE" => "delete",
            var other => other.ToLowerInvariant(),
        };
        var review = new JsonObject
        {
            ["apiVersion"] = "authorization.k8s.io/v1",
            ["kind"] = "SelfSubjectAccessReview",
            ["spec"] = new JsonObject
            {
                ["resourceAttributes"] = new JsonObject
                {
                    ["namespace"] = ns, ["verb"] = verb, ["group"] = Group, ["resource"] = resource, ["subresource"] = subresource, ["name"] = name,
                },
            },
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, "apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
        {
            Content = new StringContent(review.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        if (Credentials(context.Request) is { } credentials)
            request.Headers.TryAddWithoutValidation("Authorization", credentials);
        using var response = await reviews.SendAsync(request, context.RequestAborted);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
            throw new ApiException(401, "Unauthorized", "Unauthorized");
        var allowed = response.IsSuccessStatusCode
            && JsonNode.Parse(await response.Content.ReadAsStringAsync(context.RequestAborted))?["status"]?["allowed"]?.GetValue<bool>() == true;
        if (!allowed)
        {
            throw new ApiException(403, "Forbidden",
                $"{resource}.{Group} \"{name}\" is forbidden: the caller cannot {verb} resource \"{resource}/{subresource}\" in API group \"{Group}\" in the namespace \"{ns}\"",
                new JsonObject { ["name"] = name, ["group"] = Group, ["kind"] = resource });
        }
    }
}
