using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using Droplets.Catalog;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Droplets.KubeVirt;

// One region's cluster, through the real Kubernetes client. Creates are idempotent (AlreadyExists is
// success) because activities are retried and workflows replayed.
public sealed class KubeVirtClient(Kubernetes kubernetes, ILogger log)
{
    // The objects the product manages, listed and watched (started by ClusterWatches).
    public ClusterWatch Watch { get; } = new(kubernetes, log);

    // Reads of a droplet's or volume's objects: from the watch's store while it is in sync and `cached`, else from the API server.
    public ClusterReads Reads(bool cached) => new(this, cached && Watch.Synced ? Watch : null);

    readonly GenericClient virtualMachines = new(kubernetes, "kubevirt.io", "v1", "virtualmachines", disposeClient: false);
    readonly GenericClient instances = new(kubernetes, "kubevirt.io", "v1", "virtualmachineinstances", disposeClient: false);
    readonly GenericClient dataVolumes = new(kubernetes, "cdi.kubevirt.io", "v1beta1", "datavolumes", disposeClient: false);

    public async Task EnsureNamespaceAsync(string name, CancellationToken cancellationToken)
    {
        await IgnoreConflict(() => kubernetes.CoreV1.CreateNamespaceAsync(TenantNamespaces.Namespace(name), cancellationToken: cancellationToken));
    }

