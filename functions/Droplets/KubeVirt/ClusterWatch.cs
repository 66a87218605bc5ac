using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Droplets.KubeVirt;

// What the product knows of one region's cluster without asking: every VirtualMachine, VirtualMachineInstance, Service and
// DataVolume labelled as a project's (DropletMapping.ProjectIdLabel, on every object the product makes or KubeVirt makes from
// them), kept as client-go's reflector keeps an informer's store — list, then watch from the list's resourceVersion with
// bookmarks; a watch the server ends is resumed from the last resourceVersion seen; 410 Gone (or any ERROR event) means
// list again; a broken connection is retried with backoff, 1 s doubling to 30 s. While every kind is in sync it answers
// reads (ClusterReads) and wakes whoever waits on a droplet or volume (keyed by its id label) when one of its objects
// changes; while one is not, whoever waits polls the API server (Poller).
public sealed class ClusterWatch
{
    public static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);
    static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    // A stream that brings nothing (not even a bookmark, which the API server sends about once a minute) for this long
    // is taken for dead and reopened from the last resourceVersion.
    static readonly TimeSpan Silence = TimeSpan.FromSeconds(150);

    readonly ConcurrentDictionary<string, TaskCompletionSource> waiters = new(StringComparer.Ordinal);
    readonly Kind<VirtualMachine> machines;
    readonly Kind<VirtualMachineInstance> instances;
    readonly Kind<V1Service> services;
    readonly Kind<DataVolume> dataVolumes;
    readonly IKind[] kinds;

    public ClusterWatch(Kubernetes kubernetes, ILogger log)
    {
        machines = new(this, kubernetes, log, "apis/kubevirt.io/v1/virtualmachines");
        instances = new(this, kubernetes, log, "apis/kubevirt.io/v1/virtualmachineinstances");
        services = new(this, kubernetes, log, "api/v1/services");
        dataVolumes = new(this, kubernetes, log, "apis/cdi.kubevirt.io/v1beta1/datavolumes");
        kinds = [machines, instances, services, dataVolumes];
    }

    // Every kind listed and its watch open (or resumable at once): the store is what the API server had a moment ago.
    public bool Synced => kinds.All(k => k.Synced);

    // Completes at the next change of an object labelled with `key` (a droplet's or a volume's id), and whenever the
    // watch loses or regains its sync. Ask before reading, so that a change between the read and the wait is not missed.
    public Task Changed(string key) => waiters.GetOrAdd(key, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public VirtualMachine? VirtualMachine(string ns, string name) => machines.Get(ns, name);
    public VirtualMachineInstance? Instance(string ns, string name) => instances.Get(ns, name);
    public V1Service? Service(string ns, string name) => services.Get(ns, name);
    public DataVolume? DataVolume(string ns, string name) => dataVolumes.Get(ns, name);

    // How many times each kind was listed (the first time, and after every 410 Gone or ERROR), for the log and tests.
    public int Lists => kinds.Sum(k => k.Lists);

    public Task RunAsync(CancellationToken cancellationToken) => Task.WhenAll(kinds.Select(k => k.RunAsync(cancellationToken)));

    void Signal(IDictionary<string, string>? labels)
    {
        if (labels is null)
            return;
        if (labels.TryGetValue(DropletMapping.DropletIdLabel, out var droplet))
            Signal(droplet);
        if (labels.TryGetValue(VolumeMapping.VolumeIdLabel, out var volume))
            Signal(volume);
    }

    void Signal(string key)
    {
        if (waiters.TryRemove(key, out var waiter))
            waiter.TrySetResult();
    }

    void SignalAll()
    {
        foreach (var key in waiters.Keys)
            Signal(key);
    }

    interface IKind
    {
        bool Synced { get; }
        int Lists { get; }
        Task RunAsync(CancellationToken cancellationToken);
    }

    // One resource's reflector and store.
    sealed class Kind<T>(ClusterWatch owner, Kubernetes kubernetes, ILogger log, string path) : IKind where T : class, IKubernetesObject<V1ObjectMeta>
    {
        static readonly string Selector = Uri.EscapeDataString(DropletMapping.ProjectIdLabel);

        ConcurrentDictionary<(string, string), T> store = new();
        string? resourceVersion;
        volatile bool synced;
        int lists;

        public bool Synced => synced;
        public int Lists => lists;

        public T? Get(string ns, string name) => store.TryGetValue((ns, name), out var item) ? item : null;

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            var backoff = FirstBackoff;
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    if (resourceVersion is null)
                        await ListAsync(cancellationToken);
                    await WatchAsync(cancellationToken);
                    backoff = FirstBackoff;
                }
                catch (Gone e)
                {
                    // The events since our resourceVersion are no longer kept (compacted, or a restarted API server's watch
                    // cache starts later): what changed meanwhile can only be learnt by listing again.
                    log.LogInformation("Watch of {Path} must list again: {Reason}", path, e.Message);
                    resourceVersion = null;
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    if (synced)
                    {
                        synced = false;
                        owner.SignalAll();
                    }
                    log.LogWarning("Watch of {Path} failed ({ErrorType}: {ErrorMessage}); polling until it is back, next attempt in {Backoff}",
                        path, e.GetType().Name, e.Message, backoff);
                    try
                    {
                        await Task.Delay(backoff + TimeSpan.FromMilliseconds(Random.Shared.Next(0, 250)), cancellationToken);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                    backoff = backoff * 2 < MaxBackoff ? backoff * 2 : MaxBackoff;
                }
            }
        }

        // A consistent list, 500 a page; the store becomes it, and every object that changed, came or went is signalled.
        async Task ListAsync(CancellationToken cancellationToken)
        {
            var items = new ConcurrentDictionary<(string, string), T>();
            string? next = null;
            string? version;
            do
            {
                var query = $"labelSelector={Selector}&limit=500" + (next is null ? "" : "&continue=" + Uri.EscapeDataString(next));
                using var response = await SendAsync(query, HttpCompletionOption.ResponseContentRead, cancellationToken);
                using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken: cancellationToken);
                var root = document.RootElement;
                foreach (var element in root.GetProperty("items").EnumerateArray())
                {
                    var item = Decode(element);
                    items[(item.Metadata.NamespaceProperty, item.Metadata.Name)] = item;
                }
                var metadata = root.GetProperty("metadata");
                version = metadata.TryGetProperty("resourceVersion", out var rv) ? rv.GetString() : null;
                next = metadata.TryGetProperty("continue", out var c) && c.GetString() is { Length: > 0 } token ? token : null;
            }
            while (next is not null);

            var before = store;
            store = items;
            resourceVersion = version;
            Interlocked.Increment(ref lists);
            foreach (var (key, item) in items)
                if (!before.TryGetValue(key, out var old) || old.Metadata.ResourceVersion != item.Metadata.ResourceVersion)
                    owner.Signal(item.Metadata.Labels);
            foreach (var (key, old) in before)
                if (!items.ContainsKey(key))
                    owner.Signal(old.Metadata.Labels);
            Connected();
        }

        // One watch request, read until the server ends it (its timeout, a few minutes) or it falls silent.
        async Task WatchAsync(CancellationToken cancellationToken)
        {
            var timeout = 240 + Random.Shared.Next(0, 240);
            var query = $"labelSelector={Selector}&watch=1&allowWatchBookmarks=true&timeoutSeconds={timeout}&resourceVersion={Uri.EscapeDataString(resourceVersion!)}";
            using var response = await SendAsync(query, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            Connected();
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
            using var silence = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            while (true)
            {
                silence.CancelAfter(Silence);
                string? line;
                try
                {
                    line = await reader.ReadLineAsync(silence.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException($"the watch brought nothing for {Silence.TotalSeconds:0} s");
                }
                if (line is null)
                    return;
                if (line.Length > 0)
                    Apply(line);
            }
        }

        void Apply(string line)
        {
            using var document = JsonDocument.Parse(line);
            var type = document.RootElement.GetProperty("type").GetString();
            var element = document.RootElement.GetProperty("object");
            switch (type)
            {
                case "ADDED" or "MODIFIED":
                {
                    var item = Decode(element);
                    store[(item.Metadata.NamespaceProperty, item.Metadata.Name)] = item;
                    resourceVersion = item.Metadata.ResourceVersion;
                    owner.Signal(item.Metadata.Labels);
                    break;
                }
                case "DELETED":
                {
                    var item = Decode(element);
                    store.TryRemove((item.Metadata.NamespaceProperty, item.Metadata.Name), out _);
                    resourceVersion = item.Metadata.ResourceVersion;
                    owner.Signal(item.Metadata.Labels);
                    break;
                }
                case "BOOKMARK":
                    resourceVersion = element.GetProperty("metadata").GetProperty("resourceVersion").GetString();
                    break;
                case "ERROR":
                    throw new Gone(element.TryGetProperty("message", out var message) ? message.GetString() ?? "ERROR event" : "ERROR event");
                default:
                    throw new InvalidOperationException($"unknown watch event type '{type}'");
            }
        }

        void Connected()
        {
            if (!synced)
            {
                synced = true;
                owner.SignalAll();
            }
        }

        async Task<HttpResponseMessage> SendAsync(string query, HttpCompletionOption completion, CancellationToken cancellationToken)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(kubernetes.BaseUri, path + "?" + query));
            if (kubernetes.Credentials is { } credentials)
                await credentials.ProcessHttpRequestAsync(request, cancellationToken);
            var response = await kubernetes.HttpClient.SendAsync(request, completion, cancellationToken);
            if (response.IsSuccessStatusCode)
                return response;
            var status = response.StatusCode;
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            response.Dispose();
            if (status == HttpStatusCode.Gone)
                throw new Gone(body);
            throw new HttpRequestException($"{path} answered {(int)status}", null, status);
        }

        // Managed fields are dropped: nothing reads them, and they are most of an object's size.
        static T Decode(JsonElement element)
        {
            var item = KubernetesJson.Deserialize<T>(element.GetRawText());
            item.Metadata.ManagedFields = null;
            return item;
        }
    }

    sealed class Gone(string message) : Exception(message);
}
