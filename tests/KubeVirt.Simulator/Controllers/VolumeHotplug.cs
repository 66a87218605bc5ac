using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace KubeVirt.Simulator.Controllers;

// Hotplug volumes of running VMIs as virt-controller (pkg/virt-controller/watch/vmi hotplug.go, volume status) and
// virt-handler (pkg/virt-handler/vm.go) drive them. One hp-volume-xxxxx attachment pod, owned by the launcher pod and
// bound to its node, mounts every ready hotplug claim; a new set of ready claims gets a new pod and the old one goes.
// A volume's status moves Bound → AttachedToNode → MountedToPod → Ready (target sdX) and, once removed from the spec,
// UnMountedFromPod → Detaching → gone. Every PVC-backed volume also reports persistentVolumeClaimInfo.
internal sealed class VolumeHotplugController(Store store, SimulatorOptions options, EventRecorder events, Timers timers)
{
    const string AttachmentLabel = "hotplug-disk";
    const string AttachDetach = "attachdetach-controller";
    const string LauncherImage = "quay.io/kubevirt/virt-launcher:v1.5.0";

    public void Reconcile()
    {
        foreach (var vmi in store.List(Resources.VirtualMachineInstances, null).Items.Where(v => !v.IsDeleting() && v.Str("status", "phase") == "Running"))
        {
            ControllerLoop.Safe(() => Sync(vmi));
        }
    }

    void Sync(JsonObject vmi)
    {
        var ns = vmi.Namespace();
        var pods = store.List(Resources.Pods, ns).Items;
        var launcher = VirtualMachineInstanceController.ActivePod(vmi, pods);
        if (launcher?.Str("spec", "nodeName") is not { } node || launcher.Str("status", "phase") != "Running")
        {
            return;
        }
        DeleteOrphanedAttachmentPods(vmi, launcher, pods);
        var attachmentPods = pods.Where(p => p.ControllerUid() == launcher.Uid()).ToList();
        var specVolumes = HotplugVolumes.Volumes(vmi.Object("spec"));
        var ready = specVolumes.Where(v => HotplugVolumes.IsHotplug(v) && ClaimReady(ns, HotplugVolumes.ClaimName(v)))
            .Select(v => v.Str("name") ?? "").ToHashSet();

        var current = attachmentPods.FirstOrDefault(p => PodVolumes(p).SetEquals(ready));
        if (current is null && ready.Count > 0)
        {
            current = CreateAttachmentPod(vmi, launcher, node, specVolumes.Where(v => ready.Contains(v.Str("name") ?? "")), pods);
        }
        else if (current is not null && current.Str("status", "phase") == "Pending")
        {
            current = RetryAttach(current, node, pods);
        }

        var old = vmi.Objects("status", "volumeStatus").ToDictionary(s => s.Str("name") ?? "", s => s.Clone());
        // cleanupAttachmentPods: an old pod goes once none of the removed volumes it holds is still mounted, except
        // that a running old pod stays while the new one cannot run yet.
        var keep = current is not null && current.Str("status", "phase") != "Running"
            ? attachmentPods.FirstOrDefault(p => p.Uid() != current.Uid() && p.Str("status", "phase") == "Running")
            : null;
        var deleted = new HashSet<string>();
        foreach (var pod in attachmentPods.Where(p => p.Uid() != current?.Uid() && p.Uid() != keep?.Uid()))
        {
            var mounted = PodVolumes(pod).Any(v => specVolumes.All(s => s.Str("name") != v) &&
                old.GetValueOrDefault(v).Str("phase") is "Ready" or "MountedToPod");
            if (!mounted)
            {
                store.Delete(Resources.Pods, ns, pod.Name());
                events.Normal(vmi, "SuccessfulDelete", $"Deleted attachment pod {pod.Name()}", Components.VirtController);
                deleted.Add(pod.Name());
            }
        }

        var targets = old.Values.Select(s => s.Str("target")).Where(t => !string.IsNullOrEmpty(t)).OfType<string>().ToHashSet();
        var statuses = new List<JsonObject>();
        foreach (var volume in specVolumes)
        {
            var name = volume.Str("name") ?? "";
            // target is a plain string in KubeVirt's API (required; "" until the disk has one).
            var status = old.GetValueOrDefault(name) ?? new JsonObject { ["name"] = name, ["target"] = "" };
            if (HotplugVolumes.IsHotplug(volume))
            {
                Attach(vmi, node, volume, status, ready.Contains(name) ? current : null, targets);
            }
            if (HotplugVolumes.ClaimName(volume) is { } claim && store.Get(Resources.Pvcs, ns, claim) is { } pvc)
            {
                status["persistentVolumeClaimInfo"] = ClaimInfo(pvc);
            }
            statuses.Add(status);
        }
        foreach (var (name, status) in old.Where(kv => specVolumes.All(v => v.Str("name") != kv.Key) && kv.Value["hotplugVolume"] is not null))
        {
            var pod = attachmentPods.FirstOrDefault(p => PodVolumes(p).Contains(name));
            if (pod is null)
            {
                events.Normal(vmi, "VolumeUnplugged", $"Volume {name} has been unplugged", Components.VirtHandler, node);
                continue;
            }
            Detach(vmi, node, status, pod, deleted.Contains(pod.Name()));
            statuses.Add(status);
        }

        // virt-handler re-evaluates migratability as claims come and go.
        var (migratable, why) = VirtualMachineInstanceController.LiveMigratable(vmi, store);
        var migratabilityChanged = !vmi.HasCondition("LiveMigratable", migratable ? "True" : "False") || vmi.Condition("LiveMigratable").Str("message") != why;
        Update(vmi, status =>
        {
            status["volumeStatus"] = Json.Array(statuses.OrderBy(s => s.Str("name"), StringComparer.Ordinal).Select(Canonical));
            if (migratabilityChanged)
            {
                status.SetCondition("LiveMigratable", migratable ? "True" : "False", migratable ? null : "DisksNotLiveMigratable", why);
                status["migrationMethod"] = migratable ? "LiveMigration" : "BlockMigration";
            }
        });
    }

