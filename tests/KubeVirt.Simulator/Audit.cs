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

// apiserver_request_total as kube-apiserver exports it (k8s.io/apiserver/pkg/endpoints/metrics), for the requests
// that came through the front (the cluster's URL for its clients: the product), answered by the API server, by virt-api
// or by an injected fault: a client's cost in Kubernetes requests, countable from outside.
public sealed class RequestCounts
{
    readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> counts = new(StringComparer.Ordinal);

    internal void Count(HttpRequest request, AuditEntry entry, int code)
    {
        if (!entry.IsResourceRequest)
            return;
        var parts = request.Path.Value!.Trim('/').Split('/');
        var version = parts[0] == "api" ? parts[1] : parts[2];
        var scope = entry.Namespace.Length > 0 ? "namespace" : entry.Name.Length > 0 ? "resource" : "cluster";
        var labels = $"code=\"{code}\",component=\"apiserver\",dry_run=\"{(request.Query.ContainsKey("dryRun") ? "All" : "")}\",group=\"{entry.ApiGroup}\"," +
            $"resource=\"{entry.Resource}\",scope=\"{scope}\",subresource=\"{entry.Subresource}\",verb=\"{VerbOf(request, entry)}\",version=\"{version}\"";
        counts.AddOrUpdate(labels, 1, (_, n) => n + 1);
    }

    // The metric's verb: the method, but LIST and WATCH for collection reads, APPLY for a server-side apply, CONNECT for
    // an upgraded (websocket) connection.
    static string VerbOf(HttpRequest request, AuditEntry entry) => entry.Verb switch
    {
        _ when request.Headers.Upgrade.Count > 0 => "CONNECT",
        "get" => "GET",
        "list" => "LIST",
        "watch" => "WATCH",
        "patch" when request.ContentType?.StartsWith("application/apply-patch", StringComparison.Ordinal) == true => "APPLY",
        _ => request.Method.ToUpperInvariant(),
    };

    public long Total => counts.Values.Sum();

    public string Render()
    {
        var text = new System.Text.StringBuilder()
            .Append("# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.\n")
            .Append("# TYPE apiserver_request_total counter\n");
        foreach (var (labels, count) in counts.OrderBy(c => c.Key, StringComparer.Ordinal))
            text.Append("apiserver_request_total{").Append(labels).Append("} ").Append(count.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
        return text.ToString();
    }
}

internal static class AuditMiddleware
{
    public static void UseAudit(this WebApplication app, AuditLog audit, RequestCounts counts) =>
        app.Use(async (context, next) =>
        {
            audit.Record(context.Request);
            try
            {
                await next(context);
            }
            finally
            {
                if (AuditLog.Parse(context.Request) is { } entry)
                    counts.Count(context.Request, entry, context.Response.StatusCode);
            }
        });
}
