using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace KubeVirt.Simulator;

internal sealed record WatchEvent(string Type, ResourceType Resource, JsonObject Object, long ResourceVersion);

internal enum UpdateMode
{
    // A client write to the main resource: status is kept from the stored object when the type has a status subresource.
    Main,
    // A client write to /status: only status changes are taken.
    Status,
    // A controller write: everything is taken.
    Full,
}

// The "etcd + registry" of the simulator: schema-less objects, one global resourceVersion, finalizer-aware deletion
// and a short history so watches can resume. Every method hands out clones; nothing outside holds a live object.
internal sealed class Store
{
    const int HistoryLimit = 10_000;
    const string NameChars = "bcdfghjklmnpqrstvwxz2456789";

    readonly Lock gate = new();
    readonly Dictionary<ResourceType, Dictionary<(string Namespace, string Name), JsonObject>> objects =
        Resources.All.ToDictionary(r => r, _ => new Dictionary<(string, string), JsonObject>());
    readonly Queue<WatchEvent> history = new();
    readonly List<Watcher> watchers = [];
    readonly SemaphoreSlim changed = new(0);
    long resourceVersion = 100;
    long oldestHistory = 100;

    public long ResourceVersion
    {
        get
        {
            lock (gate)
            {
                return resourceVersion;
            }
        }
    }

