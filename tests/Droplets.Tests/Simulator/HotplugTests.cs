using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Droplets.Tests.Simulator;

// CPU/memory resize with KubeVirt's LiveUpdate rollout strategy: live within the VMI's maxima (through a migration),
// RestartRequired otherwise, and a restart applies the template.
public sealed class HotplugTests
{
    static Task<SimulatorWorld> StartAsync(Action<global::KubeVirt.Simulator.SimulatorOptions>? configure = null) =>
        SimulatorWorld.StartAsync(o =>
        {
            o.HotplugDelay = TimeSpan.FromMilliseconds(300);
            configure?.Invoke(o);
        });

    // withoutMaxGuest: the VMI's maxGuest is KubeVirt's default (guest × 4) rather than the template's.
    static async Task<SimulatorWorld> RunningVmAsync(Action<global::KubeVirt.Simulator.SimulatorOptions>? configure = null, bool withoutMaxGuest = false)
    {
        var world = await StartAsync(configure);
        await world.CreateNamespaceAsync("ns");
        var vm = SimulatorWorld.Vm("vm", "ns");
        if (withoutMaxGuest)
        {
            vm["spec"]!["template"]!["spec"]!["domain"]!["memory"]!.AsObject().Remove("maxGuest");
        }
        await world.CreateVmAsync(vm);
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        return world;
    }

    static bool HasCondition(JsonNode obj, string type, string status = "True") =>
        obj["status"]?["conditions"]?.AsArray().Any(c => c!["type"]!.GetValue<string>() == type && c["status"]!.GetValue<string>() == status) == true;

    static string? ConditionMessage(JsonNode obj, string type) =>
        obj["status"]?["conditions"]?.AsArray().FirstOrDefault(c => c!["type"]!.GetValue<string>() == type)?["message"]?.GetValue<string>();

    static string Uid(JsonNode obj) => obj["metadata"]!["uid"]!.GetValue<string>();

    static Task<JsonObject> PatchTemplateAsync(SimulatorWorld world, string domain) =>
        world.PatchVmAsync("ns", "vm", """{"spec":{"template":{"spec":{"domain":""" + domain + "}}}}", V1Patch.PatchType.MergePatch);

    static async Task<IList<Corev1Event>> EventsAsync(SimulatorWorld world, string kind, string reason) =>
        (await world.Client.CoreV1.ListNamespacedEventAsync("ns", fieldSelector: $"involvedObject.kind={kind},reason={reason}")).Items;

