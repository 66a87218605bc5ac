using k8s.Models;

namespace Droplets.KubeVirt;

// The reads every wait on KubeVirt makes: the watched kinds from the region's ClusterWatch when it is given (in sync),
// everything else, and everything when it is not, from the API server. WentLive tells whether any read asked the API
// server, so that a wait on an object no watch covers (a claim) keeps polling.
public sealed class ClusterReads(KubeVirtClient cluster, ClusterWatch? watch)
{
    public bool Cached => watch is not null;
    public bool WentLive { get; private set; }

    public Task<VirtualMachine?> GetVirtualMachineAsync(string ns, string name, CancellationToken cancellationToken) =>
        watch is null ? Live(cluster.GetVirtualMachineAsync(ns, name, cancellationToken)) : Task.FromResult(watch.VirtualMachine(ns, name));

    public Task<VirtualMachineInstance?> GetInstanceAsync(string ns, string name, CancellationToken cancellationToken) =>
        watch is null ? Live(cluster.GetInstanceAsync(ns, name, cancellationToken)) : Task.FromResult(watch.Instance(ns, name));

    public Task<V1Service?> GetServiceAsync(string ns, string name, CancellationToken cancellationToken) =>
        watch is null ? Live(cluster.GetServiceAsync(ns, name, cancellationToken)) : Task.FromResult(watch.Service(ns, name));

    public Task<DataVolume?> GetDataVolumeAsync(string ns, string name, CancellationToken cancellationToken) =>
        watch is null ? Live(cluster.GetDataVolumeAsync(ns, name, cancellationToken)) : Task.FromResult(watch.DataVolume(ns, name));

    public Task<V1PersistentVolumeClaim?> GetClaimAsync(string ns, string name, CancellationToken cancellationToken) =>
        Live(cluster.GetClaimAsync(ns, name, cancellationToken));

    // Everything that tells a droplet's state: VM, VMI, public Service (and the root disk when KubeVirt blames it).
    public async Task<VmObservation> ObserveDropletAsync(string ns, string dropletId, CancellationToken cancellationToken)
    {
        var name = DropletMapping.VmNameFor(dropletId);
        var vm = GetVirtualMachineAsync(ns, name, cancellationToken);
        var vmi = GetInstanceAsync(ns, name, cancellationToken);
        var service = GetServiceAsync(ns, DropletMapping.PublicServiceNameFor(dropletId), cancellationToken);
        await Task.WhenAll(vm, vmi, service);
        var disks = new List<DataVolume>();
        if (vm.Result?.Status?.PrintableStatus == "DataVolumeError"
            && await GetDataVolumeAsync(ns, DropletMapping.RootDiskNameFor(dropletId), cancellationToken) is { } disk)
            disks.Add(disk);
        return DropletMapping.Observe(vm.Result, vmi.Result, disks, service.Result) with { PendingVolumes = VolumeMapping.PendingVolumes(vm.Result, vmi.Result) };
    }

    Task<T> Live<T>(Task<T> read)
    {
        WentLive = true;
        return read;
    }
}
