using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Droplets.Tests.Simulator;

// Volumes the product creates (PVCs, blank DataVolumes) and attaches with KubeVirt's addvolume/removevolume.
public sealed class VolumeHotplugTests
{
    const string Cdi = SimulatorWorld.Cdi;

    static string Message(JsonObject status) => status["message"]!.GetValue<string>();

    static string Str(JsonNode? node) => node!.GetValue<string>();

    static string AddBody(string name, string? claim = null, bool dataVolume = false, bool dryRun = false)
    {
        var source = dataVolume
            ? new JsonObject { ["dataVolume"] = new JsonObject { ["name"] = claim ?? name } }
            : new JsonObject { ["persistentVolumeClaim"] = new JsonObject { ["claimName"] = claim ?? name } };
        var body = new JsonObject { ["name"] = name, ["disk"] = new JsonObject { ["disk"] = new JsonObject { ["bus"] = "scsi" } }, ["volumeSource"] = source };
        if (dryRun)
        {
            body["dryRun"] = new JsonArray("All");
        }
        return body.ToJsonString();
    }

    static async Task<SimulatorWorld> StartAsync(Action<global::KubeVirt.Simulator.SimulatorOptions>? configure = null)
    {
        var world = await SimulatorWorld.StartAsync(o =>
        {
            o.AttachDelay = TimeSpan.FromMilliseconds(100);
            configure?.Invoke(o);
        });
        await world.CreateNamespaceAsync("ns");
        return world;
    }

    // The deprecated HotplugVolumes gate enabled on top of KubeVirt 1.9's default: addvolume/removevolume on a VM queue
    // status.volumeRequests (virt-api's vmVolumePatchStatus), which virt-controller works off.
    static void WithHotplugGate(global::KubeVirt.Simulator.SimulatorOptions o) => o.FeatureGates.Add("HotplugVolumes");

    static async Task<SimulatorWorld> RunningVmAsync(Action<global::KubeVirt.Simulator.SimulatorOptions>? configure = null)
    {
        var world = await StartAsync(configure);
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns"));
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        return world;
    }

    static Task<V1PersistentVolumeClaim> CreateClaimAsync(SimulatorWorld world, string name, string accessMode = "ReadWriteOnce", string size = "10Gi", string? volumeMode = null) =>
        world.Client.CoreV1.CreateNamespacedPersistentVolumeClaimAsync(new V1PersistentVolumeClaim
        {
            Metadata = new V1ObjectMeta { Name = name, Labels = new Dictionary<string, string> { ["droplets.dev/volume"] = name } },
            Spec = new V1PersistentVolumeClaimSpec
            {
                AccessModes = [accessMode],
                VolumeMode = volumeMode,
                StorageClassName = "fast",
                Resources = new V1VolumeResourceRequirements { Requests = new Dictionary<string, ResourceQuantity> { ["storage"] = new(size) } },
            },
        }, "ns");

    static Task<JsonObject> CreateBlankDataVolumeAsync(SimulatorWorld world, string name, string storage) =>
        CreateDataVolumeAsync(world, name, """{"source":{"blank":{}},"storage":{"resources":{"requests":{"storage":"STORAGE"}}}}""".Replace("STORAGE", storage, StringComparison.Ordinal));

    static async Task<JsonObject> CreateDataVolumeAsync(SimulatorWorld world, string name, string spec) =>
        SimulatorWorld.ToNode(await world.Client.CustomObjects.CreateNamespacedCustomObjectAsync(
            new JsonObject
            {
                ["apiVersion"] = "cdi.kubevirt.io/v1beta1",
                ["kind"] = "DataVolume",
                ["metadata"] = new JsonObject { ["name"] = name },
                ["spec"] = JsonNode.Parse(spec),
            },
            Cdi, "v1beta1", "ns", "datavolumes"));

    static JsonObject? VolumeStatus(JsonObject vmi, string name) =>
        vmi["status"]?["volumeStatus"]?.AsArray().OfType<JsonObject>().FirstOrDefault(s => s["name"]?.GetValue<string>() == name);

    static string? Phase(JsonObject vmi, string name) => VolumeStatus(vmi, name)?["phase"]?.GetValue<string>();

    // The VMI may not exist yet (a start just asked for it).
    static async Task<JsonObject> WaitForVolumePhaseAsync(SimulatorWorld world, string vmi, string volume, string phase) =>
        (await SimulatorWorld.Eventually(() => world.FindVmiAsync("ns", vmi), v => v is not null && Phase(v, volume) == phase, $"volume {volume} of {vmi} {phase}"))!;

    static Task<JsonObject> WaitForNoVolumeStatusAsync(SimulatorWorld world, string vmi, string volume) =>
        SimulatorWorld.Eventually(() => world.GetVmiAsync("ns", vmi), v => VolumeStatus(v, volume) is null, $"no status for volume {volume} of {vmi}");

