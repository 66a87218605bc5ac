using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace KubeVirt.Simulator.Controllers;

// virt-controller's VMI half plus virt-handler: launcher pod, scheduling, image pulls, boot, shutdown.
internal sealed class VirtualMachineInstanceController(Store store, SimulatorOptions options, EventRecorder events, Timers timers)
{
    readonly Scheduler scheduler = new(options);

    const string MigrationJobLabel = "kubevirt.io/migrationJobUID";

    public void Reconcile()
    {
        foreach (var vmi in store.List(Resources.VirtualMachineInstances, null).Items)
        {
            ControllerLoop.Safe(() => Sync(vmi));
        }
        foreach (var migration in store.List(Resources.Migrations, null).Items.Where(m => !m.IsDeleting()))
        {
            ControllerLoop.Safe(() => SyncMigration(migration));
        }
    }

    // The VMI's active launcher pod: the one on the VMI's node, else the first that is not a migration target.
    internal static JsonObject? ActivePod(JsonObject vmi, List<JsonObject> pods)
    {
        var owned = pods.Where(p => p.ControllerUid() == vmi.Uid()).ToList();
        var node = vmi.Str("status", "nodeName");
        return owned.FirstOrDefault(p => node is not null && p.Str("spec", "nodeName") == node && p.Str("status", "phase") is not ("Succeeded" or "Failed"))
            ?? owned.FirstOrDefault(p => p.At("metadata", "labels", MigrationJobLabel) is null)
            ?? owned.FirstOrDefault();
    }

    void Sync(JsonObject vmi)
    {
        var pods = store.List(Resources.Pods, null).Items;
        var pod = ActivePod(vmi, pods);
        var phase = vmi.Str("status", "phase") ?? "";
        // Every sync re-derives the Ready condition (Update does it), whatever else it changes.
        Update(vmi, _ => { });
        if (vmi.IsDeleting())
        {
            Delete(vmi, pod, phase);
            return;
        }
        if (VmiPhases.IsFinal(phase))
        {
            FinishPod(pod, phase);
            return;
        }
        switch (phase)
        {
            case "":
                Update(vmi, status => SetPhase(status, "Pending"));
                break;
            case "Pending":
                Pending(vmi);
                break;
            case "Scheduling":
                Scheduling(vmi, pod, pods);
                break;
            case "Scheduled":
                Scheduled(vmi, pod);
                break;
            case "Running":
                if (pod is null)
                {
                    Crash(vmi);
                }
                else
                {
                    Hotplug(vmi);
                }
                break;
        }
    }

    void Pending(JsonObject vmi)
    {
        var ns = vmi.Namespace();
        // Hotplug volumes do not hold the start back: they are attached once the VMI runs.
        foreach (var volume in vmi.Objects("spec", "volumes").Where(v => !HotplugVolumes.IsHotplug(v)))
        {
            var claim = HotplugVolumes.ClaimName(volume);
            if (claim is null)
            {
                continue;
            }
            var dv = store.Get(Resources.DataVolumes, ns, claim);
            if (dv is not null && dv.Str("status", "phase") != "Succeeded")
            {
                // virt-controller waits for DataVolumes before creating the launcher pod.
                Update(vmi, status => status.SetCondition("DataVolumesReady", "False", "NotAllDataVolumesReady", "Not all of the VMI's DVs are ready"));
                return;
            }
            if (dv is null && !store.Exists(Resources.Pvcs, ns, claim))
            {
                Update(vmi, status => status.SetCondition("Synchronized", "False", "FailedPvcNotFound", $"PVC {ns}/{claim} does not exist, waiting for it to appear"));
                return;
            }
        }

        var pod = LauncherPod(vmi);
        var created = store.Create(Resources.Pods, pod);
        events.Normal(vmi, "SuccessfulCreate", $"Created virtual machine pod {created.Name()}", Components.VirtController);
        Update(vmi, status =>
        {
            status.RemoveCondition("Synchronized");
            if (vmi.Objects("spec", "volumes").Any(v => v["dataVolume"] is not null))
            {
                status.SetCondition("DataVolumesReady", "True", "AllDVsReady", "All of the VMI's DVs are bound and ready");
            }
            status["guestOSInfo"] = new JsonObject();
            status["qosClass"] = "Burstable";
            status["activePods"] = new JsonObject { [created.Uid()] = "" };
            SetPhase(status, "Scheduling");
        });
    }

