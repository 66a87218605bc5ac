using System.Text.Json.Nodes;

namespace KubeVirt.Simulator.Controllers;

// kube-controller-manager's pvc-protection controller. Every claim is created with the kubernetes.io/pvc-protection
// finalizer (the StorageObjectInUseProtection admission plugin), so a deleted claim stays Terminating while a scheduled
// pod that has not finished mounts it: a launcher pod for the claims a VMI boots with, an hp-volume pod for hotplugged ones.
internal sealed class ClaimProtectionController(Store store)
{
    public const string Finalizer = "kubernetes.io/pvc-protection";

    public void Reconcile()
    {
        var deleting = store.List(Resources.Pvcs, null).Items.Where(p => p.IsDeleting() && p.Finalizers().Contains(Finalizer)).ToList();
        if (deleting.Count == 0)
        {
            return;
        }
        var users = store.List(Resources.Pods, null).Items
            .Where(p => p.Str("spec", "nodeName") is not null && p.Str("status", "phase") is not ("Succeeded" or "Failed"))
            .SelectMany(p => p.Objects("spec", "volumes").Select(v => (p.Namespace(), v.Str("persistentVolumeClaim", "claimName"))))
            .ToHashSet();
        foreach (var pvc in deleting.Where(p => !users.Contains((p.Namespace(), p.Name()))))
        {
            ControllerLoop.Safe(() => store.Update(Resources.Pvcs, pvc.Namespace(), pvc.Name(), p =>
            {
                if (p.Uid() != pvc.Uid())
                {
                    return null;
                }
                p.SetFinalizers(p.Finalizers().Where(f => f != Finalizer));
                return p;
            }, UpdateMode.Full));
        }
    }
}