    [Fact]
    public async Task Cpu_sockets_within_max_sockets_are_hotplugged_through_a_migration()
    {
        await using var world = await RunningVmAsync();
        var before = await world.GetVmiAsync("ns", "vm");
        Assert.Equal(2, before["status"]!["currentCPUTopology"]!["sockets"]!.GetValue<int>());
        var sourceNode = before["status"]!["nodeName"]!.GetValue<string>();

        await PatchTemplateAsync(world, """{"cpu":{"sockets":4}}""");

        await SimulatorWorld.Eventually(() => world.GetVmiAsync("ns", "vm"), vmi => HasCondition(vmi, "HotVCPUChange"), "HotVCPUChange=True on the VMI");
        await world.WaitForVmAsync("ns", "vm", vm => SimulatorWorld.PrintableStatus(vm) == "Migrating" && HasCondition(vm, "HotVCPUChange"), "Migrating with HotVCPUChange copied to the VM");
        var vmi = await SimulatorWorld.Eventually(() => world.GetVmiAsync("ns", "vm"),
            v => v["status"]!["currentCPUTopology"]!["sockets"]!.GetValue<int>() == 4 && !HasCondition(v, "HotVCPUChange"), "4 sockets applied");
        var vm = await world.WaitForPrintableStatusAsync("ns", "vm", "Running");

        Assert.Equal(Uid(before), Uid(vmi));
        Assert.Equal(4, vmi["spec"]!["domain"]!["cpu"]!["sockets"]!.GetValue<int>());
        Assert.NotEqual(sourceNode, vmi["status"]!["nodeName"]!.GetValue<string>());
        Assert.True(vmi["status"]!["migrationState"]!["completed"]!.GetValue<bool>());
        Assert.False(HasCondition(vm, "RestartRequired"));
        Assert.False(HasCondition(vm, "HotVCPUChange"));

        var migrations = await world.Client.CustomObjects.ListNamespacedCustomObjectAsync<JsonObject>(SimulatorWorld.KubeVirt, "v1", "ns", "virtualmachineinstancemigrations");
        var migration = Assert.Single(migrations["items"]!.AsArray())!;
        Assert.StartsWith("kubevirt-workload-update-", migration["metadata"]!["name"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("Succeeded", migration["status"]!["phase"]!.GetValue<string>());

        var pods = await world.Client.CoreV1.ListNamespacedPodAsync("ns", labelSelector: "vm.kubevirt.io/name=vm");
        var active = Assert.Single(pods.Items, p => p.Status.Phase == "Running");
        Assert.Equal("4", active.Spec.Containers[0].Resources.Requests["cpu"].ToString());
        Assert.Equal(vmi["status"]!["interfaces"]![0]!["ipAddress"]!.GetValue<string>(), active.Status.PodIP);

        Assert.Single(await EventsAsync(world, "VirtualMachineInstance", "Migrating"));
        Assert.Equal($"The VirtualMachineInstance migrated to node {vmi["status"]!["nodeName"]!.GetValue<string>()}.",
            Assert.Single(await EventsAsync(world, "VirtualMachineInstance", "Migrated")).Message);
    }

    [Fact]
    public async Task Guest_memory_within_max_guest_is_hotplugged()
    {
        await using var world = await RunningVmAsync();
        var before = await world.GetVmiAsync("ns", "vm");
        Assert.Equal("2Gi", before["status"]!["memory"]!["guestAtBoot"]!.GetValue<string>());

        await PatchTemplateAsync(world, """{"memory":{"guest":"4Gi"}}""");

        var changing = await SimulatorWorld.Eventually(() => world.GetVmiAsync("ns", "vm"), vmi => HasCondition(vmi, "HotMemoryChange"), "HotMemoryChange=True");
        Assert.Equal("4Gi", changing["status"]!["memory"]!["guestRequested"]!.GetValue<string>());
        await world.WaitForPrintableStatusAsync("ns", "vm", "Migrating");
        var vmi = await SimulatorWorld.Eventually(() => world.GetVmiAsync("ns", "vm"),
            v => v["status"]!["memory"]!["guestCurrent"]!.GetValue<string>() == "4Gi" && !HasCondition(v, "HotMemoryChange"), "4Gi applied");
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        Assert.Equal(Uid(before), Uid(vmi));
        Assert.Equal("4Gi", vmi["spec"]!["domain"]!["memory"]!["guest"]!.GetValue<string>());
        Assert.Equal("2Gi", vmi["status"]!["memory"]!["guestAtBoot"]!.GetValue<string>());

        // Back down, but not below what it booted with: still live (hot-unplug).
        await PatchTemplateAsync(world, """{"memory":{"guest":"3Gi"}}""");
        await SimulatorWorld.Eventually(() => world.GetVmiAsync("ns", "vm"),
            v => v["status"]!["memory"]!["guestCurrent"]!.GetValue<string>() == "3Gi" && !HasCondition(v, "HotMemoryChange"), "3Gi applied");
        Assert.False(HasCondition(await world.GetVmAsync("ns", "vm"), "RestartRequired"));
    }

    [Theory]
    [InlineData("""{"cpu":{"sockets":10}}""", "CPU sockets updated in template spec to a value higher than what's available")]
    [InlineData("""{"cpu":{"sockets":1}}""", "Reduction of CPU socket count requires a restart")]
    [InlineData("""{"memory":{"guest":"1Gi"}}""", "memory updated in template spec to a value lower than what the VM started with")]
    // Beyond a maxGuest the template sets, KubeVirt's VM webhook refuses the update (AdmissionTests); beyond a defaulted one
    // it is a restart (vm.go handleMemoryHotplugRequest's comment).
    [InlineData("""{"memory":{"guest":"16Gi"}}""", "memory updated in template spec to a value higher than what's available", true)]
    [InlineData("""{"cpu":{"cores":2}}""", "a non-live-updatable field was changed in the template spec")]
    public async Task Other_changes_require_a_restart_that_applies_them(string domain, string message, bool withoutMaxGuest = false)
    {
        await using var world = await RunningVmAsync(withoutMaxGuest: withoutMaxGuest);
        var before = await world.GetVmiAsync("ns", "vm");

        await PatchTemplateAsync(world, domain);
        var vm = await world.WaitForVmAsync("ns", "vm", v => HasCondition(v, "RestartRequired"), "RestartRequired");
        Assert.Equal(message, ConditionMessage(vm, "RestartRequired"));
        Assert.Equal("Running", SimulatorWorld.PrintableStatus(vm));

        // While a restart is required, even a live-updatable change stays in the template.
        await PatchTemplateAsync(world, """{"memory":{"maxGuest":"32Gi"}}""");
        var vmi = await world.GetVmiAsync("ns", "vm");
        Assert.Equal(before["spec"]!["domain"]!.ToJsonString(), vmi["spec"]!["domain"]!.ToJsonString());
        Assert.False(HasCondition(vmi, "HotVCPUChange") || HasCondition(vmi, "HotMemoryChange"));

        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "vm", "restart")).StatusCode);
        var after = await SimulatorWorld.Eventually(
            () => world.FindVmiAsync("ns", "vm"),
            v => v is not null && Uid(v) != Uid(before) && v["status"]?["phase"]?.GetValue<string>() == "Running", "a restarted VMI");
        var template = (await world.GetVmAsync("ns", "vm"))["spec"]!["template"]!["spec"]!["domain"]!;
        Assert.Equal(template["cpu"]!.ToJsonString(), after!["spec"]!["domain"]!["cpu"]!.ToJsonString());
        Assert.Equal(template["memory"]!["guest"]!.GetValue<string>(), after["spec"]!["domain"]!["memory"]!["guest"]!.GetValue<string>());
        vm = await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        Assert.False(HasCondition(vm, "RestartRequired"));
    }

    [Fact]
    public async Task Stop_and_start_also_apply_a_pending_restart()
    {
        await using var world = await RunningVmAsync();
        await PatchTemplateAsync(world, """{"cpu":{"sockets":1}}""");
        await world.WaitForVmAsync("ns", "vm", v => HasCondition(v, "RestartRequired"), "RestartRequired");

        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "vm", "stop")).StatusCode);
        var vm = await world.WaitForPrintableStatusAsync("ns", "vm", "Stopped");
        Assert.True(HasCondition(vm, "RestartRequired"));  // kept until the next start, as virt-controller does

        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "vm", "start")).StatusCode);
        vm = await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        Assert.False(HasCondition(vm, "RestartRequired"));
        var vmi = await world.GetVmiAsync("ns", "vm");
        Assert.Equal(1, vmi["status"]!["currentCPUTopology"]!["sockets"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_restart_into_a_size_no_node_fits_is_unschedulable()
    {
        await using var world = await RunningVmAsync(o => o.NodeCpu = 8);
        await PatchTemplateAsync(world, """{"cpu":{"sockets":12,"maxSockets":12}}""");
        var vm = await world.WaitForVmAsync("ns", "vm", v => HasCondition(v, "RestartRequired"), "RestartRequired");
        Assert.Equal("a non-live-updatable field was changed in the template spec", ConditionMessage(vm, "RestartRequired"));

        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "vm", "restart")).StatusCode);
        vm = await world.WaitForPrintableStatusAsync("ns", "vm", "ErrorUnschedulable");
        Assert.Equal("0/3 nodes are available: 3 Insufficient cpu.", ConditionMessage(vm, "PodScheduled"));
    }

    [Fact]
    public async Task A_live_hotplug_waits_for_a_node_with_room()
    {
        // Two nodes of 6 vCPUs: the VM (2 sockets) runs on one; growing to 5 needs the other one, which a filler takes.
        await using var world = await RunningVmAsync(o => { o.NodeCount = 2; o.NodeCpu = 6; });
        var fillerVm = SimulatorWorld.ContainerDiskVm("filler", "ns", "quay.io/containerdisks/fedora:latest");
        fillerVm["spec"]!["template"]!["spec"]!["domain"]!["cpu"] = new JsonObject { ["cores"] = 5 };
        await world.CreateVmAsync(fillerVm);
        await world.WaitForPrintableStatusAsync("ns", "filler", "Running");
        var filler = await world.GetVmiAsync("ns", "filler");
        var vmi = await world.GetVmiAsync("ns", "vm");
        Assert.NotEqual(vmi["status"]!["nodeName"]!.GetValue<string>(), filler["status"]!["nodeName"]!.GetValue<string>());

        await PatchTemplateAsync(world, """{"cpu":{"sockets":5}}""");
        await SimulatorWorld.Eventually(async () => (await world.Client.CoreV1.ListNamespacedPodAsync("ns", labelSelector: "vm.kubevirt.io/name=vm")).Items,
            pods => pods.Any(p => p.Status.Conditions?.Any(c => c.Type == "PodScheduled" && c.Status == "False") == true), "an unschedulable migration target");
        Assert.Equal("Running", SimulatorWorld.PrintableStatus(await world.GetVmAsync("ns", "vm")));
        Assert.True(HasCondition(await world.GetVmiAsync("ns", "vm"), "HotVCPUChange"));

        await world.Client.CustomObjects.DeleteNamespacedCustomObjectAsync(SimulatorWorld.KubeVirt, "v1", "ns", "virtualmachines", "filler");
        await SimulatorWorld.Eventually(() => world.GetVmiAsync("ns", "vm"),
            v => v["status"]!["currentCPUTopology"]!["sockets"]!.GetValue<int>() == 5 && !HasCondition(v, "HotVCPUChange"), "5 sockets once a node frees up");
    }

    [Fact]
    public async Task Hotplug_and_expand_delays_are_admin_knobs()
    {
        await using var world = await StartAsync();
        var options = JsonNode.Parse(await world.Http.GetStringAsync("simulator/options"))!;
        Assert.Equal("00:00:00.3000000", options["hotplugDelay"]!.GetValue<string>());
        Assert.Equal("00:00:00.5000000", options["expandDelay"]!.GetValue<string>());
        var response = await world.Http.PatchAsync("simulator/options", new StringContent("""{"hotplugDelay":1,"expandDelay":"00:00:02"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(1), world.Simulator.Options.HotplugDelay);
        Assert.Equal(TimeSpan.FromSeconds(2), world.Simulator.Options.ExpandDelay);
    }
}