    void Scheduling(JsonObject vmi, JsonObject? pod, List<JsonObject> pods)
    {
        if (pod is null)
        {
            Update(vmi, status => SetPhase(status, "Failed"));
            return;
        }
        var nodeName = pod.Str("spec", "nodeName");
        if (nodeName is null)
        {
            var (node, message) = scheduler.Schedule(pod, pods);
            if (node is null)
            {
                if (vmi.HasCondition("PodScheduled", "False") && vmi.Condition("PodScheduled").Str("message") == message)
                {
                    return;
                }
                events.Warning(pod, "FailedScheduling", message, Components.Scheduler);
                store.Update(Resources.Pods, pod.Namespace(), pod.Name(), p =>
                {
                    p.Child("status").SetCondition("PodScheduled", "False", "Unschedulable", message);
                    return p;
                }, UpdateMode.Full);
                // virt-controller copies the pod's PodScheduled=False condition onto the VMI.
                Update(vmi, status => status.SetCondition("PodScheduled", "False", "Unschedulable", message));
                return;
            }
            nodeName = node.Name;
            var ip = scheduler.AllocatePodIp(node.Index, pods) ?? "";
            store.Bind(pod.Namespace(), pod.Name(), node.Name);
            pod = store.Update(Resources.Pods, pod.Namespace(), pod.Name(), p =>
            {
                var status = p.Child("status");
                status.SetCondition("PodScheduled", "True");
                status["hostIP"] = $"192.168.66.{101 + node.Index}";
                status["podIP"] = ip;
                status["podIPs"] = new JsonArray(new JsonObject { ["ip"] = ip });
                return p;
            }, UpdateMode.Full);
            events.Normal(pod, "Scheduled", $"Successfully assigned {pod.Namespace()}/{pod.Name()} to {node.Name}", Components.Scheduler);
            Update(vmi, status => status.RemoveCondition("PodScheduled"));
        }

        if (!PullImages(vmi, pod, nodeName))
        {
            return;
        }
        var host = nodeName;
        store.Update(Resources.Pods, pod.Namespace(), pod.Name(), p =>
        {
            var status = p.Child("status");
            status["phase"] = "Running";
            status["startTime"] ??= Json.Now();
            status.SetCondition("Ready", "True");
            status.SetCondition("ContainersReady", "True");
            status["containerStatuses"] = new JsonArray(new JsonObject
            {
                ["name"] = "compute",
                ["ready"] = true,
                ["started"] = true,
                ["restartCount"] = 0,
                ["image"] = "quay.io/kubevirt/virt-launcher:v1.5.0",
                ["state"] = new JsonObject { ["running"] = new JsonObject { ["startedAt"] = Json.Now() } },
            });
            return p;
        }, UpdateMode.Full);
        Update(vmi, status =>
        {
            status.RemoveCondition("Synchronized");
            status["nodeName"] = host;
            status["activePods"] = new JsonObject { [pod.Uid()] = host };
            status["launcherContainerImageVersion"] = "quay.io/kubevirt/virt-launcher:v1.5.0";
            SetPhase(status, "Scheduled");
        }, labels => labels["kubevirt.io/nodeName"] = host);
        timers.Forget(vmi.Uid(), "boot");
        timers.Start(vmi.Uid(), "boot");
        events.Normal(vmi, "Created", "VirtualMachineInstance defined.", Components.VirtHandler, host);
    }

    // Kubelet's image manager (pkg/kubelet/images/image_manager.go, EnsureImageExists) with its back-off
    // (pkg/kubelet/kubelet.go: imageBackOffPeriod 10 s, MaxImageBackOff 300 s, doubled by flowcontrol.Backoff): a failed
    // pull reports ErrImagePull (event Failed), and no pull is tried again until the back-off has run out, even once the
    // image would pull; meanwhile its next sync of the pod reports ImagePullBackOff (event BackOff), here half-way through
    // the back-off. The VMI mirrors the container's waiting reason as Synchronized=False (lifecycle.go
    // checkForContainerImageError). True once the images are there.
    bool PullImages(JsonObject vmi, JsonObject pod, string node)
    {
        var uid = pod.Uid();
        if (timers.Backoff(uid, "pull") is { } wait && !timers.Elapsed(uid, "pull", wait))
        {
            var image = pod.Objects("status", "containerStatuses").FirstOrDefault(c => c.Str("name") == "volumecontainerdisk").Str("image") ?? "";
            if (timers.Elapsed(uid, "pull", wait / 2) && !vmi.HasCondition("Synchronized", "False", "ImagePullBackOff"))
            {
                var message = $"Back-off pulling image \"{image}\"";
                events.Normal(pod, "BackOff", message, Components.Kubelet, node);
                WaitForImage(vmi, pod, image, "ImagePullBackOff", message);
            }
            return false;
        }
        var failing = ContainerDiskImages(vmi).FirstOrDefault(options.FailingImages.Contains);
        if (failing is null)
        {
            return true;
        }
        var backoff = options.ImagePullBackoff;
        timers.Fail(uid, "pull", backoff, backoff * 30);
        var error = $"rpc error: code = NotFound desc = failed to pull and unpack image \"{failing}\": failed to resolve reference \"{failing}\": {failing}: not found";
        events.Warning(pod, "Failed", $"Failed to pull image \"{failing}\": {error}", Components.Kubelet, node);
        WaitForImage(vmi, pod, failing, "ErrImagePull", error);
        return false;
    }

