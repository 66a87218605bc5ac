using System.Text.Json.Nodes;

namespace KubeVirt.Simulator.Controllers;

// virt-controller's VM half: finalizer, DataVolumes from templates, run strategies, state change requests,
// deletion, and status (conditions + printableStatus by KubeVirt's ordered rules).
internal sealed class VirtualMachineController(Store store, EventRecorder events)
{
    static readonly string[] NotCopied = ["Ready", "Failure", "RestartRequired"];

    // DataVolumes already reported as failed, so the warning is recorded once per failure, not once per pass.
    readonly HashSet<string> failedImports = [];

    public void Reconcile()
    {
        failedImports.IntersectWith(store.List(Resources.DataVolumes, null).Items.Select(d => d.Uid()));
        foreach (var vm in store.List(Resources.VirtualMachines, null).Items)
        {
            ControllerLoop.Safe(() => Sync(vm));
        }
    }

    void Sync(JsonObject vm)
    {
        var ns = vm.Namespace();
        var name = vm.Name();
        var vmi = OwnedVmi(vm);

        if (vm.IsDeleting())
        {
            var orphan = vm.Finalizers().Contains(Finalizers.Orphan);
            if (vmi is not null && !orphan && !vmi.IsDeleting())
            {
                StopVmi(vm, vmi);
            }
            WriteStatus(vm, vmi, 0, startExpected: false);
            if (vmi is null || orphan)
            {
                SetFinalizer(vm, present: false);
            }
            return;
        }
        SetFinalizer(vm, present: true);

        var volumesReady = SyncDataVolumes(vm);
        var strategy = RunStrategies.Of(vm);
        var requests = vm.Objects("status", "stateChangeRequests").ToList();
        var trimmed = 0;
        while (trimmed < requests.Count && IsDone(requests[trimmed], vmi))
        {
            trimmed++;
        }
        var pending = requests.Skip(trimmed).FirstOrDefault();
        var final = vmi is not null && VmiPhases.IsFinal(vmi.Str("status", "phase") ?? "");
        var startExpected = false;

        if (pending is not null)
        {
            if (pending.Str("action") == "Stop" && vmi is not null && !vmi.IsDeleting())
            {
                StopVmi(vm, vmi);
            }
            else if (pending.Str("action") == "Start")
            {
                if (vmi is null)
                {
                    startExpected = true;
                    if (volumesReady)
                    {
                        StartVmi(vm, pending.Str("data", "paused") == "true");
                    }
                }
                else if (final && !vmi.IsDeleting())
                {
                    StopVmi(vm, vmi);
                }
            }
        }
        else
        {
            switch (strategy)
            {
                case RunStrategies.Always or RunStrategies.RerunOnFailure or RunStrategies.Once when vmi is null:
                    startExpected = true;
                    if (volumesReady)
                    {
                        StartVmi(vm, paused: false);
                    }
                    break;
                case RunStrategies.Always when final && !vmi!.IsDeleting():
                case RunStrategies.RerunOnFailure when final && vmi!.Str("status", "phase") == "Failed" && !vmi.IsDeleting():
                case RunStrategies.Halted when vmi is not null && !vmi.IsDeleting():
                    StopVmi(vm, vmi!);
                    break;
            }
        }
        WriteStatus(vm, vmi, trimmed, startExpected);
    }

    // The VMI of the same name, if this VM controls it; an unowned one is adopted as virt-controller does.
    JsonObject? OwnedVmi(JsonObject vm)
    {
        var vmi = store.Get(Resources.VirtualMachineInstances, vm.Namespace(), vm.Name());
        if (vmi is null)
        {
            return null;
        }
        var owner = vmi.ControllerUid();
        if (owner == vm.Uid())
        {
            return vmi;
        }
        if (owner is not null || vm.IsDeleting() || vmi.IsDeleting())
        {
            return null;
        }
        return store.Update(Resources.VirtualMachineInstances, vm.Namespace(), vm.Name(), v =>
        {
            v.Meta()["ownerReferences"] = new JsonArray(Json.OwnerReference(vm));
            return v;
        }, UpdateMode.Full);
    }

