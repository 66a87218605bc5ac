using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Droplets.Tests.Simulator;

public sealed class VolumeAndRestartTests
{
    static string Message(JsonObject status) => status["message"]!.GetValue<string>();

    static Task<V1PersistentVolumeClaim> PatchClaimAsync(SimulatorWorld world, string name, string size) =>
        world.Client.CoreV1.PatchNamespacedPersistentVolumeClaimAsync(
            new V1Patch("{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"" + size + "\"}}}}", V1Patch.PatchType.MergePatch), name, "ns");

    [Fact]
    public async Task A_datavolume_claim_grows_online_and_refuses_to_shrink()
    {
        await using var world = await SimulatorWorld.StartAsync(o => o.ExpandDelay = TimeSpan.FromMilliseconds(300));
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns"));
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");

        var claim = await world.Client.CoreV1.ReadNamespacedPersistentVolumeClaimAsync("vm-root", "ns");
        Assert.Equal("Bound", claim.Status.Phase);
        Assert.Equal("50Gi", claim.Status.Capacity["storage"].ToString());

        claim = await PatchClaimAsync(world, "vm-root", "80Gi");
        Assert.Equal("80Gi", claim.Spec.Resources.Requests["storage"].ToString());
        Assert.Equal("50Gi", claim.Status.Capacity["storage"].ToString());
        await SimulatorWorld.Eventually(() => world.Client.CoreV1.ReadNamespacedPersistentVolumeClaimAsync("vm-root", "ns"),
            c => c.Status.Conditions?.Any(x => x.Type == "Resizing" && x.Status == "True") == true || c.Status.Capacity["storage"].ToString() == "80Gi", "resizing");
        claim = await SimulatorWorld.Eventually(() => world.Client.CoreV1.ReadNamespacedPersistentVolumeClaimAsync("vm-root", "ns"),
            c => c.Status.Capacity["storage"].ToString() == "80Gi", "capacity 80Gi");
        Assert.DoesNotContain(claim.Status.Conditions ?? [], c => c.Type == "Resizing");

        // kubelet records its event after the capacity it reports.
        var events = await SimulatorWorld.Eventually(
            async () => (await world.Client.CoreV1.ListNamespacedEventAsync("ns", fieldSelector: "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=vm-root")).Items,
            items => items.Any(e => e.Reason == "FileSystemResizeSuccessful"), "FileSystemResizeSuccessful");
        Assert.Equal($"External resizer is resizing volume {claim.Spec.VolumeName}", Assert.Single(events, e => e.Reason == "Resizing").Message);
        var resized = Assert.Single(events, e => e.Reason == "FileSystemResizeSuccessful");
        Assert.Equal("kubelet", resized.Source.Component);
        Assert.Contains(events, e => e.Reason == "FileSystemResizeRequired");

        var (code, status) = await SimulatorWorld.FailureOf(() => PatchClaimAsync(world, "vm-root", "60Gi"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, code);
        Assert.Equal("PersistentVolumeClaim \"vm-root\" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than status.capacity", Message(status));
        Assert.Equal("Invalid", status["reason"]!.GetValue<string>());
        Assert.Equal("spec.resources.requests.storage", status["details"]!["causes"]![0]!["field"]!.GetValue<string>());

        // Other spec fields of a bound claim are immutable.
        (code, status) = await SimulatorWorld.FailureOf(() => world.Client.CoreV1.PatchNamespacedPersistentVolumeClaimAsync(
            new V1Patch("""{"spec":{"accessModes":["ReadWriteOnce"]}}""", V1Patch.PatchType.MergePatch), "vm-root", "ns"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, code);
        Assert.StartsWith("PersistentVolumeClaim \"vm-root\" is invalid: spec: Forbidden: spec is immutable after creation", Message(status), StringComparison.Ordinal);

        // CDI freezes a DataVolume's spec: growing goes through the PVC.
        (code, status) = await SimulatorWorld.FailureOf(() => world.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"spec":{"storage":{"resources":{"requests":{"storage":"90Gi"}}}}}""", V1Patch.PatchType.MergePatch), SimulatorWorld.Cdi, "v1beta1", "ns", "datavolumes", "vm-root"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, code);
        Assert.EndsWith("Cannot update DataVolume Spec", Message(status), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unused_claim_reports_a_controller_only_resize()
    {
        await using var world = await SimulatorWorld.StartAsync(o => o.ExpandDelay = TimeSpan.Zero);
        await world.CreateNamespaceAsync("ns");
        await world.Client.CoreV1.CreateNamespacedPersistentVolumeClaimAsync(new V1PersistentVolumeClaim
        {
            Metadata = new V1ObjectMeta { Name = "data" },
            Spec = new V1PersistentVolumeClaimSpec
            {
                AccessModes = ["ReadWriteOnce"],
                Resources = new V1VolumeResourceRequirements { Requests = new Dictionary<string, ResourceQuantity> { ["storage"] = new("1Gi") } },
            },
        }, "ns");
        await SimulatorWorld.Eventually(() => world.Client.CoreV1.ReadNamespacedPersistentVolumeClaimAsync("data", "ns"), c => c.Status.Phase == "Bound", "bound");
        await PatchClaimAsync(world, "data", "2Gi");
        await SimulatorWorld.Eventually(() => world.Client.CoreV1.ReadNamespacedPersistentVolumeClaimAsync("data", "ns"),
            c => c.Status.Capacity["storage"].ToString() == "2Gi", "capacity 2Gi");
        var events = await SimulatorWorld.Eventually(
            async () => (await world.Client.CoreV1.ListNamespacedEventAsync("ns", fieldSelector: "involvedObject.name=data,reason=VolumeResizeSuccessful")).Items,
            items => items.Count == 1, "VolumeResizeSuccessful");
        Assert.Equal("Resize volume succeeded", events[0].Message);
    }

    [Theory]
    [InlineData("""{"gracePeriodSeconds":30}""", "For force restart, only gracePeriod=0 is supported for now")]
    [InlineData("""{"gracePeriodSeconds":-1}""", "gracePeriod has to be greater or equal to 0")]
    public async Task Restart_accepts_only_no_or_a_zero_grace_period(string body, string message)
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns"));
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        var response = await world.SubresourceAsync("ns", "vm", "restart", body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var status = await SimulatorWorld.StatusOf(response);
        Assert.Equal(message, Message(status));
        Assert.Equal("BadRequest", status["reason"]!.GetValue<string>());
        Assert.Null((await world.GetVmAsync("ns", "vm"))["status"]!["stateChangeRequests"]);
    }

    [Fact]
    public async Task A_graceful_restart_shuts_down_boots_a_new_vmi_and_records_kubevirt_events()
    {
        await using var world = await SimulatorWorld.StartAsync(o => o.StopDelay = TimeSpan.FromMilliseconds(300));
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns"));
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        var before = (await world.GetVmiAsync("ns", "vm"))["metadata"]!["uid"]!.GetValue<string>();

        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "vm", "restart", "{}")).StatusCode);
        await world.WaitForPrintableStatusAsync("ns", "vm", "Stopping");
        await SimulatorWorld.Eventually(
            () => world.FindVmiAsync("ns", "vm"),
            v => v is not null && v["metadata"]!["uid"]!.GetValue<string>() != before && v["status"]?["phase"]?.GetValue<string>() == "Running", "a new running VMI");
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");

        async Task<IList<Corev1Event>> Events(string kind, string reason) =>
            (await world.Client.CoreV1.ListNamespacedEventAsync("ns", fieldSelector: $"involvedObject.kind={kind},reason={reason}")).Items;
        var shuttingDown = Assert.Single(await Events("VirtualMachineInstance", "ShuttingDown"));
        Assert.Equal("Signaled Graceful Shutdown", shuttingDown.Message);
        Assert.Equal(before, shuttingDown.InvolvedObject.Uid);
        Assert.Equal("The VirtualMachineInstance was shut down.", Assert.Single(await Events("VirtualMachineInstance", "Stopped")).Message);
        Assert.Equal($"Stopped the virtual machine by deleting the virtual machine instance {before}", Assert.Single(await Events("VirtualMachine", "SuccessfulDelete")).Message);
        Assert.Equal(2, (await Events("VirtualMachine", "SuccessfulCreate")).Sum(e => e.Count ?? 1));
        Assert.Equal(2, (await Events("VirtualMachineInstance", "Started")).Count);
    }

    [Fact]
    public async Task A_forced_restart_and_a_zero_grace_stop_skip_the_graceful_shutdown()
    {
        await using var world = await SimulatorWorld.StartAsync(o => o.StopDelay = TimeSpan.FromSeconds(30));
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns"));
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        var before = (await world.GetVmiAsync("ns", "vm"))["metadata"]!["uid"]!.GetValue<string>();

        // gracePeriodSeconds=0 sets the VMI's terminationGracePeriodSeconds to 1: the guest gets one second, not StopDelay
        // (30 s, twice the wait below, so a restart that waited for it would fail here).
        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "vm", "restart", """{"gracePeriodSeconds":0}""")).StatusCode);
        await SimulatorWorld.Eventually(
            () => world.FindVmiAsync("ns", "vm"),
            v => v is not null && v["metadata"]!["uid"]!.GetValue<string>() != before && v["status"]?["phase"]?.GetValue<string>() == "Running", "a new running VMI");

        // stop with gracePeriod 0 kills the domain at once.
        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "vm", "stop", """{"gracePeriod":0}""")).StatusCode);
        await world.WaitForPrintableStatusAsync("ns", "vm", "Stopped");
        var deleted = (await world.Client.CoreV1.ListNamespacedEventAsync("ns", fieldSelector: "involvedObject.kind=VirtualMachineInstance,reason=Deleted")).Items;
        Assert.Equal("Signaled Deletion", Assert.Single(deleted).Message);
    }
}
