using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace KubeVirt.Simulator;

internal delegate Task SubresourceHandler(HttpContext context, string ns, string name);

// virt-api's subresources.kubevirt.io endpoints. Handlers are looked up by (resource, action), so adding
// a websocket (console) is one more entry in the table.
internal sealed class Subresources
{
    const string VmResource = "virtualmachine.kubevirt.io";
    const string VmiResource = "virtualmachineinstance.kubevirt.io";

    readonly Store store;
    readonly SimulatorOptions options;
    readonly Dictionary<(string Resource, string Action), SubresourceHandler> handlers;

    // stopping: the host is shutting down, so long-lived websockets close instead of holding it up.
    public Subresources(Store store, SimulatorOptions options, CancellationToken stopping)
    {
        this.store = store;
        this.options = options;
        var vnc = new Vnc(store, stopping);
        handlers = new()
        {
            [("virtualmachines", "start")] = Start,
            [("virtualmachines", "stop")] = Stop,
            [("virtualmachines", "restart")] = Restart,
            [("virtualmachineinstances", "vnc")] = vnc.Connect,
            [("virtualmachineinstances", "vnc/screenshot")] = vnc.Screenshot,
            [("virtualmachines", "addvolume")] = (c, ns, n) => VolumeRequest(c, ns, n, add: true, ephemeral: false),
            [("virtualmachines", "removevolume")] = (c, ns, n) => VolumeRequest(c, ns, n, add: false, ephemeral: false),
            [("virtualmachineinstances", "addvolume")] = (c, ns, n) => VolumeRequest(c, ns, n, add: true, ephemeral: true),
            [("virtualmachineinstances", "removevolume")] = (c, ns, n) => VolumeRequest(c, ns, n, add: false, ephemeral: true),
        };
    }

    // What virt-api serves, with the verb RBAC rules name for it (a websocket or a read is "get", the rest "update").
    public IEnumerable<(string Resource, string Action, string Verb)> Served =>
        handlers.Keys.Select(k => (k.Resource, k.Action, k.Action.StartsWith("vnc", StringComparison.Ordinal) ? "get" : "update"));

    public async Task Handle(HttpContext context, string ns, string resource, string name, string action)
    {
        if (!handlers.TryGetValue((resource, action), out var handler))
        {
            throw new ApiException(404, "NotFound", "the server could not find the requested resource", new JsonObject());
        }
        await handler(context, ns, name);
    }

    static async Task Accepted(HttpContext context)
    {
        context.Response.StatusCode = 202;
        await context.Response.CompleteAsync();
    }

    // StartOptions, StopOptions, RestartOptions and the volume options carry metav1's dryRun list; virt-api passes it on to
    // its patches, so every check runs (and refuses the same way) but nothing is written.
    static bool IsDryRun(JsonNode? body) => body?["dryRun"] is JsonArray { Count: > 0 } dry && dry[0]?.ToString() == "All";

    static void RequirePut(HttpContext context)
    {
        if (context.Request.Method != "PUT")
        {
            throw Errors.MethodNotAllowed();
        }
    }

    // virt-api reads the VM and its VMI from the API server, not from an informer's cache.
    JsonObject GetVm(string ns, string name) =>
        store.Live(Resources.VirtualMachines, ns, name) ?? throw Errors.NotFound(VmResource, name);

    JsonObject? GetVmi(string ns, string name) => store.Live(Resources.VirtualMachineInstances, ns, name);

    async Task Start(HttpContext context, string ns, string name)
    {
        RequirePut(context);
        var body = await Rest.ReadJson(context, allowEmpty: true);
        var vm = GetVm(ns, name);
        var vmi = GetVmi(ns, name);
        var phase = vmi.Str("status", "phase") ?? "";
        if (vmi is not null && !VmiPhases.IsFinal(phase) && phase is not ("" or "Unknown"))
        {
            throw Errors.Conflict(VmResource, name, "VM is already running");
        }
        var paused = body.Bool("paused") == true;
        var dryRun = IsDryRun(body);
        var data = paused ? new JsonObject { ["paused"] = "true" } : null;
        var strategy = RunStrategies.Of(vm);
        switch (strategy)
        {
            // A paused start of a Halted VM is a request the VM controller answers by setting runStrategy Always.
            case RunStrategies.Halted when paused:
                AddStateChange(ns, name, vm, dryRun, StateChange("Start", null, data));
                break;
            case RunStrategies.Halted:
                SetRunning(ns, name, vm, running: true, dryRun);
                break;
            case RunStrategies.Manual or RunStrategies.RerunOnFailure:
                if (strategy == RunStrategies.RerunOnFailure && phase == "Failed")
                {
                    throw Errors.Conflict(VmResource, name, "RerunOnFailure does not support starting VM from failed state");
                }
                var restart = vmi is not null && (strategy == RunStrategies.Manual ? VmiPhases.IsFinal(phase) : phase == "Succeeded");
                if (restart)
                {
                    AddStateChange(ns, name, vm, dryRun, StateChange("Stop", vmi!.Uid(), null), StateChange("Start", null, data));
                }
                else
                {
                    AddStateChange(ns, name, vm, dryRun, StateChange("Start", null, data));
                }
                break;
            // lifecycle.go's StartVMRequestHandler has no case for WaitAsReceiver: it answers 202 and changes nothing.
            case RunStrategies.WaitAsReceiver:
                break;
            default:
                throw Errors.Conflict(VmResource, name, $"{strategy} does not support manual start requests");
        }
        await Accepted(context);
    }