    // processHotplugVolumeStatus, then virt-handler's mount and domain attach once the attachment pod runs.
    void Attach(JsonObject vmi, string node, JsonObject volume, JsonObject status, JsonObject? pod, HashSet<string> targets)
    {
        var name = status.Str("name") ?? "";
        var hotplug = status.Child("hotplugVolume");
        var phase = status.Str("phase") ?? "";
        if (pod is null)
        {
            if (phase != "Ready")
            {
                hotplug.Remove("attachPodUID");
                SetPhase(status, ClaimPhase(vmi.Namespace(), HotplugVolumes.ClaimName(volume) ?? ""));
                timers.Forget(vmi.Uid(), "attach:" + name);
            }
            return;
        }
        hotplug["attachPodName"] = pod.Name();
        var podReady = pod.Str("status", "phase") == "Running";
        if (podReady)
        {
            hotplug["attachPodUID"] = pod.Uid();
        }
        else
        {
            hotplug.Remove("attachPodUID");
        }
        if (phase is "" or "Pending" or "Bound" or "Detaching")
        {
            var message = $"Created hotplug attachment pod {pod.Name()}, for volume {name}";
            SetPhase(status, ("AttachedToNode", "SuccessfulCreate", message));
            events.Normal(vmi, "SuccessfulCreate", message, Components.VirtController);
            timers.Forget(vmi.Uid(), "attach:" + name);
            return;
        }
        if (phase == "AttachedToNode" && podReady && Elapsed(vmi, "attach:" + name))
        {
            Handler(vmi, node, status, ("MountedToPod", "VolumeMountedToPod", $"Volume {name} has been mounted in virt-launcher pod"));
        }
        else if (phase == "MountedToPod")
        {
            status["target"] = NextTarget(vmi, name, targets);
            Handler(vmi, node, status, ("Ready", "VolumeReady", $"Successfully attach hotplugged volume {name} to VM"));
            timers.Forget(vmi.Uid(), "attach:" + name);
        }
    }

