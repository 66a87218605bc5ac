using System.Globalization;
using System.Text.Json.Nodes;

namespace KubeVirt.Simulator.Controllers;

// CDI's DataVolume import controller plus a storage provisioner: each DataVolume gets a PVC of the same name,
// binds it, "imports" for ImportDelay (a blank disk is ready at once), and fails like CDI when the registry image is
// in FailingImages.
internal sealed class DataVolumeController(Store store, SimulatorOptions options, EventRecorder events, Timers timers)
{
    public void Reconcile()
    {
        foreach (var dv in store.List(Resources.DataVolumes, null).Items.Where(d => !d.IsDeleting()))
        {
            ControllerLoop.Safe(() => Sync(dv));
        }
        // Claims nobody imports into bind at once, as with an Immediate-binding storage class.
        foreach (var pvc in store.List(Resources.Pvcs, null).Items.Where(p => p.Str("status", "phase") != "Bound" && !p.IsDeleting()))
        {
            if (!store.Exists(Resources.DataVolumes, pvc.Namespace(), pvc.Name()))
            {
                ControllerLoop.Safe(() => Bind(pvc.Namespace(), pvc.Name()));
            }
        }
    }

    void Sync(JsonObject dv)
    {
        var ns = dv.Namespace();
        var name = dv.Name();
        var phase = dv.Str("status", "phase") ?? "";
        if (!store.Exists(Resources.Pvcs, ns, name))
        {
            store.Create(Resources.Pvcs, Claim(dv));
        }
        switch (phase)
        {
            case "":
                Update(dv, status =>
                {
                    status["phase"] = "Pending";
                    status["progress"] = "N/A";
                    status["claimName"] = name;
                    status.SetCondition("Bound", "False", "Pending", $"PVC {name} Pending", probeTime: false);
                    status.SetCondition("Ready", "False", "", "", probeTime: false);
                    status.SetCondition("Running", "False", "", "", probeTime: false);
                });
                events.Normal(dv, "Pending", $"PVC {name} Pending", Components.Cdi);
                break;
            case "Pending":
                Bind(ns, name);
                Update(dv, status =>
                {
                    status["phase"] = "ImportScheduled";
                    status.SetCondition("Bound", "True", "Bound", $"PVC {name} Bound", probeTime: false);
                });
                events.Normal(dv, "Bound", $"PVC {name} Bound", Components.Cdi);
                events.Normal(dv, "ImportScheduled", $"Import into {name} scheduled", Components.Cdi);
                break;
            case "ImportScheduled" or "ImportInProgress":
                Import(dv, phase);
                break;
        }
    }

    void Import(JsonObject dv, string phase)
    {
        var name = dv.Name();
        if (dv.At("spec", "source", "blank") is not null)
        {
            Succeed(dv);
            return;
        }
        var image = dv.Str("spec", "source", "registry", "url")?.Replace("docker://", "", StringComparison.Ordinal);
        if (image is not null && options.FailingImages.Contains(image))
        {
            timers.Forget(dv.Uid(), "import");
            if (dv.HasCondition("Running", "False", "ImagePullFailed"))
            {
                return;
            }
            var message = $"Unable to pull image \"{image}\": failed to fetch manifest: manifest unknown";
            Update(dv, status =>
            {
                status["phase"] = "ImportInProgress";
                status["progress"] = "N/A";
                status["restartCount"] = (status.Long("restartCount") ?? 0) + 1;
                status.SetCondition("Running", "False", "ImagePullFailed", message, probeTime: false);
            });
            events.Warning(dv, "ImagePullFailed", message, Components.Cdi);
            return;
        }

        var started = timers.Since(dv.Uid(), "import");
        var delay = options.ImportDelay;
        var elapsed = DateTime.UtcNow - started;
        if (elapsed < delay)
        {
            // Progress moves in 10% steps so an import costs a handful of writes, not one per pass.
            var percent = Math.Floor(elapsed / delay * 10) * 10;
            Update(dv, status =>
            {
                status["phase"] = "ImportInProgress";
                status["progress"] = percent.ToString("0.00", CultureInfo.InvariantCulture) + "%";
                status.SetCondition("Running", "True", "Pod is running", "", probeTime: false);
            });
            if (phase == "ImportScheduled")
            {
                events.Normal(dv, "ImportInProgress", $"Import into {name} in progress", Components.Cdi);
            }
            return;
        }
        Succeed(dv);
    }

    void Succeed(JsonObject dv)
    {
        var name = dv.Name();
        Bind(dv.Namespace(), name);
        Update(dv, status =>
        {
            status["phase"] = "Succeeded";
            status["progress"] = "100.0%";
            status.SetCondition("Bound", "True", "Bound", $"PVC {name} Bound", probeTime: false);
            status.SetCondition("Ready", "True", "", "", probeTime: false);
            status.SetCondition("Running", "False", "Completed", "", probeTime: false);
        });
        events.Normal(dv, "ImportSucceeded", $"Successfully imported into PVC {name}", Components.Cdi);
    }

    void Bind(string ns, string name) =>
        store.Update(Resources.Pvcs, ns, name, pvc =>
        {
            var spec = pvc.Child("spec");
            spec["volumeName"] ??= "pvc-" + pvc.Uid();
            spec["storageClassName"] ??= "simulated";
            spec["volumeMode"] ??= "Filesystem";
            spec["accessModes"] ??= new JsonArray("ReadWriteOnce");
            var status = pvc.Child("status");
            status["phase"] = "Bound";
            status["accessModes"] = spec["accessModes"]!.DeepClone();
            status["capacity"] = new JsonObject { ["storage"] = spec.Str("resources", "requests", "storage") ?? "1Gi" };
            return pvc;
        }, UpdateMode.Full);

    // CDI's "storage" API fills accessModes from the StorageProfile; the simulated profile offers shared (RWX) volumes.
    static JsonObject Claim(JsonObject dv)
    {
        var source = dv.Object("spec", "pvc") ?? dv.Object("spec", "storage");
        var spec = source?.Clone() ?? [];
        spec["accessModes"] ??= new JsonArray("ReadWriteMany");
        spec["volumeMode"] ??= "Filesystem";
        spec["storageClassName"] ??= "simulated";
        var kind = dv.Object("spec", "source")?.Select(kv => kv.Key).FirstOrDefault();
        var annotations = new JsonObject();
        if (kind is not null)
        {
            annotations["cdi.kubevirt.io/storage.import.source"] = kind == "blank" ? "none" : kind;
        }
        if (dv.Str("spec", "source", kind ?? "", "url") is { } url)
        {
            annotations["cdi.kubevirt.io/storage.import.endpoint"] = url;
        }
        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "PersistentVolumeClaim",
            ["metadata"] = new JsonObject
            {
                ["name"] = dv.Name(),
                ["namespace"] = dv.Namespace(),
                ["labels"] = new JsonObject { ["app"] = "containerized-data-importer", ["app.kubernetes.io/component"] = "storage", ["app.kubernetes.io/managed-by"] = "cdi-controller" },
                ["annotations"] = annotations,
                ["ownerReferences"] = new JsonArray(Json.OwnerReference(dv)),
                ["finalizers"] = new JsonArray(ClaimProtectionController.Finalizer),
            },
            ["spec"] = spec,
        };
    }

    void Update(JsonObject dv, Action<JsonObject> change) =>
        store.Update(Resources.DataVolumes, dv.Namespace(), dv.Name(), d =>
        {
            if (d.Uid() != dv.Uid())
            {
                return null;
            }
            change(d.Child("status"));
            return d;
        }, UpdateMode.Full);
}
