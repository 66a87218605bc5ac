using System.Text.Json.Nodes;

namespace KubeVirt.Simulator.Controllers;

// What kube-controller-manager and the kubelet do that KubeVirt relies on and the API server alone does not: a
// "default" ServiceAccount in every namespace (pods are refused without one), pods deleted with a grace period
// finished off (the kubelet confirms with grace period 0), and a deleted namespace emptied, then finalized.
internal sealed class ControllerManager(Store store)
{
    public void Reconcile()
    {
        foreach (var ns in store.List(Resources.Namespaces, null).Items)
        {
            if (ns.IsDeleting())
                ControllerLoop.Safe(() => Terminate(ns));
            else if (!store.Exists(Resources.ServiceAccounts, ns.Name(), "default"))
                ControllerLoop.Safe(() => store.Create(Resources.ServiceAccounts, new JsonObject { ["metadata"] = new JsonObject { ["name"] = "default", ["namespace"] = ns.Name() } }));
        }
        foreach (var pod in store.List(Resources.Pods, null).Items.Where(p => p.IsDeleting()))
            ControllerLoop.Safe(() => store.Delete(Resources.Pods, pod.Namespace(), pod.Name()));
    }

    void Terminate(JsonObject ns)
    {
        var contents = Resources.All.Where(t => t.Namespaced).SelectMany(t => store.List(t, ns.Name()).Items.Select(o => (Type: t, Object: o))).ToList();
        foreach (var (type, obj) in contents.Where(c => !c.Object.IsDeleting()))
            ControllerLoop.Safe(() => store.Delete(type, obj.Namespace(), obj.Name()));
        if (contents.Count == 0 && ns.At("spec", "finalizers") is JsonArray { Count: > 0 })
            store.FinalizeNamespace(ns.Name());
    }
}