    // The other way round for a volume gone from the spec: virt-handler unmounts it, virt-controller deletes the pod.
    void Detach(JsonObject vmi, string node, JsonObject status, JsonObject pod, bool podDeleted)
    {
        var name = status.Str("name") ?? "";
        if (podDeleted)
        {
            var message = $"Deleted hotplug attachment pod {pod.Name()}, for volume {name}";
            SetPhase(status, ("Detaching", "SuccessfulDelete", message));
            events.Normal(vmi, "SuccessfulDelete", message, Components.VirtController);
            return;
        }
        if (status.Str("phase") is "Ready" or "MountedToPod")
        {
            if (Elapsed(vmi, "detach:" + name))
            {
                status["target"] = "";
                Handler(vmi, node, status, ("UnMountedFromPod", "VolumeUnMountedFromPod", $"Volume {name} has been unmounted from virt-launcher pod"));
                timers.Forget(vmi.Uid(), "detach:" + name);
            }
            return;
        }
        if (status.Str("phase") != "Detaching")
        {
            status["phase"] = "Detaching";
        }
    }

    bool Elapsed(JsonObject vmi, string what)
    {
        timers.Start(vmi.Uid(), what);
        return timers.Elapsed(vmi.Uid(), what, options.AttachDelay);
    }

    // virt-handler reports each phase change as an event carrying the status's reason and message.
    void Handler(JsonObject vmi, string node, JsonObject status, (string Phase, string Reason, string Message) next)
    {
        SetPhase(status, next);
        events.Normal(vmi, next.Reason, next.Message, Components.VirtHandler, node);
    }

    static void SetPhase(JsonObject status, (string Phase, string Reason, string Message) next)
    {
        status["phase"] = next.Phase;
        status["reason"] = next.Reason;
        status["message"] = next.Message;
    }

    // getVolumePhaseMessageReason: what the claim alone says about a volume no attachment pod holds yet.
    (string Phase, string Reason, string Message) ClaimPhase(string ns, string claim) =>
        store.Get(Resources.Pvcs, ns, claim)?.Str("status", "phase") switch
        {
            null => ("Pending", "FailedPvcNotFound", $"PVC {claim} not found"),
            "Pending" => ("Pending", "PVCNotReady", "PVC is in phase ClaimPending"),
            "Bound" => ("Bound", "PVCNotReady", "PVC is in phase Bound"),
            _ => ("Pending", "PVCNotReady", "PVC is in phase Lost"),
        };

    // A claim can be attached once bound and, when CDI fills it, once its DataVolume has succeeded.
    bool ClaimReady(string ns, string? claim)
    {
        if (claim is null || store.Get(Resources.Pvcs, ns, claim) is not { } pvc || pvc.Str("status", "phase") != "Bound")
        {
            return false;
        }
        return store.Get(Resources.DataVolumes, ns, claim) is not { } dv || dv.Str("status", "phase") == "Succeeded";
    }

    static HashSet<string> PodVolumes(JsonObject pod) =>
        pod.Objects("spec", "volumes").Select(v => v.Str("name") ?? "").ToHashSet();

