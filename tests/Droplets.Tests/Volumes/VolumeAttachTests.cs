using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Tests.Infrastructure;
using KubeVirt.Simulator;

namespace Droplets.Tests.Volumes;

// Attach, detach, droplets created with volumes and droplet deletion, end to end. Hotplug takes a second in
// this world (AttachDelay), so a running attach can be met by other requests.
public abstract class VolumeAttachTests(VolumeAttachTests.World world)
{
    public sealed class OnStandalone(World<StandaloneKind> world) : VolumeAttachTests(world), IClassFixture<World<StandaloneKind>>;

    public sealed class OnFunctions(World<FunctionsKind> world) : VolumeAttachTests(world), IClassFixture<World<FunctionsKind>>;

    public sealed class World<TKind>() : World(TKind.Kind) where TKind : IHostKind;

    public class World(HostKind kind) : IAsyncLifetime
    {
        public KubeVirtSimulator Nyc1 { get; private set; } = null!;
        public KubeVirtSimulator Ams3 { get; private set; } = null!;
        public ApiHost Host { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Nyc1 = await TestRegion.StartAsync(Options());
            Ams3 = await TestRegion.StartAsync(Options());
            Host = await ApiHost.StartAsync(kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = Nyc1, ["ams3"] = Ams3 });
        }

        static SimulatorOptions Options()
        {
            var options = new SimulatorOptions
            {
                ImportDelay = TimeSpan.FromMilliseconds(100), BootDelay = TimeSpan.FromMilliseconds(200), AttachDelay = TimeSpan.FromSeconds(1),
            };
            options.FailingImages.Add(DropletsWorld.FailingImage);
            return options;
        }

