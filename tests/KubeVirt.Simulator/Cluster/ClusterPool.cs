using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace KubeVirt.Simulator.Cluster;

// A test run starts hundreds of simulators, and a kube-apiserver with KubeVirt's install costs seconds of CPU before
// it answers. So a process keeps the API servers its simulators are done with and hands them out again, wiped back
// to how they were right after the install: under the server's etcd prefix, every key the install did not leave is
// deleted and every key it left that has changed since is written back. That happens in etcd itself, which the API
// server's watch cache follows as it follows its own writes, so the next tenant lists and watches a clean cluster.
// The API server's own bookkeeping (leases, API priority and fairness, aggregated APIs) is left alone; the cluster IP
// and node port allocations are written back with the Services they belonged to.
public static class ClusterPool
{
    static readonly ConcurrentBag<Cluster> Idle = [];
    static readonly ConcurrentDictionary<Cluster, bool> All = new();
    static readonly string[] ServerOwned = ["leases/", "masterleases/", "apiregistration.k8s.io/", "flowschemas/", "prioritylevelconfigurations/"];

    // Every API server first, then their folders: the test host may be cut short at exit.
    static ClusterPool() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var step in new Action<KubeApiServer>[] { server => server.Kill(), server => server.DeleteFolder() })
        {
            foreach (var cluster in All.Keys)
            {
                try
                {
                    step(cluster.Server);
                }
                catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
                {
                    Console.Error.WriteLine($"Could not stop the kube-apiserver at {cluster.Server.BaseAddress}: {e.Message}");
                }
            }
        }
    };

    // An API server with KubeVirt installed and nothing else, for the caller alone until it disposes the lease.
    public static async Task<Lease> RentAsync(CancellationToken cancellationToken = default)
    {
        if (!Idle.TryTake(out var cluster))
        {
            var server = await KubeApiServer.StartAsync(cancellationToken);
            try
            {
                await KubeVirtInstall.InstallAsync(server, cancellationToken);
                cluster = new Cluster(server, await RangeAsync(server, values: true, cancellationToken));
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
            All[cluster] = true;
        }
        return new Lease(cluster);
    }

    public sealed class Lease : IAsyncDisposable
    {
        readonly Cluster cluster;
        int returned;

        internal Lease(Cluster cluster) => this.cluster = cluster;

        public KubeApiServer Server => cluster.Server;

        // Back to the pool once wiped; a server that cannot be wiped is stopped instead.
        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref returned, 1) == 1)
                return;
            try
            {
                if (!cluster.Server.Running)
                    throw new InvalidOperationException("The API server was killed and not started again.");
                await cluster.ResetAsync();
                Idle.Add(cluster);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or InvalidOperationException)
            {
                All.TryRemove(cluster, out _);
                await cluster.Server.DisposeAsync();
            }
        }
    }

    internal sealed class Cluster(KubeApiServer server, Dictionary<string, Entry> installed)
    {
        public KubeApiServer Server { get; } = server;

        public async Task ResetAsync()
        {
            var now = await RangeAsync(Server, values: false);
            var deletes = now.Keys.Where(key => !installed.ContainsKey(key) && !OwnedByServer(key))
                .Select(key => new JsonObject { ["request_delete_range"] = new JsonObject { ["key"] = Encode(key) } });
            var changed = installed.Where(i => !OwnedByServer(i.Key) && (!now.TryGetValue(i.Key, out var entry) || entry.Revision != i.Value.Revision))
                .Select(i => i.Key).ToList();

            // etcd takes at most 128 operations in one transaction; all of one share its revision.
            using var etcd = Etcd(Server);
            foreach (var batch in changed.Chunk(100))
            {
                var puts = batch.Select(key => new JsonObject { ["request_put"] = new JsonObject { ["key"] = Encode(key), ["value"] = installed[key].Value } });
                var revision = Revision(await PostAsync(etcd, "v3/kv/txn", new JsonObject { ["success"] = new JsonArray([.. puts]) }, default));
                foreach (var key in batch)
                    installed[key] = installed[key] with { Revision = revision };
            }
            foreach (var batch in deletes.Chunk(100))
                await PostAsync(etcd, "v3/kv/txn", new JsonObject { ["success"] = new JsonArray([.. batch]) }, default);
        }

        bool OwnedByServer(string key)
        {
            var path = key[(Server.EtcdPrefix.Length + 1)..];
            return ServerOwned.Any(p => path.StartsWith(p, StringComparison.Ordinal));
        }
    }

    // A key's last write and (when asked for) its stored bytes, base64 as etcd's JSON gateway has them.
    internal readonly record struct Entry(long Revision, string? Value);

    static async Task<Dictionary<string, Entry>> RangeAsync(KubeApiServer server, bool values, CancellationToken cancellationToken = default)
    {
        using var etcd = Etcd(server);
        var answer = await PostAsync(etcd, "v3/kv/range", new JsonObject
        {
            ["key"] = Encode(server.EtcdPrefix + "/"),
            ["range_end"] = Encode(server.EtcdPrefix + "0"),
            ["keys_only"] = !values,
        }, cancellationToken);
        return (answer["kvs"]?.AsArray() ?? []).ToDictionary(
            kv => Decode(kv!["key"]!.GetValue<string>()),
            kv => new Entry(long.Parse(kv!["mod_revision"]!.GetValue<string>(), CultureInfo.InvariantCulture), kv["value"]?.GetValue<string>()));
    }

    static HttpClient Etcd(KubeApiServer server) => new() { BaseAddress = new Uri(server.EtcdUrl), Timeout = TimeSpan.FromSeconds(30) };

    static long Revision(JsonObject answer) => long.Parse(answer["header"]!["revision"]!.GetValue<string>(), CultureInfo.InvariantCulture);

    static async Task<JsonObject> PostAsync(HttpClient etcd, string path, JsonObject body, CancellationToken cancellationToken)
    {
        using var response = await etcd.PostAsync(path, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"etcd {path} answered {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    static string Encode(string key) => Convert.ToBase64String(Encoding.UTF8.GetBytes(key));

    static string Decode(string key) => Encoding.UTF8.GetString(Convert.FromBase64String(key));
}