    JsonObject CreateAttachmentPod(JsonObject vmi, JsonObject launcher, string node, IEnumerable<JsonObject> volumes, List<JsonObject> pods)
    {
        var podVolumes = volumes.Select(v => (JsonNode)new JsonObject
        {
            ["name"] = v.Str("name"),
            ["persistentVolumeClaim"] = new JsonObject { ["claimName"] = HotplugVolumes.ClaimName(v) },
        });
        var pod = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject
            {
                ["generateName"] = "hp-volume-",
                ["namespace"] = vmi.Namespace(),
                ["labels"] = new JsonObject { ["kubevirt.io"] = AttachmentLabel },
                ["ownerReferences"] = new JsonArray(Json.OwnerReference(launcher)),
            },
            ["spec"] = new JsonObject
            {
                // As KubeVirt's pods: no ServiceAccount token volume (the API server would add one).
                ["automountServiceAccountToken"] = false,
                ["nodeName"] = node,
                ["containers"] = new JsonArray(new JsonObject
                {
                    ["name"] = AttachmentLabel,
                    ["image"] = LauncherImage,
                    ["command"] = new JsonArray("/bin/sh", "-c", "/usr/bin/container-disk --copy-path /path/hp"),
                    ["resources"] = new JsonObject
                    {
                        ["requests"] = new JsonObject { ["cpu"] = "10m", ["memory"] = "2M" },
                        ["limits"] = new JsonObject { ["cpu"] = "100m", ["memory"] = "80M" },
                    },
                }),
                ["volumes"] = Json.Array(podVolumes),
            },
        };
        var blocked = MultiAttachError(pod, node, pods);
        SetPodStatus(pod, blocked is null);
        var created = store.Create(Resources.Pods, pod);
        events.Normal(vmi, "SuccessfulCreate", $"Created attachment pod {created.Name()}", Components.VirtController);
        events.Normal(created, "Scheduled", $"Successfully assigned {created.Namespace()}/{created.Name()} to {node}", Components.Scheduler);
        if (blocked is not null)
        {
            events.Warning(created, "FailedAttachVolume", blocked, AttachDetach);
        }
        return created;
    }

    // A pod held back by a Multi-Attach error starts once the other node lets go of the claim.
    JsonObject RetryAttach(JsonObject pod, string node, List<JsonObject> pods)
    {
        if (MultiAttachError(pod, node, pods) is not null)
        {
            return pod;
        }
        return store.Update(Resources.Pods, pod.Namespace(), pod.Name(), p =>
        {
            SetPodStatus(p, running: true);
            return p;
        }, UpdateMode.Full);
    }

    static void SetPodStatus(JsonObject pod, bool running)
    {
        var state = running
            ? new JsonObject { ["running"] = new JsonObject { ["startedAt"] = Json.Now() } }
            : new JsonObject { ["waiting"] = new JsonObject { ["reason"] = "ContainerCreating" } };
        var status = pod.Child("status");
        status["phase"] = running ? "Running" : "Pending";
        status.SetCondition("PodScheduled", "True");
        status.SetCondition("Ready", running ? "True" : "False", running ? null : "ContainersNotReady");
        status["containerStatuses"] = new JsonArray(new JsonObject
        {
            ["name"] = AttachmentLabel,
            ["ready"] = running,
            ["started"] = running,
            ["restartCount"] = 0,
            ["image"] = LauncherImage,
            ["state"] = state,
        });
    }

    // The attach/detach controller attaches a ReadWriteOnce volume to one node at a time: another node's running pod
    // that mounts the claim keeps it, and the newcomer gets "Multi-Attach error ...".
    string? MultiAttachError(JsonObject pod, string node, List<JsonObject> pods)
    {
        foreach (var claim in pod.Objects("spec", "volumes").Select(v => v.Str("persistentVolumeClaim", "claimName")).OfType<string>())
        {
            var pvc = store.Get(Resources.Pvcs, pod.Namespace(), claim);
            var modes = pvc.At("spec", "accessModes") as JsonArray;
            if (pvc is null || modes is null || modes.Any(m => m?.ToString() is "ReadWriteMany" or "ReadOnlyMany"))
            {
                continue;
            }
            var users = pods.Where(p => p.Uid() != pod.Uid() && p.Str("spec", "nodeName") is { } other && other != node &&
                    p.Str("status", "phase") is not ("Succeeded" or "Failed") &&
                    p.Objects("spec", "volumes").Any(v => v.Str("persistentVolumeClaim", "claimName") == claim))
                .Select(p => p.Name()).ToList();
            if (users.Count > 0)
            {
                var volume = pvc.Str("spec", "volumeName") ?? "pvc-" + pvc.Uid();
                return $"Multi-Attach error for volume \"{volume}\" Volume is already used by pod(s) {string.Join(", ", users)}";
            }
        }
        return null;
    }

    // deleteOrphanedAttachmentPods: attachment pods of this VMI's launcher pods that are down (e.g. a migration source).
    void DeleteOrphanedAttachmentPods(JsonObject vmi, JsonObject launcher, List<JsonObject> pods)
    {
        var down = pods.Where(p => p.ControllerUid() == vmi.Uid() && p.Uid() != launcher.Uid() && p.Str("status", "phase") is "Succeeded" or "Failed")
            .Select(p => p.Uid()).ToHashSet();
        foreach (var pod in pods.Where(p => p.ControllerUid() is { } owner && down.Contains(owner)))
        {
            store.Delete(Resources.Pods, pod.Namespace(), pod.Name());
            events.Normal(vmi, "SuccessfulDelete", $"Deleted attachment pod {pod.Name()}", Components.VirtController);
        }
    }

    // The first free sdX (or vdX for a virtio disk) among the VMI's targets.
    static string NextTarget(JsonObject vmi, string name, HashSet<string> used)
    {
        var bus = HotplugVolumes.Disks(vmi.Object("spec")).FirstOrDefault(d => d.Str("name") == name).Str("disk", "bus");
        var prefix = bus == "virtio" ? "vd" : "sd";
        var target = Enumerable.Range(0, 26).Select(i => prefix + (char)('a' + i)).First(t => !used.Contains(t));
        used.Add(target);
        return target;
    }

    JsonObject Update(JsonObject vmi, Action<JsonObject> change) =>
        store.Update(Resources.VirtualMachineInstances, vmi.Namespace(), vmi.Name(), v =>
        {
            if (v.Uid() != vmi.Uid() || v.IsDeleting() || v.Str("status", "phase") != "Running")
            {
                return null;
            }
            change(v.Child("status"));
            return v;
        }, UpdateMode.Full);

    // The statuses of a VMI that just booted: its disks' targets (vdX for virtio, sdX otherwise, in disk order),
    // claim details and container disk checksums. Hotplug volumes are left to the attachment flow above.
    internal static JsonArray BootStatuses(JsonObject vmi, Store store)
    {
        var spec = vmi.Object("spec");
        var volumes = HotplugVolumes.Volumes(spec).Where(v => !HotplugVolumes.IsHotplug(v)).ToDictionary(v => v.Str("name") ?? "");
        var counts = new Dictionary<string, int>();
        var targets = new Dictionary<string, string>();
        foreach (var disk in HotplugVolumes.Disks(spec).Where(d => volumes.ContainsKey(d.Str("name") ?? "")))
        {
            var prefix = (disk.Str("disk", "bus") ?? disk.Str("cdrom", "bus") ?? disk.Str("lun", "bus") ?? (disk["disk"] is not null ? "virtio" : "sata")) == "virtio" ? "vd" : "sd";
            var index = counts.GetValueOrDefault(prefix);
            counts[prefix] = index + 1;
            targets[disk.Str("name") ?? ""] = prefix + (char)('a' + index);
        }
        var statuses = new List<JsonObject>();
        foreach (var (name, volume) in volumes.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var status = new JsonObject { ["name"] = name, ["target"] = targets.GetValueOrDefault(name, "") };
            if (HotplugVolumes.ClaimName(volume) is { } claim && store.Get(Resources.Pvcs, vmi.Namespace(), claim) is { } pvc)
            {
                status["persistentVolumeClaimInfo"] = ClaimInfo(pvc);
            }
            if (volume.Str("containerDisk", "image") is { } image)
            {
                status["containerDiskVolume"] = new JsonObject { ["checksum"] = BitConverter.ToUInt32(SHA256.HashData(Encoding.UTF8.GetBytes(image))) };
            }
            statuses.Add(status);
        }
        return Json.Array(statuses);
    }

    static JsonObject ClaimInfo(JsonObject pvc)
    {
        var info = new JsonObject { ["claimName"] = pvc.Name() };
        if (pvc.At("spec", "accessModes") is { } modes)
        {
            info["accessModes"] = modes.DeepClone();
        }
        var mode = pvc.Str("spec", "volumeMode");
        if (mode is not null)
        {
            info["volumeMode"] = mode;
        }
        if (pvc.At("status", "capacity") is { } capacity)
        {
            info["capacity"] = capacity.DeepClone();
        }
        if (pvc.At("spec", "resources", "requests") is { } requests)
        {
            info["requests"] = requests.DeepClone();
        }
        // CDI's default filesystem overhead; block volumes have none.
        info["filesystemOverhead"] = mode == "Block" ? "0" : "0.055";
        return info;
    }

    // VolumeStatus's field order, so a status reads the same however it was built.
    static readonly string[] FieldOrder = ["name", "target", "phase", "reason", "message", "persistentVolumeClaimInfo", "hotplugVolume", "containerDiskVolume"];

    static JsonNode Canonical(JsonObject status) =>
        new JsonObject(status.OrderBy(kv => Array.IndexOf(FieldOrder, kv.Key) is var i and >= 0 ? i : FieldOrder.Length)
            .Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone())));
}
