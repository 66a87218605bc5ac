using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using KubeVirt.Simulator.Cluster;

namespace KubeVirt.Simulator;

internal enum UpdateMode
{
    // virt-api writing the main resource: status is the API server's business (kept when there is a /status).
    Main,
    // Only the status, through /status where the kind has it.
    Status,
    // A controller write: the main resource, then its status.
    Full,
}

// The simulator's view of the real API server, as a KubeVirt component has it through informers: every kind it
// plays is listed and watched (with the admin token) into a local cache that controllers and virt-api read.
// Writes go to the API server at once (HttpClient.Send: the controllers are one synchronous loop) and their answers
// are cached straight away, so a pass reads its own writes; a stale write is the API server's 409, which the
// controllers take as "try again next pass". Every method hands out clones.
internal sealed class Store : IAsyncDisposable
{
    readonly HttpClient http;
    readonly Lock gate = new();
    readonly Dictionary<ResourceType, Dictionary<(string Namespace, string Name), JsonObject>> objects =
        Resources.All.ToDictionary(r => r, _ => new Dictionary<(string, string), JsonObject>());
    readonly SemaphoreSlim changed = new(0);
    readonly CancellationTokenSource stop = new();
    readonly List<Task> informers = [];
    // Uids the API server said are gone: a write's answer that arrives after the DELETED event must not bring one back.
    readonly HashSet<string> deleted = [];

    Store(HttpClient http) => this.http = http;

    public static async Task<Store> StartAsync(KubeApiServer server, CancellationToken cancellationToken)
    {
        var http = server.HttpClient(server.AdminToken);
        http.Timeout = Timeout.InfiniteTimeSpan;
        var store = new Store(http);
        foreach (var type in Resources.All)
        {
            var synced = new TaskCompletionSource();
            store.informers.Add(Task.Run(() => store.InformAsync(type, synced), CancellationToken.None));
            await synced.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        }
        return store;
    }

    public JsonObject? Get(ResourceType type, string? ns, string name)
    {
        lock (gate)
            return objects[type].TryGetValue((ns ?? "", name), out var obj) ? obj.Clone() : null;
    }

    public (List<JsonObject> Items, long ResourceVersion) List(ResourceType type, string? ns)
    {
        lock (gate)
        {
            var items = objects[type]
                .Where(kv => ns is null || kv.Key.Namespace == ns)
                .OrderBy(kv => kv.Key.Namespace, StringComparer.Ordinal)
                .ThenBy(kv => kv.Key.Name, StringComparer.Ordinal)
                .Select(kv => kv.Value.Clone())
                .ToList();
            return (items, 0);
        }
    }

    public bool Exists(ResourceType type, string? ns, string name)
    {
        lock (gate)
            return objects[type].ContainsKey((ns ?? "", name));
    }

    public JsonObject Create(ResourceType type, JsonObject obj)
    {
        obj["apiVersion"] = type.ApiVersion;
        obj["kind"] = type.Kind;
        var ns = type.Namespaced ? obj.Namespace() : null;
        // Cached at once: should the status write fail, the next pass sees the object and does not make another.
        var created = Remember(type, Send(HttpMethod.Post, Path(type, ns, null), obj));
        if (type.HasStatus && obj["status"] is JsonObject status && !JsonNode.DeepEquals(status, created["status"]))
        {
            created["status"] = status.DeepClone();
            created = Remember(type, Send(HttpMethod.Put, Path(type, ns, created.Name()) + "/status", created));
        }
        return created;
    }

