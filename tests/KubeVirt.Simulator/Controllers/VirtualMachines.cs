using System.Globalization;
using System.Text.Json.Nodes;

namespace KubeVirt.Simulator.Controllers;

// virt-controller's VM half: finalizer, DataVolumes from templates, run strategies, state change requests,
// volume hotplug requests, deletion, and status (conditions + printableStatus by KubeVirt's ordered rules).
internal sealed class VirtualMachineController(Store store, SimulatorOptions options, EventRecorder events)
{
    static readonly string[] NotCopied = ["Ready", "Failure", "RestartRequired"];

    // DataVolumes already reported as failed, so the warning is recorded once per failure, not once per pass.
    readonly HashSet<string> failedImports = [];

    // The template each VMI was started from, by VMI uid (KubeVirt keeps it in a ControllerRevision).
    readonly Dictionary<string, JsonObject> startTemplates = [];

    const string GenerationAnnotation = "kubevirt.io/vm-generation";

    public void Reconcile()
    {
        failedImports.IntersectWith(store.List(Resources.DataVolumes, null).Items.Select(d => d.Uid()));
        var vmis = store.List(Resources.VirtualMachineInstances, null).Items.Select(v => v.Uid()).ToHashSet();
        foreach (var uid in startTemplates.Keys.Where(u => !vmis.Contains(u)).ToList())
        {
            startTemplates.Remove(uid);
        }
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
        vmi = BumpGeneration(vm, vmi);

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
        var started = false;
        var stopped = false;

        if (pending is not null)
        {
            if (pending.Str("action") == "Stop" && vmi is not null && !vmi.IsDeleting())
            {
                StopVmi(vm, vmi);
                stopped = true;
            }
            else if (pending.Str("action") == "Start")
            {
                if (vmi is null && strategy == RunStrategies.Halted)
                {
                    // vm.go's Halted case: a start request (virt-api's paused start) makes the VM Always (or running: true);
                    // the next pass starts the VMI, paused as the request says.
                    startExpected = true;
                    store.Update(Resources.VirtualMachines, ns, name, v =>
                    {
                        RunStrategies.SetRunning(v, running: true);
                        return v;
                    }, UpdateMode.Main);
                }
                else if (vmi is null)
                {
                    startExpected = true;
                    if (volumesReady)
                    {
                        StartVmi(vm, pending.Str("data", "paused") == "true");
                        started = true;
                    }
                }
                else if (final && !vmi.IsDeleting())
                {
                    StopVmi(vm, vmi);
                    stopped = true;
                }
            }
        }
        else
        {
            switch (strategy)
            {
                case RunStrategies.Always or RunStrategies.RerunOnFailure when vmi is null && BackingOff(vm):
                    break;
                case RunStrategies.Always or RunStrategies.RerunOnFailure or RunStrategies.Once when vmi is null:
                    startExpected = true;
                    if (volumesReady)
                    {
                        StartVmi(vm, paused: false);
                        started = true;
                    }
                    break;
                case RunStrategies.Always when final && !vmi!.IsDeleting():
                case RunStrategies.RerunOnFailure when final && vmi!.Str("status", "phase") == "Failed" && !vmi.IsDeleting():
                case RunStrategies.Halted when vmi is not null && !vmi.IsDeleting():
                    StopVmi(vm, vmi!);
                    stopped = true;
                    break;
            }
        }
        // A VMI created or deleted in this pass is not seen yet (virt-controller's expectations): volumes wait a pass.
        var volumes = started || stopped ? default : HandleVolumeRequests(vm, vmi);
        vm = volumes.Vm ?? vm;
        if (!started && !stopped)
        {
            SyncDeclarativeVolumes(vm, vmi);
        }
        var update = vmi is not null && !vmi.IsDeleting() && !final && !stopped && pending is null && volumes.Failure is null
            ? LiveUpdate(vm, vmi, volumes.Seen)
            : default;
        if (volumes.Failure is not null)
        {
            update = update with { FailureReason = "HotPlugVolumeError", FailureMessage = volumes.Failure };
        }
        WriteStatus(vm, vmi, trimmed, startExpected, started, update, volumes.Done);
    }