    // Same rules as virt-controller's isTrimFirstChangeRequestNeeded.
    static bool IsDone(JsonObject request, JsonObject? vmi) => request.Str("action") switch
    {
        "Stop" => vmi is null || request.Str("uid") is null || request.Str("uid") != vmi.Uid(),
        "Start" => vmi is not null && !vmi.IsDeleting() && !VmiPhases.IsFinal(vmi.Str("status", "phase") ?? ""),
        _ => true,
    };

    bool SyncDataVolumes(JsonObject vm)
    {
        var ready = true;
        foreach (var template in vm.Objects("spec", "dataVolumeTemplates"))
        {
            var dvName = template.Str("metadata", "name");
            if (dvName is null)
            {
                continue;
            }
            var dv = store.Get(Resources.DataVolumes, vm.Namespace(), dvName);
            if (dv is null)
            {
                ready = false;
                var labels = template.Object("metadata", "labels")?.Clone() ?? [];
                labels["kubevirt.io/created-by"] = vm.Uid();
                var metadata = new JsonObject
                {
                    ["name"] = dvName,
                    ["namespace"] = vm.Namespace(),
                    ["labels"] = labels,
                    ["ownerReferences"] = new JsonArray(Json.OwnerReference(vm)),
                };
                if (template.Object("metadata", "annotations") is { } annotations)
                {
                    metadata["annotations"] = annotations.Clone();
                }
                store.Create(Resources.DataVolumes, new JsonObject
                {
                    ["apiVersion"] = "cdi.kubevirt.io/v1beta1",
                    ["kind"] = "DataVolume",
                    ["metadata"] = metadata,
                    ["spec"] = template["spec"]?.DeepClone() ?? new JsonObject(),
                });
                events.Normal(vm, "SuccessfulDataVolumeCreate", $"Created DataVolume {dvName}", Components.VirtController);
                continue;
            }
            if (dv.Str("status", "phase") != "Succeeded")
            {
                ready = false;
                if (DataVolumeError(dv) is null)
                {
                    failedImports.Remove(dv.Uid());
                }
                else if (failedImports.Add(dv.Uid()))
                {
                    events.Warning(vm, "FailedDataVolumeImport", $"DataVolume {dvName} failed to import disk image", Components.VirtController);
                }
            }
        }
        return ready;
    }

    static string? DataVolumeError(JsonObject dv)
    {
        if (dv.Str("status", "phase") == "Failed")
        {
            return $"DataVolume {dv.Name()} is in Failed phase";
        }
        var running = dv.Condition("Running");
        return running is not null && running.Str("status") == "False" && running.Str("reason") is "Error" or "ImagePullFailed"
            ? $"DataVolume {dv.Name()} importer has stopped running due to an error: {running.Str("message")}"
            : null;
    }

    void StartVmi(JsonObject vm, bool paused)
    {
        var template = vm.Object("spec", "template");
        var metadata = new JsonObject
        {
            ["name"] = vm.Name(),
            ["namespace"] = vm.Namespace(),
            ["labels"] = template.Object("metadata", "labels")?.Clone() ?? [],
            ["annotations"] = template.Object("metadata", "annotations")?.Clone() ?? [],
            ["ownerReferences"] = new JsonArray(Json.OwnerReference(vm)),
            ["finalizers"] = new JsonArray(Finalizers.VmController),
        };
        var spec = template.Object("spec")?.Clone() ?? [];
        if (paused)
        {
            spec["startStrategy"] = "Paused";
        }
        var vmi = new JsonObject
        {
            ["apiVersion"] = "kubevirt.io/v1",
            ["kind"] = "VirtualMachineInstance",
            ["metadata"] = metadata,
            ["spec"] = spec,
        };
        store.Create(Resources.VirtualMachineInstances, vmi, v => Validation.Admit(Resources.VirtualMachineInstances, v, store));
        events.Normal(vm, "SuccessfulCreate", $"Started the virtual machine by creating the new virtual machine instance {vm.Name()}", Components.VirtController);
    }