    void WaitForImage(JsonObject vmi, JsonObject pod, string image, string reason, string message)
    {
        store.Update(Resources.Pods, pod.Namespace(), pod.Name(), p =>
        {
            p.Child("status")["phase"] = "Pending";
            p.Child("status")["containerStatuses"] = new JsonArray(new JsonObject
            {
                ["name"] = "volumecontainerdisk",
                ["ready"] = false,
                ["restartCount"] = 0,
                ["image"] = image,
                ["state"] = new JsonObject { ["waiting"] = new JsonObject { ["reason"] = reason, ["message"] = message } },
            });
            return p;
        }, UpdateMode.Full);
        Update(vmi, status => status.SetCondition("Synchronized", "False", reason, message));
    }

    void Scheduled(JsonObject vmi, JsonObject? pod)
    {
        if (pod is null)
        {
            Crash(vmi);
            return;
        }
        if (!timers.Elapsed(vmi.Uid(), "boot", options.BootDelay))
        {
            return;
        }
        var node = vmi.Str("status", "nodeName") ?? "";
        var ip = pod.Str("status", "podIP") ?? "";
        var (cores, sockets, threads) = Topology(vmi);
        var guest = Quantity.Parse(vmi.At("spec", "domain", "memory", "guest"));
        var memory = Quantity.Binary(guest > 0 ? guest : MemoryBytes(vmi));
        var (migratable, why) = LiveMigratable(vmi, store);
        var image = BootImage(vmi);
        Update(vmi, status =>
        {
            status.SetCondition("LiveMigratable", migratable ? "True" : "False", migratable ? null : "DisksNotLiveMigratable", why);
            status.SetCondition("AgentConnected", "True");
            status["interfaces"] = Interfaces(vmi, ip);
            status["guestOSInfo"] = GuestOs(image);
            status["currentCPUTopology"] = new JsonObject { ["cores"] = cores, ["sockets"] = sockets, ["threads"] = threads };
            status["memory"] = new JsonObject { ["guestAtBoot"] = memory, ["guestCurrent"] = memory, ["guestRequested"] = memory };
            status["machine"] = new JsonObject { ["type"] = "pc-q35-rhel9.4.0" };
            status["migrationMethod"] = migratable ? "LiveMigration" : "BlockMigration";
            status["migrationTransport"] = "Unix";
            status["runtimeUser"] = 107;
            status["selinuxContext"] = "none";
            status["volumeStatus"] = VolumeHotplugController.BootStatuses(vmi, store);
            // startStrategy Paused: virt-launcher starts the domain paused (libvirt's reason: user), and virt-handler's
            // calculatePausedCondition reports it (pkg/virt-handler/vm.go).
            if (vmi.Str("spec", "startStrategy") == "Paused")
            {
                status.SetCondition("Paused", "True", "PausedByUser", "VMI was paused by user");
            }
            SetPhase(status, "Running");
        });
        events.Normal(vmi, "Started", "VirtualMachineInstance started.", Components.VirtHandler, node);
    }

    // The launcher pod vanished under a running VMI: virt-handler reports a crash.
    void Crash(JsonObject vmi)
    {
        Update(vmi, status => SetPhase(status, "Failed"));
        events.Warning(vmi, "Stopped", "The VirtualMachineInstance crashed.", Components.VirtHandler, vmi.Str("status", "nodeName"));
    }