        public async Task DisposeAsync()
        {
            await Host.DisposeAsync();
            await Nyc1.DisposeAsync();
            await Ams3.DisposeAsync();
        }
    }

    readonly ApiHost host = world.Host;
    readonly KubeVirtSimulator nyc1 = world.Nyc1;

    static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal(code, problem.GetProperty("code").GetString());
        return problem;
    }

    static string Detail(JsonElement problem) => problem.GetProperty("detail").GetString()!;

    // The region's KubeVirt feature gates for one test, restored after it.
    sealed class Gates : IDisposable
    {
        readonly ISet<string> gates;
        readonly string[] before;

        public Gates(KubeVirtSimulator region, params string[] use)
        {
            (gates, before) = (region.Options.FeatureGates, region.Options.FeatureGates.ToArray());
            Set(use);
        }

        void Set(string[] use)
        {
            gates.Clear();
            gates.UnionWith(use);
        }

        public void Dispose() => Set(before);
    }

    // Both ways KubeVirt 1.9 hotplugs: its default, DeclarativeHotplugVolumes (addvolume edits the VM's template and
    // virt-controller follows it), and with the deprecated HotplugVolumes gate enabled too (addvolume queues
    // status.volumeRequests, which virt-controller applies to the VMI and the template).
    [Theory]
    [InlineData("DeclarativeHotplugVolumes")]
    [InlineData("DeclarativeHotplugVolumes,HotplugVolumes")]
    public async Task Attach_hotplugs_into_a_running_droplet_and_detach_takes_it_out_again(string featureGates)
    {
        using var gates = new Gates(nyc1, featureGates.Split(','));
        var project = Repository.UniqueName("p");
        var droplet = await host.RunningDropletAsync(project);
        var volume = await host.AvailableVolumeAsync(project);
        var vmiUid = nyc1.Vmi(project, droplet)!["metadata"]!["uid"]!.GetValue<string>();

        var (response, accepted) = await host.VolumeActionAsync(volume, new { type = "attach", droplet_id = droplet });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(("attach", "in-progress", volume, "volume"), (accepted.GetProperty("type").GetString(), accepted.GetProperty("status").GetString(),
            accepted.GetProperty("resource_id").GetString(), accepted.GetProperty("resource_type").GetString()));
        Assert.Equal($"/api/v1/actions/{accepted.GetProperty("id").GetString()}", response.Headers.GetValues("Operation-Location").Single());
        var done = await host.WaitForActionAsync(accepted.GetProperty("id").GetString()!);
        Assert.Equal("completed", done.GetProperty("status").GetString());
        var attached = await host.GetVolumeAsync(volume);
        Assert.Equal(("attached", droplet, false), (attached.GetProperty("status").GetString(), attached.GetProperty("droplet_id").GetString(), attached.GetProperty("locked").GetBoolean()));
        var withVolume = await host.GetDropletAsync(droplet);
        Assert.Equal([volume], withVolume.GetProperty("volume_ids").Ids());
        Assert.Equal(("running", false), (withVolume.GetProperty("status").GetString(), withVolume.GetProperty("locked").GetBoolean()));
        // KubeVirt's view: a hotpluggable scsi disk in the template, Ready on the same (not restarted) VMI.
        Assert.Equal("Ready", nyc1.HotplugPhase(project, droplet, volume));
        Assert.Equal(vmiUid, nyc1.Vmi(project, droplet)!["metadata"]!["uid"]!.GetValue<string>());
        var template = nyc1.Vm(project, droplet)!["spec"]!["template"]!["spec"]!;
        var vmVolume = template["volumes"]!.AsArray().Single(v => v!["name"]!.GetValue<string>() == KubeNames.Object(volume))!;
        Assert.Equal(KubeNames.Object(volume), vmVolume["dataVolume"]!["name"]!.GetValue<string>());
        Assert.True(vmVolume["dataVolume"]!["hotpluggable"]!.GetValue<bool>());
        Assert.Equal("scsi", template["domain"]!["devices"]!["disks"]!.AsArray().Single(d => d!["name"]!.GetValue<string>() == KubeNames.Object(volume))!["disk"]!["bus"]!.GetValue<string>());

        var detached = await host.CompleteVolumeActionAsync(volume, new { type = "detach", droplet_id = droplet });

        Assert.Equal(("detach", "completed"), (detached.GetProperty("type").GetString(), detached.GetProperty("status").GetString()));
        var available = await host.GetVolumeAsync(volume);
        Assert.Equal(("available", JsonValueKind.Null), (available.GetProperty("status").GetString(), available.GetProperty("droplet_id").ValueKind));
        Assert.Empty((await host.GetDropletAsync(droplet)).GetProperty("volume_ids").Ids());
        Assert.False(nyc1.TemplateHas(project, droplet, volume));
        Assert.Null(nyc1.HotplugPhase(project, droplet, volume));
        Assert.NotNull(nyc1.Get("persistentvolumeclaims", KubeNames.Namespace(project), KubeNames.Object(volume)));
        Assert.Equal(["detach", "attach", "create"],
            (await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/volumes/{volume}/actions")).EnumerateArray().Select(a => a.GetProperty("type").GetString()));
    }

    [Fact]
    public async Task Attach_to_a_stopped_droplet_edits_its_template_and_its_next_boot_has_the_disk()
    {
        var project = Repository.UniqueName("p");
        var droplet = await host.RunningDropletAsync(project);
        var volume = await host.AvailableVolumeAsync(project);
        var off = await (await host.Client.PostAsJsonAsync($"api/v1/droplets/{droplet}/actions", new { type = "power_off" })).Content.ReadFromJsonAsync<JsonElement>();
        await host.WaitForActionAsync(off.GetProperty("id").GetString()!);

        Assert.Equal("completed", (await host.CompleteVolumeActionAsync(volume, new { type = "attach", droplet_id = droplet })).GetProperty("status").GetString());

        Assert.Equal("attached", (await host.GetVolumeAsync(volume)).GetProperty("status").GetString());
        Assert.Equal("stopped", (await host.GetDropletAsync(droplet)).GetProperty("status").GetString());
        Assert.True(nyc1.TemplateHas(project, droplet, volume));
        Assert.Null(nyc1.Vmi(project, droplet));

        var on = await (await host.Client.PostAsJsonAsync($"api/v1/droplets/{droplet}/actions", new { type = "power_on" })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("completed", (await host.WaitForActionAsync(on.GetProperty("id").GetString()!)).GetProperty("status").GetString());
        await Eventually.HoldsAsync(() => Task.FromResult(nyc1.HotplugPhase(project, droplet, volume)), phase => phase == "Ready",
            TimeSpan.FromSeconds(30), "the booted VMI to have the volume Ready");
    }

    [Fact]
    public async Task Attach_and_detach_that_make_no_sense_are_409_conflict_or_422_saying_why()
    {
        var project = Repository.UniqueName("p");
        var droplet = await host.RunningDropletAsync(project);
        var other = await host.RunningDropletAsync(project);
        var volume = await host.AvailableVolumeAsync(project);

        Assert.Contains("is available; detach needs it attached", Detail(await AssertProblemAsync((await host.VolumeActionAsync(volume, new { type = "detach" })).Response, HttpStatusCode.Conflict, "conflict")));
        await host.CompleteVolumeActionAsync(volume, new { type = "attach", droplet_id = droplet });

        var again = await AssertProblemAsync((await host.VolumeActionAsync(volume, new { type = "attach", droplet_id = other })).Response, HttpStatusCode.Conflict, "conflict");
        Assert.Contains($"already attached to droplet '{droplet}'", Detail(again));
        var wrong = await AssertProblemAsync((await host.VolumeActionAsync(volume, new { type = "detach", droplet_id = other })).Response, HttpStatusCode.Conflict, "conflict");
        Assert.Contains($"attached to droplet '{droplet}', not '{other}'", Detail(wrong));
        var delete = await AssertProblemAsync(await host.Client.DeleteAsync($"api/v1/volumes/{volume}"), HttpStatusCode.Conflict, "conflict");
        Assert.Contains($"attached to droplet '{droplet}'", Detail(delete));

        // Other regions and projects can never work: 422 on droplet_id.
        var elsewhere = await host.AvailableVolumeAsync(project, region: "ams3");
        var region = await AssertProblemAsync((await host.VolumeActionAsync(elsewhere, new { type = "attach", droplet_id = droplet })).Response,
            HttpStatusCode.UnprocessableEntity, "validation_failed");
        Assert.Contains("region 'nyc1'", region.GetProperty("errors").GetProperty("droplet_id")[0].GetString());
        var foreign = await host.AvailableVolumeAsync(Repository.UniqueName("p"));
        var projects = await AssertProblemAsync((await host.VolumeActionAsync(foreign, new { type = "attach", droplet_id = droplet })).Response,
            HttpStatusCode.UnprocessableEntity, "validation_failed");
        Assert.Contains($"project '{project}'", projects.GetProperty("errors").GetProperty("droplet_id")[0].GetString());

        // A droplet in error cannot take a disk.
        var broken = (await host.CreateDropletAsync(new { name = "broken", image = "fedora-latest", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project }))
            .GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(broken, "error");
        var spare = await host.AvailableVolumeAsync(project);
        var errored = await AssertProblemAsync((await host.VolumeActionAsync(spare, new { type = "attach", droplet_id = broken })).Response, HttpStatusCode.Conflict, "conflict");
        Assert.Contains("is error; attach needs it running or stopped", Detail(errored));

        // Nothing of it changed anything.
        Assert.Equal([volume], (await host.GetDropletAsync(droplet)).GetProperty("volume_ids").Ids());
        Assert.Empty((await host.GetDropletAsync(other)).GetProperty("volume_ids").Ids());
        foreach (var id in new[] { elsewhere, foreign, spare })
            Assert.Equal(("available", false), ((await host.GetVolumeAsync(id)).GetProperty("status").GetString(), (await host.GetVolumeAsync(id)).GetProperty("locked").GetBoolean()));
        Assert.False((await host.GetDropletAsync(broken)).GetProperty("locked").GetBoolean());
    }

    [Fact]
    public async Task KubeVirt_refusing_the_hotplug_ends_the_attach_errored_in_its_words_and_changes_nothing()
    {
        var project = Repository.UniqueName("p");
        var droplet = await host.RunningDropletAsync(project);
        var volume = await host.AvailableVolumeAsync(project);
        // A cluster without the hotplug feature gates: virt-api answers addvolume with a 400.
        JsonElement done;
        using (new Gates(nyc1))
            done = await host.CompleteVolumeActionAsync(volume, new { type = "attach", droplet_id = droplet });

        Assert.Equal("errored", done.GetProperty("status").GetString());
        Assert.Equal("kubevirt_refused", done.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("HotplugVolumes feature gate", done.GetProperty("error").GetProperty("message").GetString());
        var after = await host.GetVolumeAsync(volume);
        Assert.Equal(("available", JsonValueKind.Null, false), (after.GetProperty("status").GetString(), after.GetProperty("droplet_id").ValueKind, after.GetProperty("locked").GetBoolean()));
        var record = await host.GetDropletAsync(droplet);
        Assert.Equal(("running", false, 0), (record.GetProperty("status").GetString(), record.GetProperty("locked").GetBoolean(), record.GetProperty("volume_ids").GetArrayLength()));
        Assert.False(nyc1.TemplateHas(project, droplet, volume));
    }

    [Fact]
    public async Task A_running_attach_locks_the_volume_and_the_droplet_naming_itself()
    {
        var project = Repository.UniqueName("p");
        var droplet = await host.RunningDropletAsync(project);
        var volume = await host.AvailableVolumeAsync(project);
        var second = await host.AvailableVolumeAsync(project);

        var (_, attach) = await host.VolumeActionAsync(volume, new { type = "attach", droplet_id = droplet });
        var attachId = attach.GetProperty("id").GetString()!;

        var onVolume = await AssertProblemAsync((await host.VolumeActionAsync(volume, new { type = "resize", size_gigabytes = 20 })).Response, HttpStatusCode.Conflict, "locked");
        Assert.Contains(attachId, Detail(onVolume));
        var onDroplet = await AssertProblemAsync((await host.VolumeActionAsync(second, new { type = "attach", droplet_id = droplet })).Response, HttpStatusCode.Conflict, "locked");
        Assert.Contains(attachId, Detail(onDroplet));
        Assert.Contains($"Droplet '{droplet}'", Detail(onDroplet));
        var reboot = await AssertProblemAsync(await host.Client.PostAsJsonAsync($"api/v1/droplets/{droplet}/actions", new { type = "reboot" }), HttpStatusCode.Conflict, "locked");
        Assert.Contains(attachId, Detail(reboot));
        await AssertProblemAsync(await host.Client.DeleteAsync($"api/v1/droplets/{droplet}"), HttpStatusCode.Conflict, "locked");
        // The refused attach let its volume go again.
        Assert.False((await host.GetVolumeAsync(second)).GetProperty("locked").GetBoolean());

        Assert.Equal("completed", (await host.WaitForActionAsync(attachId)).GetProperty("status").GetString());
        Assert.Equal("completed", (await host.CompleteVolumeActionAsync(second, new { type = "attach", droplet_id = droplet })).GetProperty("status").GetString());
        Assert.Equal(new[] { volume, second }.Order(), (await host.GetDropletAsync(droplet)).GetProperty("volume_ids").Ids().Order());
    }

    [Fact]
    public async Task A_droplet_busy_with_another_action_refuses_attach_as_locked()
    {
        var project = Repository.UniqueName("p");
        var droplet = await host.RunningDropletAsync(project);
        var volume = await host.AvailableVolumeAsync(project);
        var reboot = await (await host.Client.PostAsJsonAsync($"api/v1/droplets/{droplet}/actions", new { type = "reboot" })).Content.ReadFromJsonAsync<JsonElement>();

        var problem = await AssertProblemAsync((await host.VolumeActionAsync(volume, new { type = "attach", droplet_id = droplet })).Response, HttpStatusCode.Conflict, "locked");

        Assert.Contains(reboot.GetProperty("id").GetString()!, Detail(problem));
        var after = await host.GetVolumeAsync(volume);
        Assert.Equal(("available", false), (after.GetProperty("status").GetString(), after.GetProperty("locked").GetBoolean()));
        Assert.Single((await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/volumes/{volume}/actions")).EnumerateArray());
        await host.WaitForActionAsync(reboot.GetProperty("id").GetString()!);
    }

    [Fact]
    public async Task Of_ten_concurrent_attaches_of_one_volume_exactly_one_is_accepted()
    {
        var project = Repository.UniqueName("p");
        var droplets = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => host.RunningDropletAsync(project)));
        var volume = await host.AvailableVolumeAsync(project);

        var answers = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => host.VolumeActionAsync(volume, new { type = "attach", droplet_id = droplets[i % 2] })));

        var accepted = Assert.Single(answers, a => a.Response.StatusCode == HttpStatusCode.Accepted);
        Assert.All(answers.Where(a => a.Response.StatusCode != HttpStatusCode.Accepted), a =>
        {
            Assert.Equal(HttpStatusCode.Conflict, a.Response.StatusCode);
            Assert.Contains(a.Body.GetProperty("code").GetString(), new[] { "locked", "conflict" });
        });
        Assert.Equal("completed", (await host.WaitForActionAsync(accepted.Body.GetProperty("id").GetString()!)).GetProperty("status").GetString());
        var owner = (await host.GetVolumeAsync(volume)).GetProperty("droplet_id").GetString()!;
        Assert.Equal([volume], (await host.GetDropletAsync(owner)).GetProperty("volume_ids").Ids());
        Assert.Empty((await host.GetDropletAsync(droplets.Single(d => d != owner))).GetProperty("volume_ids").Ids());
        Assert.False((await host.GetDropletAsync(droplets.Single(d => d != owner))).GetProperty("locked").GetBoolean());
    }

    [Fact]
    public async Task A_droplet_created_with_volumes_boots_with_them_attached()
    {
        var project = Repository.UniqueName("p");
        var volumes = await Task.WhenAll(host.AvailableVolumeAsync(project), host.AvailableVolumeAsync(project, size: 20));

        var created = await host.CreateDropletAsync(new { name = "db", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project, volume_ids = volumes });
        var droplet = created.GetProperty("id").GetString()!;
        Assert.Equal(volumes, created.GetProperty("volume_ids").Ids());
        // Held for the droplet while it is provisioned.
        foreach (var volume in volumes)
            Assert.True((await host.GetVolumeAsync(volume)).GetProperty("locked").GetBoolean());

        var running = await host.WaitForStatusAsync(droplet, "running");

        Assert.Equal("running", running.GetProperty("status").GetString());
        Assert.Equal(volumes, running.GetProperty("volume_ids").Ids());
        foreach (var volume in volumes)
        {
            var attached = await host.GetVolumeAsync(volume);
            Assert.Equal(("attached", droplet, false), (attached.GetProperty("status").GetString(), attached.GetProperty("droplet_id").GetString(), attached.GetProperty("locked").GetBoolean()));
            // Provisioning ends only once KubeVirt has the disks ready.
            Assert.Equal("Ready", nyc1.HotplugPhase(project, droplet, volume));
        }
        // Attached at create, detachable like any other.
        Assert.Equal("completed", (await host.CompleteVolumeActionAsync(volumes[0], new { type = "detach" })).GetProperty("status").GetString());
        Assert.Equal([volumes[1]], (await host.GetDropletAsync(droplet)).GetProperty("volume_ids").Ids());
    }

    [Fact]
    public async Task Create_with_volumes_that_cannot_be_attached_is_refused_naming_them_and_creates_nothing()
    {
        var project = Repository.UniqueName("p");
        var elsewhere = await host.AvailableVolumeAsync(project, region: "ams3");
        var foreign = await host.AvailableVolumeAsync(Repository.UniqueName("p"));
        var free = await host.AvailableVolumeAsync(project);
        async Task<HttpResponseMessage> CreateAsync(params string[] volumes) =>
            await host.Client.PostAsJsonAsync("api/v1/droplets", new { name = "db", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project, volume_ids = volumes });

        var invalid = await AssertProblemAsync(await CreateAsync(free, "vol_000000000000", elsewhere, foreign), HttpStatusCode.UnprocessableEntity, "validation_failed");
        var messages = invalid.GetProperty("errors").GetProperty("volume_ids").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(3, messages.Count);
        Assert.Contains(messages, m => m.Contains("'vol_000000000000' does not exist", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains($"'{elsewhere}' is in region 'ams3'", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains($"'{foreign}' is in project", StringComparison.Ordinal));
        await AssertProblemAsync(await CreateAsync(free, free), HttpStatusCode.UnprocessableEntity, "validation_failed");
        await AssertProblemAsync(await CreateAsync("vol_1"), HttpStatusCode.UnprocessableEntity, "validation_failed");

        var owner = await host.RunningDropletAsync(project);
        await host.CompleteVolumeActionAsync(free, new { type = "attach", droplet_id = owner });
        var spare = await host.AvailableVolumeAsync(project);
        var taken = await AssertProblemAsync(await CreateAsync(spare, free), HttpStatusCode.Conflict, "conflict");
        Assert.Contains($"already attached to droplet '{owner}'", Detail(taken));

        // Only the owner exists, and the volume that was reserved first went back.
        Assert.Equal([owner], (await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets?project_id={project}")).EnumerateArray().Select(d => d.GetProperty("id").GetString()));
        var released = await host.GetVolumeAsync(spare);
        Assert.Equal(("available", false), (released.GetProperty("status").GetString(), released.GetProperty("locked").GetBoolean()));
    }

    [Fact]
    public async Task Two_creates_with_the_same_volume_cannot_both_have_it()
    {
        var project = Repository.UniqueName("p");
        var volume = await host.AvailableVolumeAsync(project);

        var answers = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => host.Client.PostAsJsonAsync("api/v1/droplets",
            new { name = "db", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project, volume_ids = new[] { volume } })));

        var created = Assert.Single(answers, a => a.StatusCode == HttpStatusCode.Created);
        var refused = Assert.Single(answers, a => a.StatusCode != HttpStatusCode.Created);
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Contains((await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString(), new[] { "locked", "conflict" });
        var droplet = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(droplet, "running");
        Assert.Equal(droplet, (await host.GetVolumeAsync(volume)).GetProperty("droplet_id").GetString());
        Assert.Single((await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets?project_id={project}")).EnumerateArray());
    }

    [Fact]
    public async Task Deleting_a_droplet_detaches_its_volumes_and_keeps_their_claims_and_data()
    {
        var project = Repository.UniqueName("p");
        var atCreate = await host.AvailableVolumeAsync(project);
        var droplet = await host.RunningDropletAsync(project, volumes: [atCreate]);
        var hotplugged = await host.AvailableVolumeAsync(project);
        await host.CompleteVolumeActionAsync(hotplugged, new { type = "attach", droplet_id = droplet });
        Assert.Equal(2, (await host.GetDropletAsync(droplet)).GetProperty("volume_ids").GetArrayLength());

        var delete = await (await host.Client.DeleteAsync($"api/v1/droplets/{droplet}")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("completed", (await host.WaitForActionAsync(delete.GetProperty("id").GetString()!)).GetProperty("status").GetString());

        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync($"api/v1/droplets/{droplet}")).StatusCode);
        Assert.Null(nyc1.Vm(project, droplet));
        foreach (var volume in new[] { atCreate, hotplugged })
        {
            var available = await host.GetVolumeAsync(volume);
            Assert.Equal(("available", JsonValueKind.Null, false),
                (available.GetProperty("status").GetString(), available.GetProperty("droplet_id").ValueKind, available.GetProperty("locked").GetBoolean()));
            Assert.NotNull(nyc1.Get("datavolumes", KubeNames.Namespace(project), KubeNames.Object(volume)));
            var claim = nyc1.Get("persistentvolumeclaims", KubeNames.Namespace(project), KubeNames.Object(volume))!;
            Assert.Null(claim["metadata"]!["deletionTimestamp"]);
        }
        // Free to go to another droplet.
        var next = await host.RunningDropletAsync(project);
        Assert.Equal("completed", (await host.CompleteVolumeActionAsync(atCreate, new { type = "attach", droplet_id = next })).GetProperty("status").GetString());
    }

    [Fact]
    public async Task An_attached_volume_grows_in_place()
    {
        var project = Repository.UniqueName("p");
        var droplet = await host.RunningDropletAsync(project);
        var volume = await host.AvailableVolumeAsync(project);
        await host.CompleteVolumeActionAsync(volume, new { type = "attach", droplet_id = droplet });

        Assert.Equal("completed", (await host.CompleteVolumeActionAsync(volume, new { type = "resize", size_gigabytes = 40 })).GetProperty("status").GetString());

        var grown = await host.GetVolumeAsync(volume);
        Assert.Equal((40, "attached", droplet), (grown.GetProperty("size_gigabytes").GetInt32(), grown.GetProperty("status").GetString(), grown.GetProperty("droplet_id").GetString()));
        Assert.Equal("40Gi", nyc1.Get("persistentvolumeclaims", KubeNames.Namespace(project), KubeNames.Object(volume))!["status"]!["capacity"]!["storage"]!.GetValue<string>());
        Assert.False((await host.GetDropletAsync(droplet)).GetProperty("locked").GetBoolean());
    }
}