    void StopVmi(JsonObject vm, JsonObject vmi)
    {
        store.Delete(Resources.VirtualMachineInstances, vmi.Namespace(), vmi.Name());
        events.Normal(vm, "SuccessfulDelete", $"Stopped the virtual machine by deleting the virtual machine instance {vmi.Uid()}", Components.VirtController);
    }

    void SetFinalizer(JsonObject vm, bool present)
    {
        if (vm.Finalizers().Contains(Finalizers.VmController) == present)
        {
            return;
        }
        store.Update(Resources.VirtualMachines, vm.Namespace(), vm.Name(), v =>
        {
            if (v.Uid() != vm.Uid())
            {
                return null;
            }
            var finalizers = v.Finalizers().Where(f => f != Finalizers.VmController);
            v.SetFinalizers(present ? finalizers.Append(Finalizers.VmController) : finalizers);
            return v;
        }, UpdateMode.Full);
    }

    void WriteStatus(JsonObject vm, JsonObject? vmi, int trimmed, bool startExpected)
    {
        var strategy = RunStrategies.Of(vm);
        var printable = PrintableStatus(vm, vmi, strategy, startExpected);
        var seen = vm.Objects("status", "stateChangeRequests").Take(trimmed).Select(r => (JsonNode)r.Clone()).ToList();
        store.Update(Resources.VirtualMachines, vm.Namespace(), vm.Name(), v =>
        {
            if (v.Uid() != vm.Uid())
            {
                return null;
            }
            var status = v.Child("status");
            // Drop only the requests this pass acted on; a subresource may have queued new ones meanwhile.
            if (status["stateChangeRequests"] is JsonArray current && trimmed > 0 &&
                current.Count >= trimmed && current.Take(trimmed).Zip(seen).All(p => JsonNode.DeepEquals(p.First, p.Second)))
            {
                var rest = current.Skip(trimmed).Select(r => r?.DeepClone()).ToList();
                if (rest.Count == 0)
                {
                    status.Remove("stateChangeRequests");
                }
                else
                {
                    status["stateChangeRequests"] = Json.Array(rest);
                }
            }
            status["created"] = vmi is not null;
            status["ready"] = vmi is not null && vmi.Str("status", "phase") == "Running" && vmi.HasCondition("Ready", "True");
            status["printableStatus"] = printable;
            status["runStrategy"] = strategy;
            status["observedGeneration"] = v.Long("metadata", "generation") ?? 1;
            status["desiredGeneration"] = v.Long("metadata", "generation") ?? 1;
            SyncConditions(status, vmi);
            return v;
        }, UpdateMode.Full);
    }

    static void SyncConditions(JsonObject status, JsonObject? vmi)
    {
        var ready = vmi.Condition("Ready");
        if (vmi is null)
        {
            status.SetCondition("Ready", "False", "VMINotExists", "VMI does not exist");
        }
        else if (ready is null)
        {
            status.SetCondition("Ready", "False", "VMIConditionMissing", "VMI is missing the Ready condition");
        }
        else
        {
            status.SetCondition("Ready", ready.Str("status") ?? "Unknown", ready.Str("reason"), ready.Str("message"));
        }
        var copied = new HashSet<string>();
        foreach (var condition in vmi.Objects("status", "conditions"))
        {
            var type = condition.Str("type") ?? "";
            if (NotCopied.Contains(type))
            {
                continue;
            }
            copied.Add(type);
            status.SetCondition(type, condition.Str("status") ?? "Unknown", condition.Str("reason"), condition.Str("message"));
        }
        foreach (var condition in status.Objects("conditions").ToList())
        {
            var type = condition.Str("type") ?? "";
            if (!NotCopied.Contains(type) && !copied.Contains(type))
            {
                status.RemoveCondition(type);
            }
        }
    }