    async Task Stop(HttpContext context, string ns, string name)
    {
        RequirePut(context);
        var body = await Rest.ReadJson(context, allowEmpty: true);
        var vm = GetVm(ns, name);
        var vmi = GetVmi(ns, name);
        var running = vmi is not null && !VmiPhases.IsFinal(vmi.Str("status", "phase") ?? "");
        var gracePeriod = body.Long("gracePeriod");
        var dryRun = IsDryRun(body);
        long? oldGrace = vmi.Long("spec", "terminationGracePeriodSeconds");
        if (running && gracePeriod is not null && !dryRun)
        {
            store.Update(Resources.VirtualMachineInstances, ns, name, v =>
            {
                v.Child("spec")["terminationGracePeriodSeconds"] = gracePeriod;
                return v;
            }, UpdateMode.Main);
        }
        switch (RunStrategies.Of(vm))
        {
            case RunStrategies.Halted:
                if (!running)
                {
                    throw Errors.Conflict(VmResource, name, "VM is not running");
                }
                if (gracePeriod is null || (oldGrace is not null && gracePeriod >= oldGrace))
                {
                    throw Errors.Conflict(VmResource, name, "Halted only supports manual stop requests with a shorter graceperiod");
                }
                ReplaceStateChanges(ns, name, vm, dryRun, StateChange("Stop", vmi!.Uid(), null));
                break;
            case RunStrategies.Manual or RunStrategies.RerunOnFailure:
                if (!running)
                {
                    throw Errors.Conflict(VmResource, name, "VM is not running");
                }
                ReplaceStateChanges(ns, name, vm, dryRun, StateChange("Stop", vmi!.Uid(), null));
                break;
            default:
                SetRunning(ns, name, vm, running: false, dryRun);
                break;
        }
        await Accepted(context);
    }

    async Task Restart(HttpContext context, string ns, string name)
    {
        RequirePut(context);
        var body = await Rest.ReadJson(context, allowEmpty: true);
        var grace = body.Long("gracePeriodSeconds");
        if (grace > 0)
        {
            throw Errors.BadRequest("For force restart, only gracePeriod=0 is supported for now");
        }
        if (grace < 0)
        {
            throw Errors.BadRequest("gracePeriod has to be greater or equal to 0");
        }
        var vm = GetVm(ns, name);
        var strategy = RunStrategies.Of(vm);
        if (strategy is RunStrategies.Halted or RunStrategies.Once)
        {
            // "RunStategy" is spelled this way in virt-api.
            throw Errors.Conflict(VmResource, name, $"RunStategy {strategy} does not support manual restart requests");
        }
        var vmi = GetVmi(ns, name) ?? throw Errors.Conflict(VmResource, name, "VM is not running: Halted");
        var dryRun = IsDryRun(body);
        if (grace == 0 && !dryRun)
        {
            store.Update(Resources.VirtualMachineInstances, ns, name, v =>
            {
                v.Child("spec")["terminationGracePeriodSeconds"] = 1;
                return v;
            }, UpdateMode.Main);
        }
        AddStateChange(ns, name, vm, dryRun, StateChange("Stop", vmi.Uid(), null), StateChange("Start", null, null));
        await Accepted(context);
    }