    // What a pass did with status.volumeRequests: the VM as updated, the requests its template now reflects (WriteStatus
    // drops them), whether there were any, and a sync error for the Failure condition.
    internal readonly record struct VolumeRequestResult(JsonObject? Vm, List<JsonObject>? Done, bool Seen, string? Failure);

    bool DeclarativeOnly => options.FeatureGates.Contains(HotplugVolumes.DeclarativeGate) && !options.FeatureGates.Contains(HotplugVolumes.Gate);

    // vm.go handleVolumeRequests: every queued request is applied to the template and, through virt-api's VMI
    // addvolume/removevolume, to a running VMI. While the VMI exists but is not running, that call fails and nothing moves.
    VolumeRequestResult HandleVolumeRequests(JsonObject vm, JsonObject? vmi)
    {
        var requests = vm.Objects("status", "volumeRequests").ToList();
        if (requests.Count == 0 || vm.IsDeleting())
        {
            return default;
        }
        const string Prefix = "Error encountered while handling volume hotplug requests: ";
        if (vmi is not null && !vmi.IsDeleting())
        {
            if (vmi.Str("status", "phase") != "Running")
            {
                return new(null, null, true, $"{Prefix}Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io \"{vmi.Name()}\": VMI is not running");
            }
            var present = HotplugVolumes.Volumes(vmi.Object("spec")).Select(v => v.Str("name")).ToHashSet();
            var forVmi = requests.Where(r => present.Contains(HotplugVolumes.RequestName(r)) == (r[HotplugVolumes.Remove] is not null)).ToList();
            if (PatchVmiVolumes(vmi, forVmi) is { } error)
            {
                return new(null, null, true, Prefix + error);
            }
        }
        var updated = store.Update(Resources.VirtualMachines, vm.Namespace(), vm.Name(), v =>
        {
            if (v.Uid() != vm.Uid())
            {
                return null;
            }
            var spec = v.Child("spec").Child("template").Child("spec");
            foreach (var request in requests)
            {
                HotplugVolumes.Apply(spec, request);
            }
            return v;
        }, UpdateMode.Full);
        var template = updated.Object("spec", "template", "spec");
        return new(updated, requests.Where(r => HotplugVolumes.Reflects(template, r)).ToList(), true, null);
    }

    // DeclarativeHotplugVolumes without HotplugVolumes: a running VMI follows the hotplug volumes of the template.
    void SyncDeclarativeVolumes(JsonObject vm, JsonObject? vmi)
    {
        if (!DeclarativeOnly || vmi is null || vmi.IsDeleting() || vmi.Str("status", "phase") != "Running")
        {
            return;
        }
        var template = vm.Object("spec", "template", "spec");
        var wanted = HotplugVolumes.Volumes(template).Where(HotplugVolumes.IsHotplug).ToList();
        var have = HotplugVolumes.Volumes(vmi.Object("spec")).Where(HotplugVolumes.IsHotplug).ToList();
        var requests = new List<JsonObject>();
        foreach (var volume in wanted.Where(w => have.All(h => h.Str("name") != w.Str("name"))))
        {
            var source = volume.Clone();
            source.Remove("name");
            var add = new JsonObject { ["name"] = volume.Str("name"), ["volumeSource"] = source };
            if (HotplugVolumes.Disks(template).FirstOrDefault(d => d.Str("name") == volume.Str("name")) is { } disk)
            {
                add["disk"] = disk.Clone();
            }
            requests.Add(new JsonObject { [HotplugVolumes.Add] = add });
        }
        foreach (var volume in have.Where(h => wanted.All(w => w.Str("name") != h.Str("name"))))
        {
            requests.Add(new JsonObject { [HotplugVolumes.Remove] = new JsonObject { ["name"] = volume.Str("name") } });
        }
        PatchVmiVolumes(vmi, requests);
    }

