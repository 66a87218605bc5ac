using Droplets.Catalog;
using Droplets.Droplets;
using Droplets.KubeVirt;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Droplets.Actions;

// The reconciler's comparison of the records with KubeVirt, region by region (one list of the region's droplets, one
// label-selected list of its VirtualMachines), for drift no action explains. What it finds is reported as a Warning
// event on the VirtualMachine, where the region's operators (`kubectl get events`) and the droplet's owner
// (GET /droplets/{id}/events) look:
// - a droplet at rest (running or stopped, not held) whose VirtualMachine is gone, deleted behind the API's back: the
//   droplet is in error (`vm_missing`) from then on, which allows delete;
// - a VirtualMachine labelled as a droplet's, in the namespace of a project this installation has droplets in, with
//   no record of that droplet: left alone (the reconciler never deletes what it cannot account for), and reported.
// Both are checked again against a fresh read before anything is said: the lists may be older than a create or a
// delete in flight. Runs every Recovery:DriftInterval, on its own, since it reads every droplet of every region.
public sealed class DriftReport(DropletStore droplets, KubeVirtClients clusters, IOptions<CatalogOptions> catalog, ILogger<DriftReport> log)
{
    public const string VmMissing = "vm_missing";
    public const string VmMissingReason = "VirtualMachineMissing";
    public const string DropletMissingReason = "DropletMissing";

    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        var reported = 0;
        foreach (var (region, settings) in catalog.Value.Regions)
        {
            if (!settings.Available)
                continue;
            try
            {
                reported += await CompareAsync(region, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogWarning(e, "Could not compare region {Region} with its droplets; will retry", region);
            }
        }
        return reported;
    }

    async Task<int> CompareAsync(string region, CancellationToken cancellationToken)
    {
        var cluster = clusters.For(region);
        var records = await droplets.ListInRegionAsync(region, cancellationToken).ToListAsync(cancellationToken);
        var machines = await cluster.ListDropletMachinesAsync(cancellationToken);
        var withMachine = machines.Select(vm => Label(vm, DropletMapping.DropletIdLabel)).ToHashSet(StringComparer.Ordinal);
        var reported = 0;

        foreach (var droplet in records.Where(d => AtRest(d) && !withMachine.Contains(d.Id)))
        {
            var ns = droplet.Namespace;
            var name = DropletMapping.VmNameFor(droplet.Id);
            if (await cluster.GetVirtualMachineAsync(ns, name, cancellationToken) is not null)
                continue;
            // Said first, so that a droplet seen in error already has its event.
            var error = new ErrorDetail(VmMissing, "KubeVirt has no VirtualMachine for this droplet: it was deleted outside the API. Delete the droplet.");
            await cluster.ReportAsync(ns, "VirtualMachine", name, VmMissingReason, error.Message, cancellationToken);
            var changed = false;
            await droplets.UpdateAsync(droplet.ProjectId, droplet.Id, current =>
            {
                changed = AtRest(current);
                return changed ? current with { Status = DropletStatus.Error, Error = error } : null;
            }, cancellationToken);
            if (!changed)
                continue;
            log.LogWarning("Droplet {DropletId} was {Status}, but KubeVirt has no VirtualMachine {Name}; it is in error", droplet.Id, droplet.Status, name);
            reported++;
        }

        var namespaces = records.Select(d => d.Namespace).ToHashSet(StringComparer.Ordinal);
        var known = records.Select(d => d.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var vm in machines)
        {
            var ns = vm.Metadata.NamespaceProperty;
            if (Label(vm, DropletMapping.DropletIdLabel) is not { } id || known.Contains(id) || !namespaces.Contains(ns)
                || Label(vm, DropletMapping.ProjectIdLabel) is not { } project
                || await droplets.GetAsync(project, id, cancellationToken) is not null)
                continue;
            if (!await cluster.ReportAsync(ns, "VirtualMachine", vm.Metadata.Name, DropletMissingReason,
                    $"No droplet {id} exists for this VirtualMachine; Droplets leaves it alone. Delete it with kubectl if nobody needs it.", cancellationToken))
                continue;
            log.LogWarning("VirtualMachine {Namespace}/{Name} is labelled as droplet {DropletId}, which has no record", ns, vm.Metadata.Name, id);
            reported++;
        }
        return reported;
    }

    static string? Label(VirtualMachine vm, string key) => vm.Metadata.Labels is { } labels && labels.TryGetValue(key, out var value) ? value : null;

    static bool AtRest(Droplet droplet) => droplet is { Locked: false, Status: DropletStatus.Running or DropletStatus.Stopped };
}