    // virt-api's addvolume/removevolume (pkg/virt-api/rest/volumes.go). On a VM, the HotplugVolumes gate queues the
    // request in status.volumeRequests for the VM controller; with only DeclarativeHotplugVolumes it edits the template.
    // On a VMI it patches the VMI spec at once ("ephemeral" hotplug, which that gate refuses for a VM's VMI).
    async Task VolumeRequest(HttpContext context, string ns, string name, bool add, bool ephemeral)
    {
        RequirePut(context);
        var imperative = options.FeatureGates.Contains(HotplugVolumes.Gate);
        if (!imperative && !options.FeatureGates.Contains(HotplugVolumes.DeclarativeGate))
        {
            throw Errors.BadRequest("Enable DeclarativeHotplugVolumes or HotplugVolumes feature gate to use this API.");
        }
        var kind = add ? "AddVolumeOptions" : "RemoveVolumeOptions";
        // Go's http server never hands virt-api a nil body, so an empty one decodes to empty options.
        var body = await ReadOptions(context, kind);
        if (string.IsNullOrEmpty(body.Str("name")))
        {
            throw Errors.BadRequest($"{kind} requires name to be set");
        }
        if (add)
        {
            if (body.Object("disk") is not { } disk)
            {
                throw Errors.BadRequest("AddVolumeOptions requires disk to not be nil");
            }
            if (body.Object("volumeSource") is not { } source)
            {
                throw Errors.BadRequest("AddVolumeOptions requires VolumeSource to not be nil");
            }
            disk["name"] = body.Str("name");
            if ((source.Object("dataVolume") ?? source.Object("persistentVolumeClaim")) is { } claim)
            {
                claim["hotpluggable"] = true;
            }
        }
        var dryRun = IsDryRun(body);
        var request = new JsonObject { [add ? HotplugVolumes.Add : HotplugVolumes.Remove] = body };
        if (ephemeral)
        {
            PatchVmiVolumes(ns, name, request, dryRun);
        }
        else if (imperative)
        {
            QueueVolumeRequest(ns, name, request, dryRun);
        }
        else
        {
            PatchTemplateVolumes(ns, name, request, dryRun);
        }
        await Accepted(context);
    }

    static async Task<JsonObject> ReadOptions(HttpContext context, string kind)
    {
        using var reader = new StreamReader(context.Request.Body);
        var text = await reader.ReadToEndAsync(context.RequestAborted);
        if (string.IsNullOrWhiteSpace(text))
        {
            return [];
        }
        try
        {
            return JsonNode.Parse(text) switch
            {
                JsonObject obj => obj,
                null => [],
                var other => throw Errors.BadRequest($"Can not unmarshal Request body to struct, error: json: cannot unmarshal {other.GetValueKind().ToString().ToLowerInvariant()} into Go value of type v1.{kind}"),
            };
        }
        catch (System.Text.Json.JsonException e)
        {
            throw Errors.BadRequest($"Can not unmarshal Request body to struct, error: {e.Message}");
        }
    }

    // vmVolumePatchStatus: checked against the template and the requests already queued, then appended.
    void QueueVolumeRequest(string ns, string name, JsonObject request, bool dryRun)
    {
        GetVm(ns, name);
        store.Update(Resources.VirtualMachines, ns, name, vm =>
        {
            if (HotplugVolumes.Verify(vm.Object("spec", "template", "spec"), request) is { } error)
            {
                throw Errors.Conflict(VmResource, name, error);
            }
            var volume = HotplugVolumes.RequestName(request);
            var queued = vm.Objects("status", "volumeRequests").ToList();
            if (request[HotplugVolumes.Add] is not null)
            {
                if (queued.Any(r => r.Str(HotplugVolumes.Add, "name") == volume))
                {
                    throw Errors.Conflict(VmResource, name, $"add volume request for volume [{volume}] already exists");
                }
                if (queued.Any(r => r.Str(HotplugVolumes.Remove, "name") == volume))
                {
                    throw Errors.Conflict(VmResource, name, $"unable to add volume since a remove volume request for volume [{volume}] already exists and is still being processed");
                }
            }
            else
            {
                if (queued.Any(r => r.Str(HotplugVolumes.Remove, "name") == volume))
                {
                    throw Errors.Conflict(VmResource, name, $"a remove volume request for volume [{volume}] already exists and is still being processed");
                }
                // Removing a volume whose add is still queued cancels the add.
                queued.RemoveAll(r => r.Str(HotplugVolumes.Add, "name") == volume);
            }
            if (dryRun)
            {
                return null;
            }
            queued.Add(request);
            vm.Child("status")["volumeRequests"] = Json.Array(queued.Select(r => (JsonNode)r.Clone()));
            return vm;
        }, UpdateMode.Status);
    }

    // vmVolumePatch (DeclarativeHotplugVolumes only): the template is edited directly; the VM controller follows.
    void PatchTemplateVolumes(string ns, string name, JsonObject request, bool dryRun)
    {
        GetVm(ns, name);
        store.Update(Resources.VirtualMachines, ns, name, vm =>
        {
            var spec = vm.Child("spec").Child("template").Child("spec");
            if (HotplugVolumes.Verify(spec, request) is { } error)
            {
                throw Errors.Conflict(VmResource, name, error);
            }
            if (dryRun)
            {
                return null;
            }
            HotplugVolumes.Apply(spec, request);
            return vm;
        }, UpdateMode.Main);
    }