    void Delete(JsonObject vmi, JsonObject? pod, string phase)
    {
        var node = vmi.Str("status", "nodeName");
        if (!VmiPhases.IsFinal(phase))
        {
            if (phase is "Running" or "Scheduled")
            {
                // virt-handler signals an ACPI shutdown and kills the domain once terminationGracePeriodSeconds
                // runs out; a grace period of 0 kills it at once.
                var grace = vmi.Long("spec", "terminationGracePeriodSeconds");
                var delay = grace is { } seconds && TimeSpan.FromSeconds(seconds) < options.StopDelay ? TimeSpan.FromSeconds(seconds) : options.StopDelay;
                if (timers.Start(vmi.Uid(), "shutdown"))
                {
                    if (grace == 0)
                    {
                        events.Normal(vmi, "Deleted", "Signaled Deletion", Components.VirtHandler, node);
                    }
                    else
                    {
                        events.Normal(vmi, "ShuttingDown", "Signaled Graceful Shutdown", Components.VirtHandler, node);
                    }
                }
                if (!timers.Elapsed(vmi.Uid(), "shutdown", delay))
                {
                    return;
                }
                Update(vmi, status => SetPhase(status, "Succeeded"));
                events.Normal(vmi, "Stopped", "The VirtualMachineInstance was shut down.", Components.VirtHandler, node);
            }
            else
            {
                Update(vmi, status => SetPhase(status, "Failed"));
            }
            return;
        }
        if (pod is not null)
        {
            store.Delete(Resources.Pods, pod.Namespace(), pod.Name());
            events.Normal(vmi, "SuccessfulDelete", $"Deleted virtual machine pod {pod.Name()}", Components.VirtController);
        }
        store.Update(Resources.VirtualMachineInstances, vmi.Namespace(), vmi.Name(), v =>
        {
            v.SetFinalizers(v.Finalizers().Where(f => f is not (Finalizers.VmiForeground or Finalizers.VmController)));
            return v;
        }, UpdateMode.Full);
    }


