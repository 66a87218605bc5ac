using System.Text.Json.Nodes;

namespace KubeVirt.Simulator.Controllers;

// The parts of kube-controller-manager's garbage collector the simulator needs: dependents whose owners are all
// gone are deleted (background propagation), and an owner deleted with propagationPolicy=Orphan first has its
// dependents detached, then loses the "orphan" finalizer.
internal sealed class GarbageCollector(Store store)
{
    public void Reconcile()
    {
        var all = Resources.All.Where(t => t != Resources.Namespaces)
            .SelectMany(t => store.List(t, null).Items.Select(o => (Type: t, Object: o)))
            .ToList();

        var orphaning = all.Where(x => x.Object.IsDeleting() && x.Object.Finalizers().Contains(Finalizers.Orphan)).ToList();
        foreach (var (type, owner) in orphaning)
        {
            var uid = owner.Uid();
            foreach (var (depType, dependent) in all.Where(x => x.Object.IsOwnedBy(uid)))
            {
                ControllerLoop.Safe(() => store.Update(depType, dependent.Namespace(), dependent.Name(), d =>
                {
                    var refs = d.Objects("metadata", "ownerReferences").Where(r => r.Str("uid") != uid).Select(r => r.Clone()).ToList();
                    if (refs.Count == 0)
                    {
                        d.Meta().Remove("ownerReferences");
                    }
                    else
                    {
                        d.Meta()["ownerReferences"] = Json.Array(refs);
                    }
                    return d;
                }, UpdateMode.Full));
            }
            ControllerLoop.Safe(() => store.Update(type, owner.Namespace(), owner.Name(), o =>
            {
                o.SetFinalizers(o.Finalizers().Where(f => f != Finalizers.Orphan));
                return o;
            }, UpdateMode.Full));
        }

        if (orphaning.Count > 0)
        {
            // The snapshot above still shows the detached owner references; collect on the next pass.
            return;
        }

        var uids = store.AllUids();
        foreach (var (type, dependent) in all)
        {
            var owners = dependent.Objects("metadata", "ownerReferences").ToList();
            if (owners.Count > 0 && !dependent.IsDeleting() && owners.All(o => o.Str("uid") is not { } uid || !uids.Contains(uid))
                && owners.All(o => Gone(o, dependent.Namespace())))
            {
                ControllerLoop.Safe(() => store.Delete(type, dependent.Namespace(), dependent.Name()));
            }
        }
    }

    // The cache may not have seen a new owner yet (each kind is its own watch): as the real collector does, ask the
    // API server before deleting. An owner of a kind the simulator does not know is taken to exist.
    bool Gone(JsonObject owner, string ns)
    {
        if (Resources.ByKind(owner.Str("apiVersion"), owner.Str("kind")) is not { } type)
            return false;
        return store.Live(type, ns, owner.Str("name") ?? "") is not { } live || live.Uid() != owner.Str("uid");
    }
}