    // KubeVirt's setPrintableStatus: the first matching rule wins, Unknown when none does.
    string PrintableStatus(JsonObject vm, JsonObject? vmi, string strategy, bool startExpected)
    {
        var phase = vmi.Str("status", "phase") ?? "";
        var final = vmi is not null && VmiPhases.IsFinal(phase);
        var firstRequest = vm.Objects("status", "stateChangeRequests").FirstOrDefault()?.Str("action");
        var stopExpected = strategy == RunStrategies.Halted || firstRequest == "Stop";
        var paused = vmi.HasCondition("Paused", "True");
        var volumes = vm.Objects("spec", "template", "spec", "volumes").ToList();
        var dataVolumes = volumes.Select(v => v.Str("dataVolume", "name")).OfType<string>()
            .Select(n => store.Get(Resources.DataVolumes, vm.Namespace(), n)).OfType<JsonObject>().ToList();
        var setToStart = strategy is RunStrategies.Always or RunStrategies.RerunOnFailure or RunStrategies.Once || firstRequest == "Start";

        if (vm.IsDeleting())
        {
            return "Terminating";
        }
        if (vmi is not null && !final && (vmi.IsDeleting() || stopExpected))
        {
            return "Stopping";
        }
        if (vmi.Object("status", "migrationState") is { } migration && migration["startTimestamp"] is not null && migration["endTimestamp"] is null)
        {
            return "Migrating";
        }
        if (phase == "Running")
        {
            return paused ? "Paused" : "Running";
        }
        if (vmi.HasCondition("Synchronized", "False", "FailedPvcNotFound"))
        {
            return "ErrorPvcNotFound";
        }
        if (dataVolumes.Any(dv => DataVolumeError(dv) is not null))
        {
            return "DataVolumeError";
        }
        if (vmi.HasCondition("PodScheduled", "False", "Unschedulable"))
        {
            return "ErrorUnschedulable";
        }
        if (dataVolumes.Any(dv => dv.Str("status", "phase") is not ("Succeeded" or "PendingPopulation") &&
            (dv.HasCondition("Bound", "True") || dv.Str("status", "phase") != "WaitForFirstConsumer")))
        {
            return "Provisioning";
        }
        if (setToStart && UnboundClaim(vm.Namespace(), volumes))
        {
            return "WaitingForVolumeBinding";
        }
        if (vmi.HasCondition("Synchronized", "False", "ErrImagePull"))
        {
            return "ErrImagePull";
        }
        if (vmi.HasCondition("Synchronized", "False", "ImagePullBackOff"))
        {
            return "ImagePullBackOff";
        }
        if (vmi is null ? startExpected : phase is "" or "Pending" or "Scheduling" or "Scheduled")
        {
            return "Starting";
        }
        if ((vmi is null || final) && !startExpected && vm.Long("status", "startFailure", "consecutiveFailCount") > 0 &&
            strategy is RunStrategies.Always or RunStrategies.RerunOnFailure or RunStrategies.Once)
        {
            return "CrashLoopBackOff";
        }
        if (vmi is not null ? final : !startExpected)
        {
            return "Stopped";
        }
        if (strategy == RunStrategies.WaitAsReceiver)
        {
            return "WaitingForReceiver";
        }
        return "Unknown";
    }

    bool UnboundClaim(string ns, IEnumerable<JsonObject> volumes) =>
        volumes.Select(v => v.Str("dataVolume", "name") ?? v.Str("persistentVolumeClaim", "claimName")).OfType<string>()
            .Select(n => store.Get(Resources.Pvcs, ns, n))
            .Any(pvc => pvc is not null && pvc.Str("status", "phase") != "Bound");
}