    // virt-controller's half of CPU/memory hotplug: once the VM controller has patched the VMI spec, flag the change
    // (HotVCPUChange / HotMemoryChange, memory.guestRequested) and let the workload updater migrate the VMI.
    void Hotplug(JsonObject vmi)
    {
        var wantSockets = vmi.Long("spec", "domain", "cpu", "sockets") ?? 1;
        var haveSockets = vmi.Long("status", "currentCPUTopology", "sockets") ?? wantSockets;
        var cpuChange = wantSockets != haveSockets;
        var guest = vmi.Str("spec", "domain", "memory", "guest");
        var requested = vmi.Str("status", "memory", "guestRequested");
        var memoryChange = guest is not null && requested is not null && Quantity.Parse(guest) != Quantity.Parse(requested);
        if ((cpuChange && !vmi.HasCondition("HotVCPUChange", "True")) || memoryChange)
        {
            vmi = Update(vmi, status =>
            {
                if (cpuChange)
                {
                    status.SetCondition("HotVCPUChange", "True");
                }
                if (memoryChange)
                {
                    status.Child("memory")["guestRequested"] = guest;
                    status.SetCondition("HotMemoryChange", "True");
                }
            });
        }
        var pending = vmi.HasCondition("HotVCPUChange", "True") || vmi.HasCondition("HotMemoryChange", "True");
        if (!pending || !vmi.HasCondition("LiveMigratable", "True") || IsMigrating(vmi) ||
            store.List(Resources.Migrations, vmi.Namespace()).Items.Any(m => m.Str("spec", "vmiName") == vmi.Name() && !IsFinished(m)))
        {
            return;
        }
        // The workload updater's migration.
        store.Create(Resources.Migrations, new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["generateName"] = "kubevirt-workload-update-",
                ["namespace"] = vmi.Namespace(),
                ["labels"] = new JsonObject { ["kubevirt.io/vmi-name"] = vmi.Name() },
                ["annotations"] = new JsonObject { ["kubevirt.io/workloadUpdateMigration"] = "" },
            },
            ["spec"] = new JsonObject { ["vmiName"] = vmi.Name() },
            ["status"] = new JsonObject { ["phase"] = "Pending", ["phaseTransitionTimestamps"] = new JsonArray(new JsonObject { ["phase"] = "Pending", ["phaseTransitionTimestamp"] = Json.Now() }) },
        });
    }

    static bool IsFinished(JsonObject migration) => migration.Str("status", "phase") is "Succeeded" or "Failed";

    static bool IsMigrating(JsonObject vmi) =>
        vmi.Object("status", "migrationState") is { } state && state["startTimestamp"] is not null && state["endTimestamp"] is null;

    // A live migration: a target launcher pod sized from the current VMI spec is scheduled away from the source
    // node (it waits, Unschedulable, while no node has room), the guest moves for HotplugDelay, and the target
    // takes over. Hotplug changes take effect then.
    void SyncMigration(JsonObject migration)
    {
        var phase = migration.Str("status", "phase") ?? "";
        if (IsFinished(migration))
        {
            return;
        }
        var vmi = store.Get(Resources.VirtualMachineInstances, migration.Namespace(), migration.Str("spec", "vmiName") ?? "");
        var pods = store.List(Resources.Pods, migration.Namespace()).Items;
        var target = pods.FirstOrDefault(p => p.Str("metadata", "labels", MigrationJobLabel) == migration.Uid());
        if (vmi is null || vmi.IsDeleting() || vmi.Str("status", "phase") != "Running" || !vmi.HasCondition("LiveMigratable", "True"))
        {
            if (target is not null && target.Str("spec", "nodeName") != vmi?.Str("status", "nodeName"))
            {
                store.Delete(Resources.Pods, target.Namespace(), target.Name());
            }
            if (vmi is not null && IsMigrating(vmi))
            {
                Update(vmi, status =>
                {
                    var state = status.Child("migrationState");
                    state["endTimestamp"] = Json.Now();
                    state["failed"] = true;
                });
            }
            SetMigrationPhase(migration, "Failed");
            return;
        }
        var source = ActivePod(vmi, pods);
        switch (phase)
        {
            case "" or "Pending":
                {
                    var pod = LauncherPod(vmi);
                    pod.Meta().Child("labels")[MigrationJobLabel] = migration.Uid();
                    var created = store.Create(Resources.Pods, pod);
                    events.Normal(migration, "SuccessfulCreate", $"Created migration target pod {migration.Namespace()}/{created.Name()} with uuid {created.Uid()} for migration {migration.Uid()}", Components.VirtController);
                    SetMigrationPhase(migration, "Scheduling", state => state["targetPod"] = created.Name());
                    break;
                }
            case "Scheduling":
                ScheduleTarget(migration, vmi, target, source, pods);
                break;
            case "Running":
                if (timers.Elapsed(migration.Uid(), "migrate", options.HotplugDelay) && target is not null)
                {
                    CompleteMigration(migration, vmi, target, source);
                }
                break;
        }
    }

    void ScheduleTarget(JsonObject migration, JsonObject vmi, JsonObject? target, JsonObject? source, List<JsonObject> pods)
    {
        if (target is null)
        {
            SetMigrationPhase(migration, "Failed");
            return;
        }
        var sourceNode = vmi.Str("status", "nodeName");
        var (node, message) = scheduler.Schedule(target, store.List(Resources.Pods, null).Items, sourceNode);
        if (node is null)
        {
            if (!target.HasCondition("PodScheduled", "False") || target.Condition("PodScheduled").Str("message") != message)
            {
                events.Warning(target, "FailedScheduling", message, Components.Scheduler);
                store.Update(Resources.Pods, target.Namespace(), target.Name(), p =>
                {
                    p.Child("status").SetCondition("PodScheduled", "False", "Unschedulable", message);
                    return p;
                }, UpdateMode.Full);
            }
            return;
        }
        var ip = scheduler.AllocatePodIp(node.Index, store.List(Resources.Pods, null).Items) ?? "";
        store.Bind(target.Namespace(), target.Name(), node.Name);
        target = store.Update(Resources.Pods, target.Namespace(), target.Name(), p =>
        {
            var status = p.Child("status");
            status.SetCondition("PodScheduled", "True");
            status.SetCondition("Ready", "True");
            status["phase"] = "Running";
            status["startTime"] = Json.Now();
            status["hostIP"] = $"192.168.66.{101 + node.Index}";
            status["podIP"] = ip;
            status["podIPs"] = new JsonArray(new JsonObject { ["ip"] = ip });
            return p;
        }, UpdateMode.Full);
        events.Normal(target, "Scheduled", $"Successfully assigned {target.Namespace()}/{target.Name()} to {node.Name}", Components.Scheduler);
        var now = Json.Now();
        Update(vmi, status =>
        {
            status["migrationState"] = new JsonObject
            {
                ["migrationUid"] = migration.Uid(),
                ["sourceNode"] = sourceNode,
                ["sourcePod"] = source?.Name(),
                ["targetNode"] = node.Name,
                ["targetPod"] = target.Name(),
                ["targetNodeAddress"] = $"192.168.66.{101 + node.Index}",
                ["mode"] = "PreCopy",
                ["startTimestamp"] = now,
            };
            status.Child("activePods")[target.Uid()] = node.Name;
        }, labels => labels["kubevirt.io/migrationTargetNodeName"] = node.Name);
        timers.Forget(migration.Uid(), "migrate");
        timers.Start(migration.Uid(), "migrate");
        events.Normal(vmi, "PreparingTarget", "VirtualMachineInstance Migration Target Prepared.", Components.VirtHandler, node.Name);
        events.Normal(vmi, "Migrating", "VirtualMachineInstance is migrating.", Components.VirtHandler, sourceNode);
        SetMigrationPhase(migration, "Running", state =>
        {
            state["sourceNode"] = sourceNode;
            state["targetNode"] = node.Name;
            state["startTimestamp"] = now;
        });
    }

    void CompleteMigration(JsonObject migration, JsonObject vmi, JsonObject target, JsonObject? source)
    {
        var node = target.Str("spec", "nodeName") ?? "";
        var ip = target.Str("status", "podIP") ?? "";
        var (cores, sockets, threads) = Topology(vmi);
        var now = Json.Now();
        Update(vmi, status =>
        {
            var state = status.Child("migrationState");
            state["endTimestamp"] = now;
            state["completed"] = true;
            status["nodeName"] = node;
            status["activePods"] = new JsonObject { [target.Uid()] = node };
            status["interfaces"] = Interfaces(vmi, ip);
            // virt-handler syncs the guest to the spec once the target domain runs.
            status["currentCPUTopology"] = new JsonObject { ["cores"] = cores, ["sockets"] = sockets, ["threads"] = threads };
            if (status.Object("memory") is { } memory && memory["guestRequested"] is not null)
            {
                memory["guestCurrent"] = memory["guestRequested"]!.DeepClone();
            }
            status.RemoveCondition("HotVCPUChange");
            status.RemoveCondition("HotMemoryChange");
        }, labels =>
        {
            labels["kubevirt.io/nodeName"] = node;
            labels.Remove("kubevirt.io/migrationTargetNodeName");
        });
        if (source is not null && source.Uid() != target.Uid())
        {
            FinishPod(source, "Succeeded");
        }
        events.Normal(vmi, "Migrated", $"The VirtualMachineInstance migrated to node {node}.", Components.VirtHandler, node);
        SetMigrationPhase(migration, "Succeeded", state =>
        {
            state["endTimestamp"] = now;
            state["completed"] = true;
        });
    }

    void SetMigrationPhase(JsonObject migration, string phase, Action<JsonObject>? changeState = null) =>
        store.Update(Resources.Migrations, migration.Namespace(), migration.Name(), m =>
        {
            if (m.Uid() != migration.Uid())
            {
                return null;
            }
            var status = m.Child("status");
            SetPhase(status, phase);
            changeState?.Invoke(status.Child("migrationState"));
            return m;
        }, UpdateMode.Full);

    void FinishPod(JsonObject? pod, string phase)
    {
        if (pod is null || pod.Str("status", "phase") == phase)
        {
            return;
        }
        store.Update(Resources.Pods, pod.Namespace(), pod.Name(), p =>
        {
            p.Child("status")["phase"] = phase;
            p.Child("status").SetCondition("Ready", "False", "PodCompleted");
            return p;
        }, UpdateMode.Full);
    }

    // Like virt-controller's updateStatus, every write also re-derives the Ready condition from the launcher pod.
    JsonObject Update(JsonObject vmi, Action<JsonObject> changeStatus, Action<JsonObject>? changeLabels = null) =>
        store.Update(Resources.VirtualMachineInstances, vmi.Namespace(), vmi.Name(), v =>
        {
            if (v.Uid() != vmi.Uid())
            {
                return null;
            }
            changeStatus(v.Child("status"));
            if (changeLabels is not null)
            {
                changeLabels(v.Meta().Child("labels"));
            }
            SyncReady(v, ActivePod(v, store.List(Resources.Pods, null).Items));
            return v;
        }, UpdateMode.Full);

    // lifecycle.go syncReadyConditionFromPod, first match wins. virt-controller deletes the launcher pod as soon as the
    // VMI is deleted; here the pod stays while virt-launcher shuts the guest down, so a deleted VMI counts as its pod
    // going down (controller.IsPodDownOrGoingDown).
    static void SyncReady(JsonObject vmi, JsonObject? pod)
    {
        var status = vmi.Child("status");
        if (pod is null)
        {
            status.SetCondition("Ready", "False", "PodNotExists", "virt-launcher pod has not yet been scheduled");
        }
        else if (vmi.IsDeleting() || pod.IsDeleting() || pod.Str("status", "phase") is "Succeeded" or "Failed")
        {
            status.SetCondition("Ready", "False", "PodTerminating", "virt-launcher pod is terminating");
        }
        else if (status.Str("phase") != "Running")
        {
            status.SetCondition("Ready", "False", "GuestNotRunning", "Guest VM is not reported as running");
        }
        else if (pod.Condition("Ready") is { } ready)
        {
            status.SetCondition("Ready", ready.Str("status") ?? "Unknown", ready.Str("reason"), ready.Str("message"));
        }
        else
        {
            status.SetCondition("Ready", "False", "PodConditionMissing", "virt-launcher pod is missing the Ready condition");
        }
    }

    static void SetPhase(JsonObject status, string phase)
    {
        if (status.Str("phase") == phase)
        {
            return;
        }
        status["phase"] = phase;
        if (status["phaseTransitionTimestamps"] is not JsonArray transitions)
        {
            transitions = [];
            status["phaseTransitionTimestamps"] = transitions;
        }
        transitions.Add(new JsonObject { ["phase"] = phase, ["phaseTransitionTimestamp"] = Json.Now() });
    }

    // virt-launcher-<vmi>-xxxxx, owned by the VMI, requesting the VMI's vCPUs and memory.
    JsonObject LauncherPod(JsonObject vmi)
    {
        var labels = vmi.Object("metadata", "labels")?.Clone() ?? [];
        labels["kubevirt.io"] = "virt-launcher";
        labels["kubevirt.io/created-by"] = vmi.Uid();
        labels["vm.kubevirt.io/name"] = vmi.Name();
        var (cores, sockets, threads) = Topology(vmi);
        var requests = new JsonObject
        {
            ["cpu"] = (cores * sockets * threads).ToString(CultureInfo.InvariantCulture),
            ["memory"] = Quantity.Mi(MemoryBytes(vmi)),
        };
        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject
            {
                ["generateName"] = $"virt-launcher-{vmi.Name()}-",
                ["namespace"] = vmi.Namespace(),
                ["labels"] = labels,
                ["annotations"] = new JsonObject { ["kubevirt.io/domain"] = vmi.Name() },
                ["ownerReferences"] = new JsonArray(Json.OwnerReference(vmi)),
            },
            ["spec"] = new JsonObject
            {
                ["containers"] = new JsonArray(new JsonObject
                {
                    ["name"] = "compute",
                    ["image"] = "quay.io/kubevirt/virt-launcher:v1.5.0",
                    ["resources"] = new JsonObject { ["requests"] = requests, ["limits"] = new JsonObject() },
                }),
                // The claims the guest boots with; hotplug volumes come through attachment pods.
                ["volumes"] = Json.Array(vmi.Objects("spec", "volumes")
                    .Where(v => !HotplugVolumes.IsHotplug(v) && HotplugVolumes.ClaimName(v) is not null)
                    .Select(v => (JsonNode)new JsonObject
                    {
                        ["name"] = v.Str("name"),
                        ["persistentVolumeClaim"] = new JsonObject { ["claimName"] = HotplugVolumes.ClaimName(v) },
                    })),
                ["restartPolicy"] = "Never",
                ["schedulerName"] = "default-scheduler",
                // virt-controller's launcher pods mount no ServiceAccount token.
                ["automountServiceAccountToken"] = false,
                ["hostname"] = vmi.Name().Split('.')[0],
            },
            ["status"] = new JsonObject { ["phase"] = "Pending", ["qosClass"] = "Burstable" },
        };
    }

    internal static (int Cores, int Sockets, int Threads) Topology(JsonObject vmi)
    {
        var cpu = vmi.Object("spec", "domain", "cpu");
        return ((int)(cpu.Long("cores") ?? 1), (int)(cpu.Long("sockets") ?? 1), (int)(cpu.Long("threads") ?? 1));
    }

    // The pod requests resources.requests.memory when given, else the guest memory.
    internal static decimal MemoryBytes(JsonObject vmi)
    {
        var requested = Quantity.Parse(vmi.At("spec", "domain", "resources", "requests", "memory"));
        return requested > 0 ? requested : Quantity.Parse(vmi.At("spec", "domain", "memory", "guest"));
    }

    static IEnumerable<string> ContainerDiskImages(JsonObject vmi) =>
        vmi.Objects("spec", "volumes").Select(v => v.Str("containerDisk", "image")).OfType<string>();

    // The image the guest boots from: a containerDisk, or the registry source of the DataVolume behind a disk.
    string BootImage(JsonObject vmi)
    {
        foreach (var volume in vmi.Objects("spec", "volumes"))
        {
            if (volume.Str("containerDisk", "image") is { } image)
            {
                return image;
            }
            if (volume.Str("dataVolume", "name") is { } dv && store.Get(Resources.DataVolumes, vmi.Namespace(), dv).Str("spec", "source", "registry", "url") is { } url)
            {
                return url.Replace("docker://", "", StringComparison.Ordinal);
            }
        }
        return "";
    }

    // Shared (ReadWriteMany) claims can be live-migrated; anything else makes the VMI BlockMigration-only.
    internal static (bool Migratable, string? Message) LiveMigratable(JsonObject vmi, Store store)
    {
        foreach (var volume in vmi.Objects("spec", "volumes"))
        {
            var claim = HotplugVolumes.ClaimName(volume);
            if (claim is null)
            {
                continue;
            }
            var pvc = store.Get(Resources.Pvcs, vmi.Namespace(), claim);
            var modes = pvc.At("spec", "accessModes") as JsonArray;
            if (modes is not null && !modes.Any(m => m?.GetValue<string>() == "ReadWriteMany"))
            {
                return (false, $"cannot migrate VMI: PVC {claim} is not shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)");
            }
        }
        return (true, null);
    }

    static JsonArray Interfaces(JsonObject vmi, string ip)
    {
        var networks = vmi.Objects("spec", "networks").ToList();
        if (networks.Count == 0)
        {
            networks = [new JsonObject { ["name"] = "default", ["pod"] = new JsonObject() }];
        }
        var result = new JsonArray();
        var index = 0;
        foreach (var network in networks)
        {
            var name = network.Str("name") ?? "default";
            var entry = new JsonObject
            {
                ["name"] = name,
                ["interfaceName"] = $"enp{index + 1}s0",
                ["mac"] = Mac(vmi.Uid() + name),
                ["infoSource"] = network["pod"] is not null ? "domain, guest-agent" : "domain, guest-agent, multus-status",
                ["queueCount"] = 1,
                ["linkState"] = "up",
                ["podInterfaceName"] = network["pod"] is not null ? "eth0" : $"pod{index}",
            };
            if (network["pod"] is not null && ip.Length > 0)
            {
                entry["ipAddress"] = ip;
                entry["ipAddresses"] = new JsonArray(ip);
            }
            result.Add(entry);
            index++;
        }
        return result;
    }

    // A stable, locally administered MAC derived from the VMI uid.
    static string Mac(string seed)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(seed));
        return "02:" + string.Join(':', hash.Take(5).Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
    }

    // What the guest agent would report for the well-known containerdisks images.
    static JsonObject GuestOs(string image)
    {
        var repo = image.Split('/')[^1];
        var tag = repo.Contains(':', StringComparison.Ordinal) ? repo[(repo.IndexOf(':', StringComparison.Ordinal) + 1)..] : "latest";
        var (id, name) = repo.Split(':')[0] switch
        {
            "ubuntu" => ("ubuntu", "Ubuntu"),
            "fedora" => ("fedora", "Fedora Linux"),
            "debian" => ("debian", "Debian GNU/Linux"),
            "centos-stream" => ("centos", "CentOS Stream"),
            "almalinux" => ("almalinux", "AlmaLinux"),
            "opensuse-leap" or "opensuse-tumbleweed" => ("opensuse", "openSUSE"),
            _ => ("linux", "Linux"),
        };
        return new JsonObject
        {
            ["id"] = id,
            ["name"] = name,
            ["prettyName"] = $"{name} {tag}",
            ["version"] = tag,
            ["versionId"] = tag,
            ["kernelRelease"] = "6.8.0-simulated",
            ["kernelVersion"] = "#1 SMP PREEMPT_DYNAMIC",
            ["machine"] = "x86_64",
        };
    }
}
