using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace KubeVirt.Simulator;

internal delegate Task SubresourceHandler(HttpContext context, string ns, string name);

// virt-api's subresources.kubevirt.io endpoints. Handlers are looked up by (resource, action), so adding
// addvolume/removevolume or another websocket (console) is one more entry in the table.
internal sealed class Subresources
{
    const string VmResource = "virtualmachine.kubevirt.io";

    readonly Store store;
    readonly Dictionary<(string Resource, string Action), SubresourceHandler> handlers;

    // stopping: the host is shutting down, so long-lived websockets close instead of holding it up.
    public Subresources(Store store, CancellationToken stopping)
    {
        this.store = store;
        var vnc = new Vnc(store, stopping);
        handlers = new()
        {
            [("virtualmachines", "start")] = Start,
            [("virtualmachines", "stop")] = Stop,
            [("virtualmachines", "restart")] = Restart,
            [("virtualmachineinstances", "vnc")] = vnc.Connect,
            [("virtualmachineinstances", "vnc/screenshot")] = vnc.Screenshot,
        };
    }

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

    static void RequirePut(HttpContext context)
    {
        if (context.Request.Method != "PUT")
        {
            throw Errors.MethodNotAllowed();
        }
    }

    JsonObject GetVm(string ns, string name) =>
        store.Get(Resources.VirtualMachines, ns, name) ?? throw Errors.NotFound(VmResource, name);

    JsonObject? GetVmi(string ns, string name) => store.Get(Resources.VirtualMachineInstances, ns, name);

    async Task Start(HttpContext context, string ns, string name)
    {
        RequirePut(context);
        var body = await KubernetesApi.ReadJson(context, allowEmpty: true);
        var vm = GetVm(ns, name);
        var vmi = GetVmi(ns, name);
        var phase = vmi.Str("status", "phase") ?? "";
        if (vmi is not null && !VmiPhases.IsFinal(phase) && phase is not ("" or "Unknown"))
        {
            throw Errors.Conflict(VmResource, name, "VM is already running");
        }
        var paused = body.Bool("paused") == true;
        var data = paused ? new JsonObject { ["paused"] = "true" } : null;
        var strategy = RunStrategies.Of(vm);
        switch (strategy)
        {
            case RunStrategies.Halted when paused:
                AddStateChange(ns, name, StateChange("Start", null, data));
                break;
            case RunStrategies.Halted:
                SetRunning(ns, name, vm, running: true);
                break;
            case RunStrategies.Manual or RunStrategies.RerunOnFailure:
                if (strategy == RunStrategies.RerunOnFailure && phase == "Failed")
                {
                    throw Errors.Conflict(VmResource, name, "RerunOnFailure does not support starting VM from failed state");
                }
                var restart = vmi is not null && (strategy == RunStrategies.Manual ? VmiPhases.IsFinal(phase) : phase == "Succeeded");
                if (restart)
                {
                    AddStateChange(ns, name, StateChange("Stop", vmi!.Uid(), null), StateChange("Start", null, data));
                }
                else
                {
                    AddStateChange(ns, name, StateChange("Start", null, data));
                }
                break;
            default:
                throw Errors.Conflict(VmResource, name, $"{strategy} does not support manual start requests");
        }
        await Accepted(context);
    }

    async Task Stop(HttpContext context, string ns, string name)
    {
        RequirePut(context);
        var body = await KubernetesApi.ReadJson(context, allowEmpty: true);
        var vm = GetVm(ns, name);
        var vmi = GetVmi(ns, name);
        var running = vmi is not null && !VmiPhases.IsFinal(vmi.Str("status", "phase") ?? "");
        var gracePeriod = body.Long("gracePeriod");
        long? oldGrace = vmi.Long("spec", "terminationGracePeriodSeconds");
        if (running && gracePeriod is not null)
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
                ReplaceStateChanges(ns, name, StateChange("Stop", vmi!.Uid(), null));
                break;
            case RunStrategies.Manual or RunStrategies.RerunOnFailure:
                if (!running)
                {
                    throw Errors.Conflict(VmResource, name, "VM is not running");
                }
                ReplaceStateChanges(ns, name, StateChange("Stop", vmi!.Uid(), null));
                break;
            default:
                SetRunning(ns, name, vm, running: false);
                break;
        }
        await Accepted(context);
    }

    async Task Restart(HttpContext context, string ns, string name)
    {
        RequirePut(context);
        var body = await KubernetesApi.ReadJson(context, allowEmpty: true);
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
        if (grace == 0)
        {
            store.Update(Resources.VirtualMachineInstances, ns, name, v =>
            {
                v.Child("spec")["terminationGracePeriodSeconds"] = 1;
                return v;
            }, UpdateMode.Main);
        }
        AddStateChange(ns, name, StateChange("Stop", vmi.Uid(), null), StateChange("Start", null, null));
        await Accepted(context);
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
    void AddStateChange(string ns, string name, params JsonObject[] changes) =>
        store.Update(Resources.VirtualMachines, ns, name, vm =>
        {
            var status = vm.Child("status");
            if (status["stateChangeRequests"] is JsonArray { Count: > 0 })
            {
                throw Errors.Internal("unable to complete request: stop/start already underway");
            }
            status["stateChangeRequests"] = Json.Array(changes);
            return vm;
        }, UpdateMode.Status);

    // A lone stop request replaces whatever is pending.
    void ReplaceStateChanges(string ns, string name, JsonObject change) =>
        store.Update(Resources.VirtualMachines, ns, name, vm =>
        {
            vm.Child("status")["stateChangeRequests"] = new JsonArray(change);
            return vm;
        }, UpdateMode.Status);

    // virt-api patches spec.runStrategy (or the deprecated spec.running when that is what the VM uses).
    void SetRunning(string ns, string name, JsonObject seen, bool running) =>
        store.Update(Resources.VirtualMachines, ns, name, vm =>
        {
            if (vm.Str("metadata", "resourceVersion") != seen.Str("metadata", "resourceVersion") && RunStrategies.Of(vm) != RunStrategies.Of(seen))
            {
                throw Errors.Conflict(VmResource, name, "jsonpatch test operation does not apply");
            }
            var spec = vm.Child("spec");
            if (spec["runStrategy"] is null && spec["running"] is not null)
            {
                spec["running"] = running;
            }
            else
            {
                spec["runStrategy"] = running ? RunStrategies.Always : RunStrategies.Halted;
            }
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
}

internal static class VmiPhases
{
    public static bool IsFinal(string phase) => phase is "Succeeded" or "Failed";
}