    // The VMI half of a request, as virt-api's VMI addvolume/removevolume would do it; returns its refusal, if any.
    string? PatchVmiVolumes(JsonObject vmi, List<JsonObject> requests)
    {
        if (requests.Count == 0)
        {
            return null;
        }
        string? error = null;
        store.Update(Resources.VirtualMachineInstances, vmi.Namespace(), vmi.Name(), v =>
        {
            if (v.Uid() != vmi.Uid())
            {
                return null;
            }
            var spec = v.Child("spec");
            foreach (var request in requests)
            {
                if (HotplugVolumes.Verify(spec, request) is { } refused)
                {
                    error = $"Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io \"{v.Name()}\": {refused}";
                    return null;
                }
                HotplugVolumes.Apply(spec, request);
            }
            return v;
        }, UpdateMode.Full);
        return error;
    }

    // What one pass decided about a running VMI: a RestartRequired message and/or a sync error for the Failure condition.
    internal readonly record struct LiveUpdateResult(string? RestartRequired, string? FailureReason, string? FailureMessage);

    // The LiveUpdate rollout strategy (vm.go addRestartRequiredIfNeeded, handleCPUChangeRequest, handleMemoryHotplugRequest):
    // CPU sockets and guest memory propagate to the running VMI within its maxima; everything else needs a restart,
    // and once a restart is required nothing more propagates.
    LiveUpdateResult LiveUpdate(JsonObject vm, JsonObject vmi, bool volumeRequests)
    {
        var template = vm.Object("spec", "template", "spec") ?? [];
        string? restartRequired = null;
        var startSpec = startTemplates.GetValueOrDefault(vmi.Uid())?.Object("spec");
        if (startSpec is not null && NonLiveChange(startSpec, template))
        {
            restartRequired = "a non-live-updatable field was changed in the template spec";
        }
        if (restartRequired is not null || vm.Condition("RestartRequired") is not null || vmi.Str("status", "phase") != "Running")
        {
            return new(restartRequired, null, null);
        }

        // handleVolumeUpdateRequest with the Replacement strategy: hotplug volumes written into the template by hand
        // (not through addvolume/removevolume) reach the VMI only under DeclarativeHotplugVolumes; otherwise a restart.
        var templateVolumes = HotplugVolumes.Volumes(template);
        var ephemeral = HotplugVolumes.Volumes(vmi.Object("spec")).Any(v => HotplugVolumes.IsHotplug(v) && templateVolumes.All(t => t.Str("name") != v.Str("name")));
        if (startSpec is not null && !volumeRequests && !DeclarativeOnly && !ephemeral && !HotplugVolumes.SameJson(vmi.At("spec", "volumes"), template["volumes"]))
        {
            return new("the volumes replacement is effective only after restart", null, null);
        }

        var migrating = vmi.Object("status", "migrationState") is { } state && state["startTimestamp"] is not null && state["endTimestamp"] is null;
        if (template.Object("domain", "cpu") is { } cpu && vmi.Object("spec", "domain", "cpu") is { } vmiCpu &&
            (cpu.Long("sockets") ?? 1) != (vmiCpu.Long("sockets") ?? 1))
        {
            var want = cpu.Long("sockets") ?? 1;
            var have = vmiCpu.Long("sockets") ?? 1;
            if (vmi.HasCondition("HotVCPUChange", "True"))
            {
                return new(null, "HotPlugCPUError", "Error encountered while handling CPU change request: another CPU hotplug is in progress");
            }
            if (migrating)
            {
                return new(null, "HotPlugCPUError", "Error encountered while handling CPU change request: CPU hotplug is not allowed while VMI is migrating");
            }
            if (want > (vmiCpu.Long("maxSockets") ?? have))
            {
                restartRequired = "CPU sockets updated in template spec to a value higher than what's available";
            }
            else if (want < have)
            {
                restartRequired = "Reduction of CPU socket count requires a restart";
            }
            else
            {
                PatchVmiCpu(vm, vmi, want - have);
            }
        }

        var guest = template.Str("domain", "memory", "guest");
        var vmiGuest = vmi.Str("spec", "domain", "memory", "guest");
        if (guest is not null && vmiGuest is not null && vmi.Str("status", "memory", "guestCurrent") is { } current)
        {
            var want = Quantity.Parse(guest);
            if (vmi.HasCondition("HotMemoryChange", "False"))
            {
                return new("memory updated in template spec. Memory-hotplug failed and is not available for this VM configuration", null, null);
            }
            if (want == Quantity.Parse(vmiGuest))
            {
                return new(restartRequired, null, null);
            }
            if (!vmi.HasCondition("LiveMigratable", "True"))
            {
                return new("memory updated in template spec. Memory-hotplug is only available for migratable VMs", null, null);
            }
            var maxGuest = vmi.Str("spec", "domain", "memory", "maxGuest");
            if (maxGuest is null)
            {
                return new("memory updated in template spec. Memory-hotplug is not available for this VM configuration", null, null);
            }
            if (vmi.HasCondition("HotMemoryChange", "True"))
            {
                return new(restartRequired, "HotPlugMemoryError", "error encountered while handling memory hotplug requests: another memory hotplug is in progress");
            }
            if (migrating)
            {
                return new(restartRequired, "HotPlugMemoryError", "error encountered while handling memory hotplug requests: memory hotplug is not allowed while VMI is migrating");
            }
            if (want < Quantity.Parse(vmi.Str("status", "memory", "guestAtBoot")))
            {
                return new("memory updated in template spec to a value lower than what the VM started with", null, null);
            }
            if (want > Quantity.Parse(maxGuest))
            {
                return new("memory updated in template spec to a value higher than what's available", null, null);
            }
            PatchVmiMemory(vmi, guest, want - Quantity.Parse(current));
        }
        return new(restartRequired, null, null);
    }

