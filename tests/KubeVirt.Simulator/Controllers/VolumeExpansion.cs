using System.Text.Json.Nodes;

namespace KubeVirt.Simulator.Controllers;

// The CSI external-resizer plus kubelet's online file system expansion: a bound claim whose storage request exceeds
// its capacity gets Resizing=True, and after ExpandDelay its capacity follows the request. A claim in use by a
// running VMI goes through FileSystemResizeRequired → kubelet's FileSystemResizeSuccessful; an unused one reports
// VolumeResizeSuccessful.
internal sealed class VolumeExpansionController(Store store, SimulatorOptions options, EventRecorder events, Timers timers)
{
    public const string Resizer = "external-resizer simulated.csi.kubevirt.io";

    public void Reconcile()
    {
        foreach (var pvc in store.List(Resources.Pvcs, null).Items.Where(p => p.Str("status", "phase") == "Bound" && !p.IsDeleting()))
        {
            ControllerLoop.Safe(() => Sync(pvc));
        }
    }

    void Sync(JsonObject pvc)
    {
        var requested = pvc.Str("spec", "resources", "requests", "storage");
        if (requested is null || Quantity.Parse(requested) <= Quantity.Parse(pvc.Str("status", "capacity", "storage")))
        {
            timers.Forget(pvc.Uid(), "expand");
            return;
        }
        var volume = pvc.Str("spec", "volumeName") ?? "pvc-" + pvc.Uid();
        if (timers.Start(pvc.Uid(), "expand"))
        {
            Update(pvc, status => status.SetCondition("Resizing", "True"));
            events.Normal(pvc, "Resizing", $"External resizer is resizing volume {volume}", Resizer);
        }
        if (!timers.Elapsed(pvc.Uid(), "expand", options.ExpandDelay))
        {
            return;
        }
        var node = NodeUsing(pvc);
        Update(pvc, status =>
        {
            status.Child("capacity")["storage"] = requested;
            status.RemoveCondition("Resizing");
            status.RemoveCondition("FileSystemResizePending");
        });
        timers.Forget(pvc.Uid(), "expand");
        if (node is null)
        {
            events.Normal(pvc, "VolumeResizeSuccessful", "Resize volume succeeded", Resizer);
        }
        else
        {
            events.Normal(pvc, "FileSystemResizeRequired", "Require file system resize of volume on node", Resizer);
            events.Normal(pvc, "FileSystemResizeSuccessful", $"MountVolume.NodeExpandVolume succeeded for volume \"{volume}\" {node}", Components.Kubelet, node);
        }
    }

    // The node of a running VMI that mounts the claim (directly or through a DataVolume of the same name).
    string? NodeUsing(JsonObject pvc) =>
        store.List(Resources.VirtualMachineInstances, pvc.Namespace()).Items
            .Where(v => v.Str("status", "phase") is "Running" or "Scheduled")
            .FirstOrDefault(v => v.Objects("spec", "volumes").Any(vol => (vol.Str("dataVolume", "name") ?? vol.Str("persistentVolumeClaim", "claimName")) == pvc.Name()))
            ?.Str("status", "nodeName");

    void Update(JsonObject pvc, Action<JsonObject> change) =>
        store.Update(Resources.Pvcs, pvc.Namespace(), pvc.Name(), p =>
        {
            if (p.Uid() != pvc.Uid())
            {
                return null;
            }
            change(p.Child("status"));
            return p;
        }, UpdateMode.Full);
}