    // The VirtualMachine as the cluster holds it (its uid owns the cloud-init Secret), also when it already existed.
    public async Task<VirtualMachine> CreateVirtualMachineAsync(VirtualMachine vm, CancellationToken cancellationToken)
    {
        try
        {
            return await virtualMachines.CreateNamespacedAsync(vm, vm.Metadata.NamespaceProperty, cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return await GetVirtualMachineAsync(vm.Metadata.NamespaceProperty, vm.Metadata.Name, cancellationToken)
                ?? throw new InvalidOperationException($"VirtualMachine {vm.Metadata.Name} exists and then does not; retry.");
        }
    }

    public Task CreateSecretAsync(V1Secret secret, CancellationToken cancellationToken) =>
        IgnoreConflict(() => kubernetes.CoreV1.CreateNamespacedSecretAsync(secret, secret.Metadata.NamespaceProperty, cancellationToken: cancellationToken));

    public Task CreateServiceAsync(V1Service service, CancellationToken cancellationToken) =>
        IgnoreConflict(() => kubernetes.CoreV1.CreateNamespacedServiceAsync(service, service.Metadata.NamespaceProperty, cancellationToken: cancellationToken));

    public Task<VirtualMachine?> GetVirtualMachineAsync(string ns, string name, CancellationToken cancellationToken) =>
        OrNull(() => virtualMachines.ReadNamespacedAsync<VirtualMachine>(ns, name, cancellationToken));

    public Task<VirtualMachineInstance?> GetInstanceAsync(string ns, string name, CancellationToken cancellationToken) =>
        OrNull(() => instances.ReadNamespacedAsync<VirtualMachineInstance>(ns, name, cancellationToken));

    public Task<DataVolume?> GetDataVolumeAsync(string ns, string name, CancellationToken cancellationToken) =>
        OrNull(() => dataVolumes.ReadNamespacedAsync<DataVolume>(ns, name, cancellationToken));

    public Task<V1Service?> GetServiceAsync(string ns, string name, CancellationToken cancellationToken) =>
        OrNull(() => kubernetes.CoreV1.ReadNamespacedServiceAsync(name, ns, cancellationToken: cancellationToken));

    // One read of everything that tells a droplet's state, from the API server.
    public Task<VmObservation> ObserveDropletAsync(string ns, string dropletId, CancellationToken cancellationToken) =>
        Reads(cached: false).ObserveDropletAsync(ns, dropletId, cancellationToken);

    // A volume's blank DataVolume (and, through CDI, its claim).
    public Task CreateDataVolumeAsync(DataVolume dataVolume, CancellationToken cancellationToken) =>
        IgnoreConflict(() => dataVolumes.CreateNamespacedAsync(dataVolume, dataVolume.Metadata.NamespaceProperty, cancellationToken));

    // The claim is owned by the DataVolume and goes with it.
    public Task DeleteDataVolumeAsync(string ns, string name, CancellationToken cancellationToken) =>
        IgnoreNotFound(() => kubernetes.CustomObjects.DeleteNamespacedCustomObjectAsync("cdi.kubevirt.io", "v1beta1", ns, "datavolumes", name, cancellationToken: cancellationToken));

    // The Kubernetes events of a droplet's objects (KUBEVIRT.md §6), one field-selected list per object, in
    // parallel. The VMI keeps the VM's name across restarts, so its events cover every boot. Launcher pods
    // have generated names (virt-launcher-<vm>-xxxxx): their events are matched by that prefix.
    public async Task<IReadOnlyList<Corev1Event>> ListDropletEventsAsync(string ns, string dropletId, CancellationToken cancellationToken)
    {
        var vm = DropletMapping.VmNameFor(dropletId);
        var disk = DropletMapping.RootDiskNameFor(dropletId);
        string[] selectors =
        [
            $"involvedObject.kind=VirtualMachine,involvedObject.name={vm}",
            $"involvedObject.kind=VirtualMachineInstance,involvedObject.name={vm}",
            $"involvedObject.kind=DataVolume,involvedObject.name={disk}",
            $"involvedObject.kind=PersistentVolumeClaim,involvedObject.name={disk}",
            $"involvedObject.kind=Service,involvedObject.name={DropletMapping.PublicServiceNameFor(dropletId)}",
            "involvedObject.kind=Pod",
        ];
        var lists = await Task.WhenAll(selectors.Select(selector =>
            kubernetes.CoreV1.ListNamespacedEventAsync(ns, fieldSelector: selector, cancellationToken: cancellationToken)));
        var launcher = $"virt-launcher-{vm}-";
        return lists.SelectMany(list => list.Items)
            .Where(e => e.InvolvedObject.Kind != "Pod" || e.InvolvedObject.Name?.StartsWith(launcher, StringComparison.Ordinal) == true)
            .ToList();
    }

    // Every VirtualMachine labelled as a droplet's, in every namespace, 500 a page.
    public async Task<IReadOnlyList<VirtualMachine>> ListDropletMachinesAsync(CancellationToken cancellationToken)
    {
        var machines = new List<VirtualMachine>();
        string? next = null;
        do
        {
            var page = await kubernetes.CustomObjects.ListClusterCustomObjectAsync<VirtualMachineList>("kubevirt.io", "v1", "virtualmachines",
                labelSelector: DropletMapping.DropletIdLabel, limit: 500, continueParameter: next, cancellationToken: cancellationToken);
            machines.AddRange(page.Items);
            next = page.Metadata?.ContinueProperty;
        }
        while (!string.IsNullOrEmpty(next));
        return machines;
    }

    // A Warning event about one of a droplet's objects, where `kubectl get events` and GET /droplets/{id}/events show it
    // (also for an object that is gone: events name their object, they do not need it). One per object and reason:
    // false when it was reported already (until the API server expires it, an hour by default).
    public async Task<bool> ReportAsync(string ns, string kind, string name, string reason, string message, CancellationToken cancellationToken)
    {
        var now = DateTime.UtcNow;
        var warning = new Corev1Event
        {
            Metadata = new V1ObjectMeta { Name = $"{name}.{reason.ToLowerInvariant()}", NamespaceProperty = ns },
            InvolvedObject = new V1ObjectReference { ApiVersion = "kubevirt.io/v1", Kind = kind, Name = name, NamespaceProperty = ns },
            Type = "Warning", Reason = reason, Message = message, Count = 1, FirstTimestamp = now, LastTimestamp = now,
            Source = new V1EventSource { Component = "droplets" }, ReportingComponent = "droplets",
        };
        try
        {
            await kubernetes.CoreV1.CreateNamespacedEventAsync(warning, ns, cancellationToken: cancellationToken);
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return false;
        }
    }

    public Task PatchVirtualMachineAsync(string ns, string name, object mergePatch, CancellationToken cancellationToken) =>
        virtualMachines.PatchNamespacedAsync<VirtualMachine>(new V1Patch(mergePatch, V1Patch.PatchType.MergePatch), ns, name, cancellationToken);

    public Task<V1PersistentVolumeClaim?> GetClaimAsync(string ns, string name, CancellationToken cancellationToken) =>
        OrNull(() => kubernetes.CoreV1.ReadNamespacedPersistentVolumeClaimAsync(name, ns, cancellationToken: cancellationToken));

    // Grows a claim (volume expansion). DataVolume specs are immutable in CDI, so the claim it made is patched.
    public Task PatchClaimStorageAsync(string ns, string name, string size, CancellationToken cancellationToken) =>
        kubernetes.CoreV1.PatchNamespacedPersistentVolumeClaimAsync(
            new V1Patch(new { spec = new { resources = new { requests = new Dictionary<string, string> { ["storage"] = size } } } }, V1Patch.PatchType.MergePatch),
            name, ns, cancellationToken: cancellationToken);

    // A custom object's DELETE answers with the object while finalizers hold it (KubeVirt's do) and with a Status
    // once it is gone at once, so the answer is not read as a VirtualMachine.
    public Task DeleteVirtualMachineAsync(string ns, string name, CancellationToken cancellationToken) =>
        IgnoreNotFound(() => kubernetes.CustomObjects.DeleteNamespacedCustomObjectAsync("kubevirt.io", "v1", ns, "virtualmachines", name, cancellationToken: cancellationToken));

    public Task DeleteServiceAsync(string ns, string name, CancellationToken cancellationToken) =>
        IgnoreNotFound(() => kubernetes.CoreV1.DeleteNamespacedServiceAsync(name, ns, cancellationToken: cancellationToken));

    // start / stop / restart / addvolume / removevolume live in the aggregated subresources.kubevirt.io API,
    // which the generated client does not cover: a PUT on the client's own HttpClient, authenticated like its
    // other calls, with the options as the body (`{}` when there are none). KubeVirt's refusals — 409 ("VM is
    // already running", "volume with that name already exists"), 404, 400/422 (a feature gate is off) — come
    // back as a result to act on; they are not transient.
    public Task<SubresourceAnswer> PutSubresourceAsync(string ns, string name, string subresource, CancellationToken cancellationToken) =>
        PutSubresourceAsync(ns, name, subresource, null, cancellationToken);

    public async Task<SubresourceAnswer> PutSubresourceAsync(string ns, string name, string subresource, object? options, CancellationToken cancellationToken)
    {
        var uri = new Uri(kubernetes.BaseUri, $"apis/subresources.kubevirt.io/v1/namespaces/{ns}/virtualmachines/{name}/{subresource}");
        var content = options is null ? "{}" : System.Text.Json.JsonSerializer.Serialize(options);
        using var request = new HttpRequestMessage(HttpMethod.Put, uri) { Content = new StringContent(content, System.Text.Encoding.UTF8, "application/json") };
        if (kubernetes.Credentials is { } credentials)
            await credentials.ProcessHttpRequestAsync(request, cancellationToken);
        using var response = await kubernetes.HttpClient.SendAsync(request, cancellationToken);
        if (response.IsSuccessStatusCode)
            return new SubresourceAnswer(true, null);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.NotFound or HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity)
            return new SubresourceAnswer(false, StatusMessage(body) ?? response.ReasonPhrase);
        // Anything else (5xx, throttling) is transient from our side: the activity's retry policy handles it.
        throw new HttpRequestException($"KubeVirt {subresource} answered {(int)response.StatusCode}: {StatusMessage(body)}", null, response.StatusCode);
    }