    public JsonObject? Get(ResourceType type, string? ns, string name)
    {
        lock (gate)
        {
            return objects[type].TryGetValue((ns ?? "", name), out var obj) ? obj.Clone() : null;
        }
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
            return (items, resourceVersion);
        }
    }

    public bool Exists(ResourceType type, string? ns, string name)
    {
        lock (gate)
        {
            return objects[type].ContainsKey((ns ?? "", name));
        }
    }

    // admit runs under the store lock after defaults are applied, so allocators can look at the store without racing.
    public JsonObject Create(ResourceType type, JsonObject obj, Action<JsonObject>? admit = null)
    {
        lock (gate)
        {
            var meta = obj.Meta();
            var ns = type.Namespaced ? meta.Str("namespace") ?? "" : "";
            var name = meta.Str("name") ?? "";
            if (name.Length == 0)
            {
                var prefix = meta.Str("generateName") ?? "";
                do
                {
                    name = prefix + string.Concat(Enumerable.Range(0, 5).Select(_ => NameChars[Random.Shared.Next(NameChars.Length)]));
                }
                while (objects[type].ContainsKey((ns, name)));
                meta["name"] = name;
            }
            if (objects[type].ContainsKey((ns, name)))
            {
                throw Errors.AlreadyExists(type.GroupResource, name);
            }
            obj["apiVersion"] = type.ApiVersion;
            obj["kind"] = type.Kind;
            if (type.Namespaced)
            {
                meta["namespace"] = ns;
            }
            else
            {
                meta.Remove("namespace");
            }
            meta["uid"] = Guid.NewGuid().ToString();
            meta["creationTimestamp"] = Json.Now();
            meta.Remove("deletionTimestamp");
            meta.Remove("deletionGracePeriodSeconds");
            meta.Remove("managedFields");
            meta.Remove("selfLink");
            if (type.IsCustom)
            {
                meta["generation"] = 1;
            }
            admit?.Invoke(obj);
            var stored = obj.Clone();
            stored.Meta()["resourceVersion"] = (++resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);
            objects[type][(ns, name)] = stored;
            Publish("ADDED", type, stored);
            return stored.Clone();
        }
    }

    // change receives a clone of the stored object and returns the desired object (null = leave it alone).
    public JsonObject Update(ResourceType type, string? ns, string name, Func<JsonObject, JsonObject?> change, UpdateMode mode)
    {
        lock (gate)
        {
            var key = (ns ?? "", name);
            if (!objects[type].TryGetValue(key, out var current))
            {
                throw Errors.NotFound(type.GroupResource, name);
            }
            var desired = change(current.Clone());
            if (desired is null)
            {
                return current.Clone();
            }
            var currentRv = current.Str("metadata", "resourceVersion");
            var desiredRv = desired.Str("metadata", "resourceVersion");
            if (!string.IsNullOrEmpty(desiredRv) && desiredRv != currentRv)
            {
                throw Errors.StaleObject(type.GroupResource, name);
            }

            var next = Merge(type, current, desired, mode);
            if (JsonNode.DeepEquals(next, current))
            {
                return current.Clone();
            }
            if (type.IsCustom && !JsonNode.DeepEquals(WithoutMetaAndStatus(next), WithoutMetaAndStatus(current)))
            {
                next.Meta()["generation"] = (current.Long("metadata", "generation") ?? 1) + 1;
            }
            next.Meta()["resourceVersion"] = (++resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (next.IsDeleting() && next.Finalizers().Count == 0)
            {
                objects[type].Remove(key);
                Publish("DELETED", type, next);
            }
            else
            {
                objects[type][key] = next;
                Publish("MODIFIED", type, next);
            }
            return next.Clone();
        }
    }

    // Finalizers hold the object in "Terminating"; otherwise it goes at once. Orphan adds the "orphan" finalizer
    // that the garbage collector resolves by detaching dependents.
    public JsonObject Delete(ResourceType type, string? ns, string name, bool orphan = false)
    {
        lock (gate)
        {
            var key = (ns ?? "", name);
            if (!objects[type].TryGetValue(key, out var current))
            {
                throw Errors.NotFound(type.GroupResource, name);
            }
            var next = current.Clone();
            if (orphan && !next.IsDeleting())
            {
                next.SetFinalizers(next.Finalizers().Append("orphan"));
            }
            if (next.Finalizers().Count == 0)
            {
                objects[type].Remove(key);
                next.Meta()["resourceVersion"] = (++resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);
                Publish("DELETED", type, next);
                return next.Clone();
            }
            if (next.IsDeleting() && JsonNode.DeepEquals(next, current))
            {
                return current.Clone();
            }
            if (!next.IsDeleting())
            {
                next.Meta()["deletionTimestamp"] = Json.Now();
                next.Meta()["deletionGracePeriodSeconds"] = 0;
                if (type.IsCustom)
                {
                    next.Meta()["generation"] = (current.Long("metadata", "generation") ?? 1) + 1;
                }
            }
            next.Meta()["resourceVersion"] = (++resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);
            objects[type][key] = next;
            Publish("MODIFIED", type, next);
            return next.Clone();
        }
    }

    // Namespaces go at once with everything in them: the simulator has no namespace lifecycle controller.
    public JsonObject DeleteNamespace(string name)
    {
        lock (gate)
        {
            if (!objects[Resources.Namespaces].TryGetValue(("", name), out var ns))
            {
                throw Errors.NotFound(Resources.Namespaces.GroupResource, name);
            }
            foreach (var type in Resources.All.Where(t => t.Namespaced))
            {
                foreach (var key in objects[type].Keys.Where(k => k.Namespace == name).ToList())
                {
                    var gone = objects[type][key];
                    objects[type].Remove(key);
                    gone.Meta()["resourceVersion"] = (++resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);
                    Publish("DELETED", type, gone);
                }
            }
            objects[Resources.Namespaces].Remove(("", name));
            ns.Meta()["deletionTimestamp"] = Json.Now();
            ns.Child("status")["phase"] = "Terminating";
            ns.Meta()["resourceVersion"] = (++resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);
            Publish("DELETED", Resources.Namespaces, ns);
            return ns.Clone();
        }
    }

    public HashSet<string> AllUids()
    {
        lock (gate)
        {
            return objects.Values.SelectMany(d => d.Values).Select(o => o.Uid()).ToHashSet();
        }
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

    // Registers a watcher and returns what it must replay first. Without a resourceVersion, that is the current state
    // as ADDED events (like a list+watch); with one, the changes since then.
    public Watcher Watch(ResourceType type, string? ns, string? fromResourceVersion)
    {
        lock (gate)
        {
            var watcher = new Watcher(this, type, ns);
            if (string.IsNullOrEmpty(fromResourceVersion) || fromResourceVersion == "0")
            {
                foreach (var obj in objects[type].Where(kv => ns is null || kv.Key.Namespace == ns).Select(kv => kv.Value))
                {
                    watcher.Initial.Add(new WatchEvent("ADDED", type, obj.Clone(), resourceVersion));
                }
            }
            else
            {
                if (!long.TryParse(fromResourceVersion, out var from))
                {
                    throw Errors.BadRequest($"invalid resource version: {fromResourceVersion}");
                }
                if (from < oldestHistory)
                {
                    throw Errors.Gone($"too old resource version: {from} ({resourceVersion})");
                }
                watcher.Initial.AddRange(history.Where(e => e.ResourceVersion > from && watcher.Matches(e)).Select(e => e with { Object = e.Object.Clone() }));
            }
            watchers.Add(watcher);
            return watcher;
        }
    }

    void Unsubscribe(Watcher watcher)
    {
        lock (gate)
        {
            watchers.Remove(watcher);
        }
    }

    void Publish(string type, ResourceType resource, JsonObject obj)
    {
        var rv = resourceVersion;
        var evt = new WatchEvent(type, resource, obj.Clone(), rv);
        history.Enqueue(evt);
        while (history.Count > HistoryLimit)
        {
            oldestHistory = history.Dequeue().ResourceVersion;
        }
        foreach (var watcher in watchers.Where(w => w.Matches(evt)))
        {
            watcher.Channel.Writer.TryWrite(evt with { Object = evt.Object.Clone() });
        }
        if (changed.CurrentCount == 0)
        {
            changed.Release();
        }
    }

    static JsonObject Merge(ResourceType type, JsonObject current, JsonObject desired, UpdateMode mode)
    {
        JsonObject next;
        if (mode == UpdateMode.Status)
        {
            next = current.Clone();
            next["status"] = desired["status"]?.DeepClone();
        }
        else
        {
            next = desired.Clone();
            if (mode == UpdateMode.Main && type.HasStatus)
            {
                next["status"] = current["status"]?.DeepClone();
            }
            var meta = next.Meta();
            var old = current.Meta();
            foreach (var field in new[] { "name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation" })
            {
                meta[field] = old[field]?.DeepClone();
                if (meta[field] is null)
                {
                    meta.Remove(field);
                }
            }
            next["apiVersion"] = type.ApiVersion;
            next["kind"] = type.Kind;
        }
        if (next["status"] is null)
        {
            next.Remove("status");
        }
        next.Meta()["resourceVersion"] = current.Str("metadata", "resourceVersion");
        return next;
    }

    static JsonObject WithoutMetaAndStatus(JsonObject obj)
    {
        var copy = obj.Clone();
        copy.Remove("metadata");
        copy.Remove("status");
        return copy;
    }

    internal sealed class Watcher(Store store, ResourceType type, string? ns) : IDisposable
    {
        public List<WatchEvent> Initial { get; } = [];
        public Channel<WatchEvent> Channel { get; } = System.Threading.Channels.Channel.CreateUnbounded<WatchEvent>();

        public bool Matches(WatchEvent e) => e.Resource == type && (ns is null || e.Object.Namespace() == ns);

        public void Dispose() => store.Unsubscribe(this);
    }
}