    static bool HasVolume(JsonNode? spec, string name) =>
        spec?["volumes"]?.AsArray().Any(v => v!["name"]!.GetValue<string>() == name) == true;

    static bool HasDisk(JsonNode? spec, string name) =>
        spec?["domain"]?["devices"]?["disks"]?.AsArray().Any(d => d!["name"]!.GetValue<string>() == name) == true;

    static bool HasCondition(JsonNode obj, string type) =>
        obj["status"]?["conditions"]?.AsArray().Any(c => c!["type"]!.GetValue<string>() == type) == true;

    static async Task<IList<Corev1Event>> EventsAsync(SimulatorWorld world, string reason, string? name = null) =>
        (await world.Client.CoreV1.ListNamespacedEventAsync("ns",
            fieldSelector: $"reason={reason}" + (name is null ? "" : $",involvedObject.name={name}"))).Items;

    static async Task<IList<V1Pod>> AttachmentPodsAsync(SimulatorWorld world) =>
        (await world.Client.CoreV1.ListNamespacedPodAsync("ns", labelSelector: "kubevirt.io=hotplug-disk")).Items;

    static async Task<(HttpStatusCode Code, JsonObject? Status)> PutAsync(SimulatorWorld world, string name, string action, string? body, string resource = "virtualmachines")
    {
        var response = await world.SubresourceAsync("ns", name, action, body, resource);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text)!.AsObject());
    }

    static async Task AttachAsync(SimulatorWorld world, string vm, string name, string? claim = null, bool dataVolume = false)
    {
        var (code, status) = await PutAsync(world, vm, "addvolume", AddBody(name, claim, dataVolume));
        Assert.True(code == HttpStatusCode.Accepted, status?.ToJsonString());
        await WaitForVolumePhaseAsync(world, vm, name, "Ready");
    }

    [Fact]
    public async Task Addvolume_hotplugs_a_claim_into_a_running_vm_without_a_restart()
    {
        await using var world = await RunningVmAsync();
        await CreateClaimAsync(world, "data");

        var (code, status) = await PutAsync(world, "vm", "addvolume", AddBody("data"));
        Assert.Equal(HttpStatusCode.Accepted, code);
        Assert.Null(status);

        var vmi = await WaitForVolumePhaseAsync(world, "vm", "data", "Ready");
        var volume = VolumeStatus(vmi, "data")!;
        Assert.Equal("sda", Str(volume["target"]));
        Assert.Equal("VolumeReady", Str(volume["reason"]));
        Assert.Equal("Successfully attach hotplugged volume data to VM", Str(volume["message"]));
        Assert.Equal("data", Str(volume["persistentVolumeClaimInfo"]!["claimName"]));
        Assert.Equal("10Gi", Str(volume["persistentVolumeClaimInfo"]!["capacity"]!["storage"]));
        Assert.Equal("0.055", Str(volume["persistentVolumeClaimInfo"]!["filesystemOverhead"]));
        var pod = Assert.Single(await AttachmentPodsAsync(world));
        Assert.StartsWith("hp-volume-", pod.Metadata.Name, StringComparison.Ordinal);
        Assert.Equal(pod.Metadata.Name, Str(volume["hotplugVolume"]!["attachPodName"]));
        Assert.Equal(pod.Metadata.Uid, Str(volume["hotplugVolume"]!["attachPodUID"]));
        Assert.Equal(Str(vmi["status"]!["nodeName"]), pod.Spec.NodeName);
        Assert.Equal("data", Assert.Single(pod.Spec.Volumes).PersistentVolumeClaim.ClaimName);
        var launcher = (await world.Client.CoreV1.ListNamespacedPodAsync("ns", labelSelector: "kubevirt.io=virt-launcher")).Items.Single();
        Assert.Equal(launcher.Metadata.Uid, Assert.Single(pod.Metadata.OwnerReferences).Uid);
        Assert.DoesNotContain(launcher.Spec.Volumes, v => v.PersistentVolumeClaim?.ClaimName == "data");

        // The boot disks keep their targets; the root DataVolume reports its claim.
        Assert.Equal("vda", Str(VolumeStatus(vmi, "rootdisk")!["target"]));
        Assert.Equal("vm-root", Str(VolumeStatus(vmi, "rootdisk")!["persistentVolumeClaimInfo"]!["claimName"]));
        Assert.Equal("vdb", Str(VolumeStatus(vmi, "cloudinitdisk")!["target"]));
        Assert.Null(VolumeStatus(vmi, "rootdisk")!["hotplugVolume"]);
        // A ReadWriteOnce claim makes the VMI block-migration only, as virt-handler re-evaluates it.
        var migratable = vmi["status"]!["conditions"]!.AsArray().Single(c => Str(c!["type"]) == "LiveMigratable")!;
        Assert.Equal("False", Str(migratable["status"]));
        Assert.Equal("DisksNotLiveMigratable", Str(migratable["reason"]));
        Assert.Equal("cannot migrate VMI: PVC data is not shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)", Str(migratable["message"]));

        // The disk is in the VMI spec and in the VM template as a hotplug volume; the request is gone.
        Assert.True(HasVolume(vmi["spec"], "data") && HasDisk(vmi["spec"], "data"));
        var vm = await world.WaitForVmAsync("ns", "vm", v => v["status"]?["volumeRequests"] is null, "volume requests handled");
        var template = vm["spec"]!["template"]!["spec"]!;
        var added = template["volumes"]!.AsArray().Single(v => Str(v!["name"]) == "data")!;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"name":"data","persistentVolumeClaim":{"claimName":"data","hotpluggable":true}}"""), added), added.ToJsonString());
        var disk = template["domain"]!["devices"]!["disks"]!.AsArray().Single(d => Str(d!["name"]) == "data")!;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"disk":{"bus":"scsi"},"name":"data"}"""), disk), disk.ToJsonString());
        Assert.False(HasCondition(vm, "RestartRequired"));
        Assert.Equal("Running", SimulatorWorld.PrintableStatus(vm));

        // KubeVirt's events: the attachment pod, the volume's phases from virt-controller and virt-handler.
        Assert.Contains(await EventsAsync(world, "SuccessfulCreate", "vm"), e => e.Message == $"Created attachment pod {pod.Metadata.Name}");
        Assert.Contains(await EventsAsync(world, "SuccessfulCreate", "vm"), e => e.Message == $"Created hotplug attachment pod {pod.Metadata.Name}, for volume data");
        Assert.Equal("Volume data has been mounted in virt-launcher pod", Assert.Single(await EventsAsync(world, "VolumeMountedToPod")).Message);
        var ready = Assert.Single(await EventsAsync(world, "VolumeReady"));
        Assert.Equal("virt-handler", ready.Source.Component);
        Assert.Equal("VirtualMachineInstance", ready.InvolvedObject.Kind);
    }

    [Fact]
    public async Task Removevolume_detaches_the_disk_and_drops_its_status_and_attachment_pod()
    {
        await using var world = await RunningVmAsync();
        await CreateClaimAsync(world, "data");
        await AttachAsync(world, "vm", "data");
        var pod = Assert.Single(await AttachmentPodsAsync(world)).Metadata.Name;

        var (code, _) = await PutAsync(world, "vm", "removevolume", """{"name":"data"}""");
        Assert.Equal(HttpStatusCode.Accepted, code);
        var vmi = await WaitForNoVolumeStatusAsync(world, "vm", "data");
        Assert.False(HasVolume(vmi["spec"], "data") || HasDisk(vmi["spec"], "data"));
        Assert.Contains(vmi["status"]!["conditions"]!.AsArray(), c => Str(c!["type"]) == "LiveMigratable" && Str(c["status"]) == "True");
        Assert.Empty(await AttachmentPodsAsync(world));
        var vm = await world.WaitForVmAsync("ns", "vm", v => v["status"]?["volumeRequests"] is null, "volume requests handled");
        Assert.False(HasVolume(vm["spec"]!["template"]!["spec"], "data") || HasDisk(vm["spec"]!["template"]!["spec"], "data"));
        Assert.False(HasCondition(vm, "RestartRequired"));

        Assert.Equal("Volume data has been unmounted from virt-launcher pod", Assert.Single(await EventsAsync(world, "VolumeUnMountedFromPod")).Message);
        Assert.Contains(await EventsAsync(world, "SuccessfulDelete", "vm"), e => e.Message == $"Deleted attachment pod {pod}");
        Assert.Equal("Volume data has been unplugged", Assert.Single(await EventsAsync(world, "VolumeUnplugged")).Message);
        // The claim itself stays, and can be attached again.
        Assert.Equal("Bound", (await world.Client.CoreV1.ReadNamespacedPersistentVolumeClaimAsync("data", "ns")).Status.Phase);
        await AttachAsync(world, "vm", "data");
    }

    [Fact]
    public async Task Requests_are_checked_like_virt_api_does()
    {
        await using var world = await RunningVmAsync();
        await CreateClaimAsync(world, "data");

        // An empty body decodes to empty options (Go's server never passes virt-api a nil body).
        foreach (var (action, body, message) in new (string, string?, string)[]
        {
            ("addvolume", null, "AddVolumeOptions requires name to be set"),
            ("addvolume", """{"name":"data"}""", "AddVolumeOptions requires disk to not be nil"),
            ("addvolume", """{"name":"data","disk":{}}""", "AddVolumeOptions requires VolumeSource to not be nil"),
            ("removevolume", "{}", "RemoveVolumeOptions requires name to be set"),
        })
        {
            var (code, status) = await PutAsync(world, "vm", action, body);
            Assert.Equal(HttpStatusCode.BadRequest, code);
            Assert.Equal(message, Message(status!));
            Assert.Equal("BadRequest", Str(status!["reason"]));
            Assert.Equal("Status", Str(status["kind"]));
        }
        var (badCode, badStatus) = await PutAsync(world, "vm", "addvolume", "{nope");
        Assert.Equal(HttpStatusCode.BadRequest, badCode);
        Assert.StartsWith("Can not unmarshal Request body to struct, error: ", Message(badStatus!), StringComparison.Ordinal);

        foreach (var (action, body, why) in new[]
        {
            ("addvolume", AddBody("rootdisk", "data"), "Unable to add volume [rootdisk] because volume with that name already exists"),
            ("addvolume", AddBody("other", "vm-root", dataVolume: true), "Unable to add volume source [vm-root] because it already exists"),
            ("removevolume", """{"name":"nope"}""", "Unable to remove volume [nope] because it does not exist"),
            ("removevolume", """{"name":"rootdisk"}""", "Unable to remove volume [rootdisk] because it is not hotpluggable"),
        })
        {
            var (code, status) = await PutAsync(world, "vm", action, body);
            Assert.Equal(HttpStatusCode.Conflict, code);
            Assert.Equal($"Operation cannot be fulfilled on virtualmachine.kubevirt.io \"vm\": {why}", Message(status!));
            Assert.Equal("Conflict", Str(status!["reason"]));
        }

        var (missing, missingStatus) = await PutAsync(world, "missing", "addvolume", AddBody("data"));
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal("virtualmachine.kubevirt.io \"missing\" not found", Message(missingStatus!));
        var get = await world.Http.GetAsync("apis/subresources.kubevirt.io/v1/namespaces/ns/virtualmachines/vm/addvolume");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);

        // dryRun validates and changes nothing.
        var before = await world.GetVmAsync("ns", "vm");
        var (dry, _) = await PutAsync(world, "vm", "addvolume", AddBody("data", dryRun: true));
        Assert.Equal(HttpStatusCode.Accepted, dry);
        var after = await world.GetVmAsync("ns", "vm");
        Assert.Equal(Str(before["metadata"]!["resourceVersion"]), Str(after["metadata"]!["resourceVersion"]));
        Assert.Null(after["status"]!["volumeRequests"]);
        var (dryConflict, _) = await PutAsync(world, "vm", "addvolume", AddBody("rootdisk", "data", dryRun: true));
        Assert.Equal(HttpStatusCode.Conflict, dryConflict);
    }

    [Fact]
    public async Task A_request_waits_while_the_vmi_is_not_running()
    {
        const string Image = "quay.io/containerdisks/fedora:41";
        await using var world = await StartAsync(o =>
        {
            WithHotplugGate(o);
            o.FailingImages.Add(Image);
        });
        await world.CreateVmAsync(SimulatorWorld.ContainerDiskVm("vm", "ns", Image));
        await world.WaitForPrintableStatusAsync("ns", "vm", "ErrImagePull");
        await CreateClaimAsync(world, "data");

        Assert.Equal(HttpStatusCode.Accepted, (await PutAsync(world, "vm", "addvolume", AddBody("data"))).Code);
        var (code, status) = await PutAsync(world, "vm", "addvolume", AddBody("data"));
        Assert.Equal(HttpStatusCode.Conflict, code);
        Assert.Equal("Operation cannot be fulfilled on virtualmachine.kubevirt.io \"vm\": add volume request for volume [data] already exists", Message(status!));
        // virt-controller's VMI addvolume call fails until the VMI runs; the template waits too.
        var vm = await world.WaitForVmAsync("ns", "vm", v => HasCondition(v, "Failure"), "Failure condition");
        var failure = vm["status"]!["conditions"]!.AsArray().Single(c => Str(c!["type"]) == "Failure")!;
        Assert.Equal("HotPlugVolumeError", Str(failure["reason"]));
        Assert.Equal("Error encountered while handling volume hotplug requests: Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io \"vm\": VMI is not running", Str(failure["message"]));
        Assert.Single(vm["status"]!["volumeRequests"]!.AsArray());
        Assert.False(HasVolume(vm["spec"]!["template"]!["spec"], "data"));

        world.Simulator.Options.FailingImages.Clear();
        var vmi = await WaitForVolumePhaseAsync(world, "vm", "data", "Ready");
        Assert.Equal("vda", Str(VolumeStatus(vmi, "containerdisk")!["target"]));
        Assert.NotNull(VolumeStatus(vmi, "containerdisk")!["containerDiskVolume"]!["checksum"]);
        vm = await world.WaitForVmAsync("ns", "vm", v => v["status"]?["volumeRequests"] is null && !HasCondition(v, "Failure"), "request applied");
        Assert.True(HasVolume(vm["spec"]!["template"]!["spec"], "data"));
        Assert.False(HasCondition(vm, "RestartRequired"));
    }

    [Fact]
    public async Task A_stopped_vm_gets_the_volume_in_its_template_and_attaches_it_on_start()
    {
        await using var world = await StartAsync();
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns", runStrategy: "Halted"));
        await world.WaitForPrintableStatusAsync("ns", "vm", "Stopped");
        await CreateClaimAsync(world, "data");

        Assert.Equal(HttpStatusCode.Accepted, (await PutAsync(world, "vm", "addvolume", AddBody("data"))).Code);
        var vm = await world.WaitForVmAsync("ns", "vm", v => v["status"]?["volumeRequests"] is null && HasDisk(v["spec"]!["template"]!["spec"], "data"), "template edited");
        Assert.True(HasVolume(vm["spec"]!["template"]!["spec"], "data"));
        Assert.False(await world.ExistsAsync(SimulatorWorld.KubeVirt, "v1", "virtualmachineinstances", "ns", "vm"));

        Assert.Equal(HttpStatusCode.Accepted, (await PutAsync(world, "vm", "start", null)).Code);
        var vmi = await WaitForVolumePhaseAsync(world, "vm", "data", "Ready");
        Assert.True(HasDisk(vmi["spec"], "data"));
        Assert.Equal("sda", Str(VolumeStatus(vmi, "data")!["target"]));
        Assert.Single(await AttachmentPodsAsync(world));
        Assert.False(HasCondition(await world.GetVmAsync("ns", "vm"), "RestartRequired"));

        // It is a hotplug volume like any other: it can be removed live.
        Assert.Equal(HttpStatusCode.Accepted, (await PutAsync(world, "vm", "removevolume", """{"name":"data"}""")).Code);
        await WaitForNoVolumeStatusAsync(world, "vm", "data");
        Assert.False(HasCondition(await world.GetVmAsync("ns", "vm"), "RestartRequired"));
    }

    [Fact]
    public async Task A_blank_datavolume_binds_at_once_and_hotplugs()
    {
        await using var world = await RunningVmAsync();
        await CreateBlankDataVolumeAsync(world, "scratch", "5Gi");
        await CreateDataVolumeAsync(world, "logs", """{"source":{"blank":{}},"pvc":{"accessModes":["ReadWriteOnce"],"volumeMode":"Block","resources":{"requests":{"storage":"2Gi"}}}}""");

        var dv = await SimulatorWorld.Eventually(() => world.GetAsync(Cdi, "v1beta1", "datavolumes", "ns", "scratch"),
            d => d["status"]?["phase"]?.GetValue<string>() == "Succeeded", "blank DataVolume Succeeded");
        Assert.Equal("100.0%", Str(dv["status"]!["progress"]));
        var claim = await world.Client.CoreV1.ReadNamespacedPersistentVolumeClaimAsync("scratch", "ns");
        Assert.Equal("Bound", claim.Status.Phase);
        Assert.Equal("5Gi", claim.Status.Capacity["storage"].ToString());
        Assert.Equal("none", claim.Metadata.Annotations["cdi.kubevirt.io/storage.import.source"]);
        Assert.Equal("scratch", Assert.Single(claim.Metadata.OwnerReferences).Name);
        var reasons = (await world.Client.CoreV1.ListNamespacedEventAsync("ns", fieldSelector: "involvedObject.name=scratch,involvedObject.kind=DataVolume")).Items.Select(e => e.Reason).ToList();
        Assert.Equal(["Bound", "ImportScheduled", "ImportSucceeded", "Pending"], reasons.Order());
        Assert.Equal("Successfully imported into PVC scratch", (await EventsAsync(world, "ImportSucceeded", "scratch")).Single().Message);

        var logs = await SimulatorWorld.Eventually(() => world.Client.CoreV1.ReadNamespacedPersistentVolumeClaimAsync("logs", "ns"), c => c.Status.Phase == "Bound", "logs bound");
        Assert.Equal("Block", logs.Spec.VolumeMode);
        Assert.Equal(["ReadWriteOnce"], logs.Spec.AccessModes);

        await AttachAsync(world, "vm", "scratch", dataVolume: true);
        await AttachAsync(world, "vm", "logs", dataVolume: true);
        var vmi = await world.GetVmiAsync("ns", "vm");
        Assert.Equal(["sda", "sdb"], new[] { "logs", "scratch" }.Select(n => Str(VolumeStatus(vmi, n)!["target"])).Order().ToArray());
        Assert.Equal("0", Str(VolumeStatus(vmi, "logs")!["persistentVolumeClaimInfo"]!["filesystemOverhead"]));
        var template = (await world.GetVmAsync("ns", "vm"))["spec"]!["template"]!["spec"]!;
        var added = template["volumes"]!.AsArray().Single(v => Str(v!["name"]) == "scratch")!;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"name":"scratch","dataVolume":{"name":"scratch","hotpluggable":true}}"""), added), added.ToJsonString());
        // Both disks share one attachment pod.
        Assert.Equal(2, Assert.Single(await AttachmentPodsAsync(world)).Spec.Volumes.Count);
    }

    [Fact]
    public async Task Deleting_a_vm_keeps_its_hotplugged_claims_and_datavolumes()
    {
        await using var world = await RunningVmAsync();
        await CreateClaimAsync(world, "data");
        await CreateBlankDataVolumeAsync(world, "scratch", "5Gi");
        await AttachAsync(world, "vm", "data");
        await AttachAsync(world, "vm", "scratch", dataVolume: true);

        await world.Client.CustomObjects.DeleteNamespacedCustomObjectAsync(SimulatorWorld.KubeVirt, "v1", "ns", "virtualmachines", "vm");
        await SimulatorWorld.Eventually(async () => await world.ExistsAsync(SimulatorWorld.KubeVirt, "v1", "virtualmachines", "ns", "vm"), exists => !exists, "VM gone");
        await SimulatorWorld.Eventually(async () => await world.ExistsAsync(Cdi, "v1beta1", "datavolumes", "ns", "vm-root"), exists => !exists, "root DataVolume collected");
        await SimulatorWorld.Eventually(() => AttachmentPodsAsync(world), pods => pods.Count == 0, "attachment pods gone");

        var data = await world.Client.CoreV1.ReadNamespacedPersistentVolumeClaimAsync("data", "ns");
        Assert.Null(data.Metadata.DeletionTimestamp);
        Assert.Equal("Bound", data.Status.Phase);
        var scratch = await world.GetAsync(Cdi, "v1beta1", "datavolumes", "ns", "scratch");
        Assert.Equal("Succeeded", Str(scratch["status"]!["phase"]));
        Assert.Null((await world.Client.CoreV1.ReadNamespacedPersistentVolumeClaimAsync("scratch", "ns")).Metadata.DeletionTimestamp);
        await SimulatorWorld.Eventually(async () => (await world.Client.CoreV1.ListNamespacedPersistentVolumeClaimAsync("ns")).Items.Select(c => c.Metadata.Name).Order().ToList(),
            names => names.SequenceEqual(["data", "scratch"]), "only the hotplugged claims left");
    }

    [Fact]
    public async Task A_claim_deleted_while_attached_stays_terminating_until_it_is_detached()
    {
        await using var world = await RunningVmAsync();
        var created = await CreateClaimAsync(world, "data");
        Assert.Contains("kubernetes.io/pvc-protection", created.Metadata.Finalizers);
        await AttachAsync(world, "vm", "data");

        var deleted = await world.Client.CoreV1.DeleteNamespacedPersistentVolumeClaimAsync("data", "ns");
        Assert.NotNull(deleted.Metadata.DeletionTimestamp);
        var claim = await world.Client.CoreV1.ReadNamespacedPersistentVolumeClaimAsync("data", "ns");
        Assert.NotNull(claim.Metadata.DeletionTimestamp);
        Assert.Contains("kubernetes.io/pvc-protection", claim.Metadata.Finalizers);

        // Still held by the attachment pod after the controllers have had several passes.
        await WaitForVolumePhaseAsync(world, "vm", "data", "Ready");
        Assert.True(await ClaimExistsAsync(world, "data"));

        Assert.Equal(HttpStatusCode.Accepted, (await PutAsync(world, "vm", "removevolume", """{"name":"data"}""")).Code);
        await SimulatorWorld.Eventually(() => ClaimExistsAsync(world, "data"), exists => !exists, "claim gone after detach");

        // An unused claim goes at once.
        await CreateClaimAsync(world, "spare");
        await world.Client.CoreV1.DeleteNamespacedPersistentVolumeClaimAsync("spare", "ns");
        await SimulatorWorld.Eventually(() => ClaimExistsAsync(world, "spare"), exists => !exists, "unused claim gone");
    }

    static async Task<bool> ClaimExistsAsync(SimulatorWorld world, string name) =>
        (await world.Client.CoreV1.ListNamespacedPersistentVolumeClaimAsync("ns", fieldSelector: $"metadata.name={name}")).Items.Count == 1;

    [Fact]
    public async Task A_ReadWriteOnce_claim_attached_on_one_node_waits_for_another_vm()
    {
        await using var world = await RunningVmAsync();
        await world.CreateVmAsync(SimulatorWorld.Vm("vm2", "ns"));
        await world.WaitForPrintableStatusAsync("ns", "vm2", "Running");
        Assert.NotEqual(Str((await world.GetVmiAsync("ns", "vm"))["status"]!["nodeName"]), Str((await world.GetVmiAsync("ns", "vm2"))["status"]!["nodeName"]));
        await CreateClaimAsync(world, "data");
        await AttachAsync(world, "vm", "data");
        var first = Assert.Single(await AttachmentPodsAsync(world)).Metadata.Name;

        Assert.Equal(HttpStatusCode.Accepted, (await PutAsync(world, "vm2", "addvolume", AddBody("data"))).Code);
        var vmi2 = await WaitForVolumePhaseAsync(world, "vm2", "data", "AttachedToNode");
        Assert.Null(VolumeStatus(vmi2, "data")!["hotplugVolume"]!["attachPodUID"]);
        var waiting = await SimulatorWorld.Eventually(() => AttachmentPodsAsync(world), pods => pods.Count == 2, "second attachment pod");
        var second = waiting.Single(p => p.Metadata.Name != first);
        Assert.Equal("Pending", second.Status.Phase);
        var error = Assert.Single(await EventsAsync(world, "FailedAttachVolume", second.Metadata.Name));
        var pv = (await world.Client.CoreV1.ReadNamespacedPersistentVolumeClaimAsync("data", "ns")).Spec.VolumeName;
        Assert.Equal($"Multi-Attach error for volume \"{pv}\" Volume is already used by pod(s) {first}", error.Message);
        Assert.Equal("attachdetach-controller", error.Source.Component);
        Assert.Equal("Warning", error.Type);

        // Once the first VM lets go, the second attaches.
        Assert.Equal(HttpStatusCode.Accepted, (await PutAsync(world, "vm", "removevolume", """{"name":"data"}""")).Code);
        await WaitForVolumePhaseAsync(world, "vm2", "data", "Ready");

        // A shared (ReadWriteMany) claim attaches to both at once.
        await CreateClaimAsync(world, "shared", accessMode: "ReadWriteMany");
        await AttachAsync(world, "vm", "shared");
        await AttachAsync(world, "vm2", "shared");
    }

    [Fact]
    public async Task A_missing_claim_leaves_the_volume_pending_until_it_appears()
    {
        await using var world = await RunningVmAsync();
        Assert.Equal(HttpStatusCode.Accepted, (await PutAsync(world, "vm", "addvolume", AddBody("ghost"))).Code);
        var vmi = await WaitForVolumePhaseAsync(world, "vm", "ghost", "Pending");
        Assert.Equal("FailedPvcNotFound", Str(VolumeStatus(vmi, "ghost")!["reason"]));
        Assert.Equal("PVC ghost not found", Str(VolumeStatus(vmi, "ghost")!["message"]));
        Assert.Empty(await AttachmentPodsAsync(world));
        Assert.Equal("Running", SimulatorWorld.PrintableStatus(await world.GetVmAsync("ns", "vm")));

        await CreateClaimAsync(world, "ghost");
        await WaitForVolumePhaseAsync(world, "vm", "ghost", "Ready");
    }

    [Fact]
    public async Task Vmi_addvolume_is_ephemeral_under_the_HotplugVolumes_gate()
    {
        await using var world = await RunningVmAsync(WithHotplugGate);
        await CreateClaimAsync(world, "data");
        var (code, _) = await PutAsync(world, "vm", "addvolume", AddBody("data"), "virtualmachineinstances");
        Assert.Equal(HttpStatusCode.Accepted, code);
        var vmi = await WaitForVolumePhaseAsync(world, "vm", "data", "Ready");
        Assert.True(HasDisk(vmi["spec"], "data"));
        var vm = await world.GetVmAsync("ns", "vm");
        Assert.False(HasVolume(vm["spec"]!["template"]!["spec"], "data"));
        Assert.False(HasCondition(vm, "RestartRequired"));

        var (missing, status) = await PutAsync(world, "nope", "addvolume", AddBody("data"), "virtualmachineinstances");
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal("virtualmachineinstance.kubevirt.io \"nope\" not found", Message(status!));
        (code, status) = await PutAsync(world, "vm", "removevolume", """{"name":"rootdisk"}""", "virtualmachineinstances");
        Assert.Equal(HttpStatusCode.Conflict, code);
        Assert.Equal("Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io \"vm\": Unable to remove volume [rootdisk] because it is not hotpluggable", Message(status!));

        Assert.Equal(HttpStatusCode.Accepted, (await PutAsync(world, "vm", "removevolume", """{"name":"data"}""", "virtualmachineinstances")).Code);
        await WaitForNoVolumeStatusAsync(world, "vm", "data");
    }

    [Fact]
    public async Task The_declarative_gate_edits_the_template_and_refuses_a_vms_vmi()
    {
        await using var world = await RunningVmAsync(o =>
        {
            o.FeatureGates.Clear();
            o.FeatureGates.Add("DeclarativeHotplugVolumes");
        });
        await CreateClaimAsync(world, "data");

        var (code, status) = await PutAsync(world, "vm", "addvolume", AddBody("data"), "virtualmachineinstances");
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal("VMI ns/vm is owned by a VM", Message(status!));

        // No volume request: the template changes directly and the running VMI follows it.
        Assert.Equal(HttpStatusCode.Accepted, (await PutAsync(world, "vm", "addvolume", AddBody("data"))).Code);
        var vm = await world.GetVmAsync("ns", "vm");
        Assert.Null(vm["status"]!["volumeRequests"]);
        Assert.True(HasVolume(vm["spec"]!["template"]!["spec"], "data"));
        await WaitForVolumePhaseAsync(world, "vm", "data", "Ready");
        Assert.Equal(HttpStatusCode.Accepted, (await PutAsync(world, "vm", "removevolume", """{"name":"data"}""")).Code);
        await WaitForNoVolumeStatusAsync(world, "vm", "data");
        Assert.False(HasCondition(await world.GetVmAsync("ns", "vm"), "RestartRequired"));

        world.Simulator.Options.FeatureGates.Clear();
        (code, status) = await PutAsync(world, "vm", "addvolume", AddBody("data"));
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal("Enable DeclarativeHotplugVolumes or HotplugVolumes feature gate to use this API.", Message(status!));
    }

    [Fact]
    public async Task A_hotplug_volume_written_into_the_template_needs_a_restart_without_the_declarative_gate()
    {
        // DeclarativeHotplugVolumes disabled, HotplugVolumes enabled: the template's volumes reach a running VMI only
        // through addvolume.
        await using var world = await RunningVmAsync(o =>
        {
            o.FeatureGates.Clear();
            o.FeatureGates.Add("HotplugVolumes");
        });
        await CreateClaimAsync(world, "data");
        var template = (await world.GetVmAsync("ns", "vm"))["spec"]!["template"]!["spec"]!;
        var volumes = template["volumes"]!.AsArray();
        volumes.Add(JsonNode.Parse("""{"name":"data","persistentVolumeClaim":{"claimName":"data","hotpluggable":true}}"""));
        var disks = template["domain"]!["devices"]!["disks"]!.AsArray();
        disks.Add(JsonNode.Parse("""{"name":"data","disk":{"bus":"scsi"}}"""));
        await world.PatchVmAsync("ns", "vm",
            new JsonObject { ["spec"] = new JsonObject { ["template"] = new JsonObject { ["spec"] = new JsonObject { ["volumes"] = volumes.DeepClone(), ["domain"] = new JsonObject { ["devices"] = new JsonObject { ["disks"] = disks.DeepClone() } } } } } }.ToJsonString(),
            V1Patch.PatchType.MergePatch);

        var vm = await world.WaitForVmAsync("ns", "vm", v => HasCondition(v, "RestartRequired"), "RestartRequired");
        var condition = vm["status"]!["conditions"]!.AsArray().Single(c => Str(c!["type"]) == "RestartRequired")!;
        Assert.Equal("the volumes replacement is effective only after restart", Str(condition["message"]));
        Assert.False(HasVolume((await world.GetVmiAsync("ns", "vm"))["spec"], "data"));
    }

    [Fact]
    public async Task Claims_are_validated_on_create_and_bind_with_their_request()
    {
        await using var world = await StartAsync();
        var (code, status) = await SimulatorWorld.FailureOf(() => world.Client.CoreV1.CreateNamespacedPersistentVolumeClaimAsync(
            new V1PersistentVolumeClaim { Metadata = new V1ObjectMeta { Name = "bad" }, Spec = new V1PersistentVolumeClaimSpec() }, "ns"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, code);
        Assert.Equal("PersistentVolumeClaim \"bad\" is invalid: [spec.accessModes: Required value: at least 1 access mode is required, spec.resources[storage]: Required value]", Message(status));
        Assert.Equal(2, status["details"]!["causes"]!.AsArray().Count);
        (code, status) = await SimulatorWorld.FailureOf(() => CreateClaimAsync(world, "odd", accessMode: "ReadWriteSometimes"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, code);
        Assert.StartsWith("PersistentVolumeClaim \"odd\" is invalid: spec.accessModes: Unsupported value: \"ReadWriteSometimes\": supported values: ", Message(status), StringComparison.Ordinal);

        await CreateClaimAsync(world, "data", size: "3Gi", volumeMode: "Block");
        var claim = await SimulatorWorld.Eventually(() => world.Client.CoreV1.ReadNamespacedPersistentVolumeClaimAsync("data", "ns"), c => c.Status.Phase == "Bound", "bound");
        Assert.Equal("3Gi", claim.Status.Capacity["storage"].ToString());
        Assert.Equal(["ReadWriteOnce"], claim.Status.AccessModes);
        Assert.Equal("Block", claim.Spec.VolumeMode);
        Assert.Equal("fast", claim.Spec.StorageClassName);
        Assert.Equal($"pvc-{claim.Metadata.Uid}", claim.Spec.VolumeName);
        Assert.Equal("data", Assert.Single((await world.Client.CoreV1.ListNamespacedPersistentVolumeClaimAsync("ns", labelSelector: "droplets.dev/volume=data")).Items).Metadata.Name);
    }
}