    // The VMI's VNC websocket (KUBEVIRT.md §3, Websockets): raw RFB in binary frames, subprotocol
    // plain.kubevirt.io. The upgrade goes through the client's own handler (CA, client certificates) with its
    // credentials added like any other call. A refusal (VMI not running: 400, missing: 404) is returned.
    public async Task<(WebSocket? Socket, HttpStatusCode? Refused, string? Message)> ConnectVncAsync(string ns, string name, CancellationToken cancellationToken)
    {
        var uri = new Uri(kubernetes.BaseUri, $"apis/subresources.kubevirt.io/v1/namespaces/{ns}/virtualmachineinstances/{name}/vnc");
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("plain.kubevirt.io");
        socket.Options.CollectHttpResponseDetails = true;
        if (kubernetes.Credentials is { } credentials)
        {
            using var probe = new HttpRequestMessage(HttpMethod.Get, uri);
            await credentials.ProcessHttpRequestAsync(probe, cancellationToken);
            if (probe.Headers.Authorization is { } authorization)
                socket.Options.SetRequestHeader("Authorization", authorization.ToString());
        }
        try
        {
            var target = new UriBuilder(uri) { Scheme = uri.Scheme == Uri.UriSchemeHttps ? "wss" : "ws" }.Uri;
            await socket.ConnectAsync(target, kubernetes.HttpClient, cancellationToken);
            return (socket, null, null);
        }
        catch (WebSocketException) when (socket.HttpStatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound or HttpStatusCode.Conflict)
        {
            var refused = socket.HttpStatusCode;
            socket.Dispose();
            return (null, refused, refused == HttpStatusCode.NotFound ? "the VirtualMachineInstance does not exist" : "the VirtualMachineInstance is not running");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    // KubeVirt's vnc/screenshot: a PNG of the VMI's screen, or the refusal's status and message.
    public async Task<(byte[]? Png, HttpStatusCode Status, string? Message)> GetScreenshotAsync(string ns, string name, CancellationToken cancellationToken)
    {
        var uri = new Uri(kubernetes.BaseUri, $"apis/subresources.kubevirt.io/v1/namespaces/{ns}/virtualmachineinstances/{name}/vnc/screenshot");
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (kubernetes.Credentials is { } credentials)
            await credentials.ProcessHttpRequestAsync(request, cancellationToken);
        using var response = await kubernetes.HttpClient.SendAsync(request, cancellationToken);
        if (response.IsSuccessStatusCode)
            return (await response.Content.ReadAsByteArrayAsync(cancellationToken), response.StatusCode, null);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound or HttpStatusCode.Conflict)
            return (null, response.StatusCode, StatusMessage(body) ?? response.ReasonPhrase);
        throw new HttpRequestException($"KubeVirt vnc/screenshot answered {(int)response.StatusCode}: {StatusMessage(body)}", null, response.StatusCode);
    }

    static string? StatusMessage(string body)
    {
        try
        {
            return System.Text.Json.JsonDocument.Parse(body).RootElement.TryGetProperty("message", out var m) ? m.GetString() : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    static async Task IgnoreNotFound<T>(Func<Task<T>> delete)
    {
        try
        {
            await delete();
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
        }
    }

    static async Task IgnoreConflict<T>(Func<Task<T>> create)
    {
        try
        {
            await create();
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
        }
    }

    static async Task<T?> OrNull<T>(Func<Task<T>> read) where T : class
    {
        try
        {
            return await read();
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }
}

public sealed record SubresourceAnswer(bool Accepted, string? Refusal);

// A client per region, built once from the catalog and kept for the life of the process.
public sealed class KubeVirtClients(IOptions<CatalogOptions> catalog, ILoggerFactory? logs = null) : IDisposable
{
    // The regions with a cluster, each of whose clients is made at first use.
    public IEnumerable<string> Regions => catalog.Value.Regions.Where(r => r.Value.Available).Select(r => r.Key);

    readonly ConcurrentDictionary<string, (Kubernetes Kubernetes, KubeVirtClient Client)> clients = new(StringComparer.Ordinal);

    public KubeVirtClient For(string region) => clients.GetOrAdd(region, Create).Client;

    (Kubernetes, KubeVirtClient) Create(string region)
    {
        if (!catalog.Value.Regions.TryGetValue(region, out var settings) || !settings.Available)
            throw new InvalidOperationException($"Region '{region}' has no cluster configured.");
        var config = settings.InCluster ? KubernetesClientConfiguration.InClusterConfig()
            : string.IsNullOrWhiteSpace(settings.Endpoint)
                ? KubernetesClientConfiguration.BuildConfigFromConfigFile(currentContext: settings.KubeconfigContext)
                : new KubernetesClientConfiguration { Host = settings.Endpoint, AccessToken = settings.Token, SkipTlsVerify = settings.SkipTlsVerify };
        var kubernetes = new Kubernetes(config, new StrictFieldValidation());
        return (kubernetes, new KubeVirtClient(kubernetes, (logs ?? NullLoggerFactory.Instance).CreateLogger<ClusterWatch>()));
    }

    public void Dispose()
    {
        foreach (var (kubernetes, _) in clients.Values)
            kubernetes.Dispose();
    }
}

// Every object and patch the app writes to the API server is decoded strictly (fieldValidation=Strict): a field
// the cluster's KubeVirt or CDI does not know is a 422, not a warning and a silently dropped setting. virt-api's
// subresources (subresources.kubevirt.io) decode their own bodies and are left alone.
sealed class StrictFieldValidation : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.RequestUri is { } uri
            && (request.Method == HttpMethod.Post || request.Method == HttpMethod.Put || request.Method == HttpMethod.Patch)
            && !uri.AbsolutePath.StartsWith("/apis/subresources.kubevirt.io/", StringComparison.Ordinal)
            && !uri.Query.Contains("fieldValidation=", StringComparison.Ordinal))
        {
            request.RequestUri = new UriBuilder(uri) { Query = uri.Query.Length > 1 ? uri.Query[1..] + "&fieldValidation=Strict" : "fieldValidation=Strict" }.Uri;
        }
        return base.SendAsync(request, cancellationToken);
    }
}
