using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace KubeVirt.Simulator;

// One request to /api or /apis as Kubernetes authorization sees it (the attributes an RBAC rule matches).
// Discovery paths (/api, /apis/{group}/{version}) are non-resource requests: Resource is empty and Path says which.
public sealed record AuditEntry(string Verb, string ApiGroup, string Resource, string Subresource, string Namespace, string Name, string Path)
{
    public bool IsResourceRequest => Resource.Length > 0;

    // A change to an object (events aside, which are only reports).
    public bool IsWrite => Verb is "create" or "update" or "patch" or "delete" && Resource != "events";

    public override string ToString() => IsResourceRequest
        ? $"{Verb} {(ApiGroup.Length == 0 ? "core" : ApiGroup)}/{Resource}{(Subresource.Length > 0 ? "/" + Subresource : "")}{(Namespace.Length > 0 ? " in " + Namespace : "")} ({Path})"
        : $"{Verb} {Path}";
}

// Every /api and /apis request, recorded before anything can refuse it (faults included), so a test can
// compare what a client asked for with what an RBAC role grants.
public sealed class AuditLog
{
    readonly Lock gate = new();
    readonly List<AuditEntry> entries = [];

    public IReadOnlyList<AuditEntry> Snapshot()
    {
        lock (gate)
            return entries.ToArray();
    }

    public void Clear()
    {
        lock (gate)
            entries.Clear();
    }

    internal void Record(HttpRequest request)
    {
        if (Parse(request) is not { } entry)
            return;
        lock (gate)
            entries.Add(entry);
    }

    // Follows the Kubernetes API server's request-info rules: /api/{v}/… is the core group, /apis/{g}/{v}/… a
    // named group; "namespaces/{ns}/" scopes what follows, except namespaces/{name}/status|finalize, which are
    // subresources of the namespace itself.
    internal static AuditEntry? Parse(HttpRequest request)
    {
        var path = request.Path.Value ?? "";
        var parts = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0 || parts[0] is not ("api" or "apis"))
            return null;
        var prefix = parts[0] == "api" ? 2 : 3;
        if (parts.Length <= prefix)
            return new AuditEntry(request.Method.ToLowerInvariant(), "", "", "", "", "", path);

        var group = parts[0] == "api" ? "" : parts[1];
        var rest = parts[prefix..];
        var ns = "";
        if (rest[0] == "namespaces" && rest.Length > 1)
        {
            ns = rest[1];
            if (rest.Length > 2 && rest[2] is not ("status" or "finalize"))
                rest = rest[2..];
        }
        var resource = rest[0];
        var name = rest.Length > 1 ? rest[1] : "";
        var subresource = rest.Length > 2 ? string.Join('/', rest[2..]) : "";
        var verb = request.Method switch
        {
            "GET" or "HEAD" when name.Length > 0 => "get",
            "GET" or "HEAD" when request.Query["watch"] is var w && (w == "true" || w == "1") => "watch",
            "GET" or "HEAD" => "list",
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" when name.Length > 0 => "delete",
            "DELETE" => "deletecollection",
            var other => other.ToLowerInvariant(),
        };
        return new AuditEntry(verb, group, resource, subresource, ns, name, path);
    }
}

internal static class AuditMiddleware
{
    public static void UseAudit(this WebApplication app, AuditLog audit) =>
        app.Use(async (context, next) =>
        {
            audit.Record(context.Request);
            await next(context);
        });
}