    // Compares the spec the VMI started from with the template, after copying over the live-updatable fields.
    static bool NonLiveChange(JsonObject startSpec, JsonObject template)
    {
        var lastSeen = startSpec.Clone();
        var currentSpec = template.Clone();
        if (lastSeen.Object("domain", "cpu") is { } cpu && currentSpec.Object("domain", "cpu") is { } currentCpu)
        {
            cpu["sockets"] = currentCpu["sockets"]?.DeepClone();
        }
        if (currentSpec.At("domain", "memory", "guest") is { } guest)
        {
            lastSeen.Child("domain").Child("memory")["guest"] = guest.DeepClone();
        }
        foreach (var field in new[] { "nodeSelector", "affinity", "tolerations" })
        {
            lastSeen[field] = currentSpec[field]?.DeepClone();
        }
        // Hotplug volumes and their disks may come and go.
        var liveDisks = HotplugVolumes.LiveDisks(lastSeen, currentSpec);
        if (HotplugVolumes.LiveVolumes(lastSeen, currentSpec))
        {
            lastSeen["volumes"] = currentSpec["volumes"]?.DeepClone();
        }
        if (liveDisks)
        {
            lastSeen.Child("domain").Child("devices")["disks"] = currentSpec.At("domain", "devices", "disks")?.DeepClone();
        }
        return !HotplugVolumes.SameJson(lastSeen, currentSpec);
    }

