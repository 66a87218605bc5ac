using System.Collections.Concurrent;
using System.Net;
using Droplets.Catalog;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Options;

namespace Droplets.KubeVirt;

// One region's cluster, through the real Kubernetes client. Creates are idempotent (AlreadyExists is
// success) because activities are retried and workflows replayed.
public sealed class KubeVirtClient(IKubernetes kubernetes)
{
    readonly GenericClient virtualMachines = new(kubernetes, "kubevirt.io", "v1", "virtualmachines", disposeClient: false);
    readonly GenericClient instances = new(kubernetes, "kubevirt.io", "v1", "virtualmachineinstances", disposeClient: false);
    readonly GenericClient dataVolumes = new(kubernetes, "cdi.kubevirt.io", "v1beta1", "datavolumes", disposeClient: false);

    public async Task EnsureNamespaceAsync(string name, CancellationToken cancellationToken)
    {
        var ns = new V1Namespace { ApiVersion = "v1", Kind = "Namespace", Metadata = new V1ObjectMeta { Name = name } };
        await IgnoreConflict(() => kubernetes.CoreV1.CreateNamespaceAsync(ns, cancellationToken: cancellationToken));
    }

    public Task CreateVirtualMachineAsync(VirtualMachine vm, CancellationToken cancellationToken) =>
        IgnoreConflict(() => virtualMachines.CreateNamespacedAsync(vm, vm.Metadata.NamespaceProperty, cancellationToken));

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

// A client per region, built once from the catalog and kept for the life of the process.
public sealed class KubeVirtClients(IOptions<CatalogOptions> catalog) : IDisposable
{
    readonly ConcurrentDictionary<string, (IKubernetes Kubernetes, KubeVirtClient Client)> clients = new(StringComparer.Ordinal);

    public KubeVirtClient For(string region) => clients.GetOrAdd(region, Create).Client;

    (IKubernetes, KubeVirtClient) Create(string region)
    {
        if (!catalog.Value.Regions.TryGetValue(region, out var settings) || !settings.Available)
            throw new InvalidOperationException($"Region '{region}' has no cluster configured.");
        var config = string.IsNullOrWhiteSpace(settings.Endpoint)
            ? KubernetesClientConfiguration.BuildConfigFromConfigFile(currentContext: settings.KubeconfigContext)
            : new KubernetesClientConfiguration { Host = settings.Endpoint, AccessToken = settings.Token, SkipTlsVerify = settings.SkipTlsVerify };
        var kubernetes = new Kubernetes(config);
        return (kubernetes, new KubeVirtClient(kubernetes));
    }

    public void Dispose()
    {
        foreach (var (kubernetes, _) in clients.Values)
            kubernetes.Dispose();
    }
}