    // change receives a clone of the cached object and returns the desired one (null: leave it alone).
    // A write that meets a newer version (409) is made again on the API server's copy, as client-go's RetryOnConflict.
    // Changes the cached object, or `seen` when the caller read it live; a conflict re-reads it live.
    public JsonObject Update(ResourceType type, string? ns, string name, Func<JsonObject, JsonObject?> change, UpdateMode mode, JsonObject? seen = null)
    {
        var current = seen?.Clone() ?? Get(type, ns, name) ?? throw Errors.NotFound(type.GroupResource, name);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return Write(type, ns, name, current, change, mode);
            }
            catch (ApiException e) when (e.Code == 409 && e.Reason == "Conflict" && attempt < 5)
            {
                current = Live(type, ns, name) ?? throw Errors.NotFound(type.GroupResource, name);
                current["apiVersion"] = type.ApiVersion;
                current["kind"] = type.Kind;
                Remember(type, current);
            }
        }
    }

    JsonObject Write(ResourceType type, string? ns, string name, JsonObject current, Func<JsonObject, JsonObject?> change, UpdateMode mode)
    {
        var desired = change(current.Clone());
        if (desired is null || JsonNode.DeepEquals(desired, current))
            return current;
        var path = Path(type, type.Namespaced ? ns : null, name);
        if (!type.HasStatus)
        {
            var answer = Send(HttpMethod.Put, path, desired);
            return Gone(answer) ? Forget(type, ns, name, answer) : Remember(type, answer);
        }

        var next = current;
        if (mode != UpdateMode.Status && !JsonNode.DeepEquals(WithoutStatus(desired), WithoutStatus(current)))
        {
            next = Send(HttpMethod.Put, path, desired);
            if (Gone(next))
                return Forget(type, ns, name, next);
        }
        if (mode != UpdateMode.Main && !JsonNode.DeepEquals(desired["status"], next["status"]))
        {
            var withStatus = next.Clone();
            withStatus["status"] = desired["status"]?.DeepClone();
            next = Send(HttpMethod.Put, path + "/status", withStatus);
        }
        return Remember(type, next);
    }

    // The API server applies finalizers and grace periods; Orphan leaves dependents to the garbage collector's
    // "orphan" finalizer. Pods go at once (grace period 0): the simulator is their kubelet and has nothing to wait for.
    public JsonObject Delete(ResourceType type, string? ns, string name, bool orphan = false)
    {
        var options = new JsonObject { ["kind"] = "DeleteOptions", ["apiVersion"] = "v1", ["propagationPolicy"] = orphan ? "Orphan" : "Background" };
        if (type == Resources.Pods)
            options["gracePeriodSeconds"] = 0;
        var answer = Send(HttpMethod.Delete, Path(type, type.Namespaced ? ns : null, name), options);
        // Gone unless finalizers (or a grace period) hold it: the answer is then the object, marked for deletion.
        return Gone(answer) || !answer.IsDeleting() ? Forget(type, ns, name, answer) : Remember(type, answer);
    }

    // The scheduler's decision: spec.nodeName is set through the pod's binding subresource (the spec is otherwise
    // immutable), and the bound pod read back.
    public JsonObject Bind(string ns, string name, string node)
    {
        var binding = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Binding",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
            ["target"] = new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Node", ["name"] = node },
        };
        Send(HttpMethod.Post, Path(Resources.Pods, ns, name) + "/binding", binding);
        var pod = Send(HttpMethod.Get, Path(Resources.Pods, ns, name), null);
        pod["apiVersion"] = "v1";
        pod["kind"] = "Pod";
        return Remember(Resources.Pods, pod);
    }

    // The namespace controller's last step: an emptied namespace drops its "kubernetes" finalizer and goes.
    public void FinalizeNamespace(string ns)
    {
        var current = Send(HttpMethod.Get, Path(Resources.Namespaces, null, ns), null);
        current.Child("spec")["finalizers"] = new JsonArray();
        Send(HttpMethod.Put, Path(Resources.Namespaces, null, ns) + "/finalize", current);
    }

    // A read from the API server itself, past the cache (the garbage collector's check before it deletes).
    public JsonObject? Live(ResourceType type, string? ns, string name)
    {
        try
        {
            return Send(HttpMethod.Get, Path(type, type.Namespaced ? ns : null, name), null);
        }
        catch (ApiException e) when (e.Code == 404)
        {
            return null;
        }
    }

    public HashSet<string> AllUids()
    {
        lock (gate)
            return objects.Values.SelectMany(d => d.Values).Select(o => o.Uid()).ToHashSet();
    }

    // Waits until something changed or the timeout passed; used by the controller loop.
    public async Task WaitForChangeAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        await changed.WaitAsync(timeout, cancellationToken);
        // Several changes during one pass need only one more pass.
        while (changed.CurrentCount > 0 && changed.Wait(0, cancellationToken))
        {
        }
    }

    static string Path(ResourceType type, string? ns, string? name)
    {
        var root = type.Group.Length == 0 ? $"api/{type.Version}" : $"apis/{type.Group}/{type.Version}";
        var scope = ns is { Length: > 0 } ? $"/namespaces/{ns}" : "";
        return $"{root}{scope}/{type.Plural}{(name is null ? "" : "/" + name)}";
    }

    JsonObject Send(HttpMethod method, string path, JsonObject? body)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = http.Send(request, stop.Token);
        using var reader = new StreamReader(response.Content.ReadAsStream(stop.Token));
        var text = reader.ReadToEnd();
        var answer = (text.Length > 0 ? JsonNode.Parse(text) as JsonObject : null) ?? new JsonObject();
        if (!response.IsSuccessStatusCode)
            throw ApiException.FromStatus((int)response.StatusCode, answer);
        return answer;
    }

    // Keeps the newer of what the cache has and what the API server just answered.
    JsonObject Remember(ResourceType type, JsonObject obj)
    {
        lock (gate)
        {
            var key = (type.Namespaced ? obj.Namespace() : "", obj.Name());
            if (!deleted.Contains(obj.Uid()) && (!objects[type].TryGetValue(key, out var cached) || Version(obj) >= Version(cached)))
                objects[type][key] = obj.Clone();
        }
        Signal();
        return obj;
    }

    JsonObject Forget(ResourceType type, string? ns, string name, JsonObject answer)
    {
        lock (gate)
        {
            var key = (type.Namespaced ? ns ?? "" : "", name);
            if (objects[type].Remove(key, out var gone))
                deleted.Add(gone.Uid());
        }
        Signal();
        return answer;
    }

    void Signal()
    {
        if (changed.CurrentCount == 0)
            changed.Release();
    }

    static long Version(JsonObject obj) =>
        long.TryParse(obj.Str("metadata", "resourceVersion"), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0;

    // The answer of a write that ended the object: a Status, or the object as it was when its last finalizer went.
    static bool Gone(JsonObject answer) => answer.Str("kind") == "Status" || answer.IsDeleting() && answer.Finalizers().Count == 0;

    static JsonObject WithoutStatus(JsonObject obj)
    {
        var copy = obj.Clone();
        copy.Remove("status");
        return copy;
    }

    // List, then watch from the list's resourceVersion; relist when the watch ends or its version is too old (an
    // ERROR event, code 410), as client-go's reflector does.
    async Task InformAsync(ResourceType type, TaskCompletionSource synced)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var list = JsonNode.Parse(await http.GetStringAsync(Path(type, null, null), stop.Token))!.AsObject();
                var version = list.Str("metadata", "resourceVersion");
                lock (gate)
                {
                    objects[type] = list["items"]!.AsArray().OfType<JsonObject>()
                        .Select(item => { item["apiVersion"] = type.ApiVersion; item["kind"] = type.Kind; return item.Clone(); })
                        .ToDictionary(item => (type.Namespaced ? item.Namespace() : "", item.Name()));
                }
                Signal();
                synced.TrySetResult();
                await WatchAsync(type, version, stop.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or System.Text.Json.JsonException)
            {
                await Task.Delay(200, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    async Task WatchAsync(ResourceType type, string? version, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync($"{Path(type, null, null)}?watch=true&allowWatchBookmarks=true&resourceVersion={version}",
            HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0 || JsonNode.Parse(line) is not JsonObject evt || evt["object"] is not JsonObject obj)
                continue;
            switch (evt.Str("type"))
            {
                case "ADDED" or "MODIFIED":
                    obj["apiVersion"] = type.ApiVersion;
                    obj["kind"] = type.Kind;
                    Remember(type, obj);
                    break;
                case "DELETED":
                    lock (gate)
                    {
                        var key = (type.Namespaced ? obj.Namespace() : "", obj.Name());
                        deleted.Add(obj.Uid());
                        if (objects[type].TryGetValue(key, out var cached) && cached.Uid() == obj.Uid())
                            objects[type].Remove(key);
                    }
                    Signal();
                    break;
                case "BOOKMARK":
                    break;
                default:
                    return;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        await Task.WhenAll(informers).ContinueWith(_ => { }, TaskScheduler.Default);
        http.Dispose();
        stop.Dispose();
    }
}