    // VMICPUsPatch: the sockets, plus CPU requests/limits by the vCPU delta when the template sets them.
    void PatchVmiCpu(JsonObject vm, JsonObject vmi, long socketDelta)
    {
        var template = vm.Object("spec", "template", "spec", "domain");
        store.Update(Resources.VirtualMachineInstances, vmi.Namespace(), vmi.Name(), v =>
        {
            if (v.Uid() != vmi.Uid())
            {
                return null;
            }
            var cpu = v.Child("spec").Child("domain").Child("cpu");
            var perSocket = (cpu.Long("cores") ?? 1) * (cpu.Long("threads") ?? 1);
            cpu["sockets"] = (cpu.Long("sockets") ?? 1) + socketDelta;
            foreach (var kind in new[] { "requests", "limits" })
            {
                if (template.At("resources", kind, "cpu") is not null && v.At("spec", "domain", "resources", kind, "cpu") is { } old)
                {
                    var value = Quantity.Parse(old) + socketDelta * perSocket;
                    v.Child("spec").Child("domain").Child("resources").Child(kind)["cpu"] = value.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
            }
            return v;
        }, UpdateMode.Full);
    }

    // handleMemoryHotplugRequest: the guest memory, plus the memory request by the delta (never below the guest).
    void PatchVmiMemory(JsonObject vmi, string guest, decimal delta) =>
        store.Update(Resources.VirtualMachineInstances, vmi.Namespace(), vmi.Name(), v =>
        {
            if (v.Uid() != vmi.Uid())
            {
                return null;
            }
            var domain = v.Child("spec").Child("domain");
            domain.Child("memory")["guest"] = guest;
            if (domain.At("resources", "requests", "memory") is { } request)
            {
                domain.Child("resources").Child("requests")["memory"] = Quantity.Binary(Math.Max(Quantity.Parse(request) + delta, Quantity.Parse(guest)));
            }
            return v;
        }, UpdateMode.Full);

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
                // vm.go handleDataVolumes warns only about a DataVolume in phase Failed; an importer that CDI
                // keeps retrying (Running=False, ImagePullFailed) shows as DataVolumeError but is not a failure yet.
                if (dv.Str("status", "phase") != "Failed")
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
        // vm.go setGenerationAnnotationOnVmi: the VM generation the VMI runs, the source of status.observedGeneration.
        metadata.Child("annotations")[GenerationAnnotation] = (vm.Long("metadata", "generation") ?? 1).ToString(CultureInfo.InvariantCulture);
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
        Admission.MutateNewInstance(vmi);
        var created = store.Create(Resources.VirtualMachineInstances, vmi);
        startTemplates[created.Uid()] = template?.Clone() ?? [];
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

    void WriteStatus(JsonObject vm, JsonObject? vmi, int trimmed, bool startExpected, bool started = false, LiveUpdateResult update = default,
        List<JsonObject>? doneVolumeRequests = null)
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
            // Likewise for volume requests: only those the template reflects go.
            if (doneVolumeRequests is { Count: > 0 } && status["volumeRequests"] is JsonArray queued)
            {
                var rest = queued.OfType<JsonObject>().ToList();
                foreach (var done in doneVolumeRequests)
                {
                    rest.Remove(rest.FirstOrDefault(r => JsonNode.DeepEquals(r, done))!);
                }
                if (rest.Count == 0)
                {
                    status.Remove("volumeRequests");
                }
                else
                {
                    status["volumeRequests"] = Json.Array(rest.Select(r => (JsonNode)r.Clone()));
                }
            }
            status["created"] = vmi is not null;
            // vm.go updateStatus: ready is the VMI's Ready condition, which goes False as soon as a stop begins.
            status["ready"] = vmi.HasCondition("Ready", "True");
            status["printableStatus"] = printable;
            status["runStrategy"] = strategy;
            // vm.go syncGenerationInfo: only while a VMI exists, observed = the generation it runs.
            if (long.TryParse(vmi.Str("metadata", "annotations", GenerationAnnotation), CultureInfo.InvariantCulture, out var observed))
            {
                status["observedGeneration"] = observed;
                status["desiredGeneration"] = v.Long("metadata", "generation") ?? 1;
            }
            SyncStartFailure(status, vmi, strategy);
            SyncConditions(status, vmi);
            // A new VMI runs the current template: cleanupRestartRequired.
            if (started)
            {
                status.RemoveCondition("RestartRequired");
            }
            else if (update.RestartRequired is not null)
            {
                status.SetCondition("RestartRequired", "True", null, update.RestartRequired);
            }
            if (update.FailureReason is not null)
            {
                status.SetCondition("Failure", "True", update.FailureReason, update.FailureMessage);
            }
            else
            {
                status.RemoveCondition("Failure");
            }
            return v;
        }, UpdateMode.Full);
    }

    // vm.go conditionallyBumpGenerationAnnotationOnVmi: a VMI whose start template is still the VM's template has seen the
    // VM's current generation (a run strategy change, say). Any template change, live-updated or awaiting a restart,
    // holds it, and with it status.observedGeneration, until a new VMI starts.
    JsonObject? BumpGeneration(JsonObject vm, JsonObject? vmi)
    {
        var generation = (vm.Long("metadata", "generation") ?? 1).ToString(CultureInfo.InvariantCulture);
        if (vmi is null || vmi.IsDeleting() || vmi.Str("metadata", "annotations", GenerationAnnotation) == generation ||
            !startTemplates.TryGetValue(vmi.Uid(), out var started) || !HotplugVolumes.SameJson(started, vm.Object("spec", "template")))
        {
            return vmi;
        }
        return store.Update(Resources.VirtualMachineInstances, vmi.Namespace(), vmi.Name(), v =>
        {
            if (v.Uid() != vmi.Uid())
            {
                return null;
            }
            v.Meta().Child("annotations")[GenerationAnnotation] = generation;
            return v;
        }, UpdateMode.Full);
    }

    // vm.go startFailureBackoffTimeLeft: Always and RerunOnFailure hold the next start until retryAfterTimestamp.
    static bool BackingOff(JsonObject vm) =>
        Json.Time(vm.Str("status", "startFailure", "retryAfterTimestamp")) is { } retryAfter && retryAfter > DateTime.UtcNow;

    // vm.go syncStartFailureStatus: a VMI that ends (Failed or Succeeded) without ever running counts once (by uid) as a
    // start failure and sets the back-off of calculateStartBackoffTime; a VMI that reached Running, or a run strategy that
    // does not restart on its own, clears it.
    void SyncStartFailure(JsonObject status, JsonObject? vmi, string strategy)
    {
        var ran = vmi.Objects("status", "phaseTransitionTimestamps").Any(t => t.Str("phase") == "Running");
        if (ran || strategy is not (RunStrategies.Always or RunStrategies.RerunOnFailure or RunStrategies.Once))
        {
            status.Remove("startFailure");
            return;
        }
        if (vmi is null || !VmiPhases.IsFinal(vmi.Str("status", "phase") ?? "") || status.Str("startFailure", "lastFailedVMIUID") == vmi.Uid())
        {
            return;
        }
        var count = (status.Long("startFailure", "consecutiveFailCount") ?? 0) + 1;
        var retryAfter = DateTime.UtcNow + StartBackoff(count, options.StartFailureBackoff);
        status["startFailure"] = new JsonObject
        {
            ["consecutiveFailCount"] = count,
            ["lastFailedVMIUID"] = vmi.Uid(),
            // A timestamp has whole seconds: round up so the wait is never shorter than the back-off.
            ["retryAfterTimestamp"] = Json.Time(new DateTime((retryAfter.Ticks + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond, DateTimeKind.Utc)),
        };
    }

    // vm.go calculateStartBackoffTime with defaultMaxCrashLoopBackoffDelaySeconds 300: interval (max/30, at least 10 s)
    // × failures², plus a random share of up to half of that to spread VMs out, capped at the maximum (30 intervals).
    static TimeSpan StartBackoff(long failures, TimeSpan interval)
    {
        var delay = interval * (failures * failures);
        delay += delay * (Random.Shared.NextDouble() / 2);
        return delay < interval * 30 ? delay : interval * 30;
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