    // vmiVolumePatch: only a running VMI, and under DeclarativeHotplugVolumes alone only one no VM owns.
    void PatchVmiVolumes(string ns, string name, JsonObject request, bool dryRun)
    {
        var vmi = GetVmi(ns, name) ?? throw Errors.NotFound(VmiResource, name);
        var owner = vmi.Objects("metadata", "ownerReferences").FirstOrDefault(r => r.Bool("controller") == true);
        if (owner.Str("kind") == "VirtualMachine" && owner.Str("apiVersion") == "kubevirt.io/v1" && !options.FeatureGates.Contains(HotplugVolumes.Gate))
        {
            throw Errors.BadRequest($"VMI {ns}/{name} is owned by a VM");
        }
        store.Update(Resources.VirtualMachineInstances, ns, name, v =>
        {
            if (v.Str("status", "phase") != "Running")
            {
                throw Errors.Conflict(VmiResource, name, "VMI is not running");
            }
            var spec = v.Child("spec");
            if (HotplugVolumes.Verify(spec, request) is { } error)
            {
                throw Errors.Conflict(VmiResource, name, error);
            }
            if (dryRun)
            {
                return null;
            }
            HotplugVolumes.Apply(spec, request);
            return v;
        }, UpdateMode.Main);
    }

    static JsonObject StateChange(string action, string? uid, JsonObject? data)
    {
        var change = new JsonObject { ["action"] = action };
        if (data is not null)
        {
            change["data"] = data;
        }
        if (uid is not null)
        {
            change["uid"] = uid;
        }
        return change;
    }

    // virt-api refuses to queue a start or restart on top of a pending request (its JSON patch fails and it answers 500).
    // Its patch tests the requests it read, so a conflict is judged again on the live VM.
    void AddStateChange(string ns, string name, JsonObject seen, bool dryRun, params JsonObject[] changes) =>
        store.Update(Resources.VirtualMachines, ns, name, vm =>
        {
            var status = vm.Child("status");
            if (status["stateChangeRequests"] is JsonArray { Count: > 0 })
            {
                throw Errors.Internal("unable to complete request: stop/start already underway");
            }
            return dryRun ? null : WithStateChanges(vm, changes);
        }, UpdateMode.Status, seen);

    // A lone stop request replaces whatever is pending.
    void ReplaceStateChanges(string ns, string name, JsonObject seen, bool dryRun, JsonObject change) =>
        store.Update(Resources.VirtualMachines, ns, name, vm => dryRun ? null : WithStateChanges(vm, change), UpdateMode.Status, seen);

    // The same patch also clears a start failure, so a requested start is not held back by the crash-loop backoff.
    static JsonObject WithStateChanges(JsonObject vm, params JsonObject[] changes)
    {
        var status = vm.Child("status");
        status["stateChangeRequests"] = Json.Array(changes);
        status.Remove("startFailure");
        return vm;
    }

    // virt-api's test-and-replace JSON patch of the run strategy.
    void SetRunning(string ns, string name, JsonObject seen, bool running, bool dryRun) =>
        store.Update(Resources.VirtualMachines, ns, name, vm =>
        {
            if (vm.Str("metadata", "resourceVersion") != seen.Str("metadata", "resourceVersion") && RunStrategies.Of(vm) != RunStrategies.Of(seen))
            {
                throw Errors.Conflict(VmResource, name, "jsonpatch test operation does not apply");
            }
            if (dryRun)
            {
                return null;
            }
            RunStrategies.SetRunning(vm, running);
            return vm;
        }, UpdateMode.Main);
}

internal static class RunStrategies
{
    public const string Always = "Always";
    public const string Halted = "Halted";
    public const string Manual = "Manual";
    public const string RerunOnFailure = "RerunOnFailure";
    public const string Once = "Once";
    public const string WaitAsReceiver = "WaitAsReceiver";

    // spec.runStrategy wins; otherwise the deprecated spec.running; neither means Halted.
    public static string Of(JsonObject vm) =>
        vm.Str("spec", "runStrategy") ?? (vm.Bool("spec", "running") == true ? Always : Halted);

    // spec.runStrategy Always or Halted, or the deprecated spec.running when that is what the VM uses.
    public static void SetRunning(JsonObject vm, bool running)
    {
        var spec = vm.Child("spec");
        if (spec["runStrategy"] is null && spec["running"] is not null)
        {
            spec["running"] = running;
        }
        else
        {
            spec["runStrategy"] = running ? Always : Halted;
        }
    }
}

internal static class VmiPhases
{
    public static bool IsFinal(string phase) => phase is "Succeeded" or "Failed";
}
