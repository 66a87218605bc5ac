using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Tests.Infrastructure;
using Droplets.Tests.Volumes;
using KubeVirt.Simulator;
using Xunit.Abstractions;

namespace Droplets.Tests.Droplets;

// The outage suite: every kind of action, each caught mid-way (its workflow started and waiting on KubeVirt, which is
// slow here) by a fault of the region's API server or of the storage account that lasts longer than any fixed retry
// budget (six attempts 1 s doubling apart span 31 s) but less than the action's deadline. Every action must end as
// asked, unlocked, with the records agreeing with KubeVirt. The test prints its row of the matrix (action × fault → outcome).
public abstract class OutageMatrixTests(HostKind kind, ITestOutputHelper output)
{
    public sealed class OnStandalone(ITestOutputHelper output) : OutageMatrixTests(HostKind.Standalone, output);

    public sealed class OnFunctions(ITestOutputHelper output) : OutageMatrixTests(HostKind.Functions, output);

    static SimulatorOptions Fast() => new() { ImportDelay = TimeSpan.FromMilliseconds(200), BootDelay = TimeSpan.FromMilliseconds(500) };

    // A plan whose resize restarts the VM (its disk grows).
    static readonly Dictionary<string, string> RestartingPlan = new()
    {
        ["Catalog__Plans__t-1vcpu-1gb-80__Vcpus"] = "1",
        ["Catalog__Plans__t-1vcpu-1gb-80__MemoryMib"] = "1024",
        ["Catalog__Plans__t-1vcpu-1gb-80__DiskGib"] = "80",
    };

    // Two regions at once, each with its own fault and its own set of actions: nyc1's API server answers 500 (an
    // overloaded etcd) for 120 s, ams3's 401 (every call unauthorized: an expired or revoked token) for 90 s.
    [Fact]
    public async Task Every_action_caught_by_a_fault_shorter_than_its_deadline_ends_as_asked()
    {
        await using var nyc1 = await TestRegion.StartAsync(Fast());
        await using var ams3 = await TestRegion.StartAsync(Fast());
        await using var host = await ApiHost.StartAsync(kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = nyc1, ["ams3"] = ams3 }, RestartingPlan);
        var faults = new[] { Fault.ApiServer(nyc1, 500, 120), Fault.ApiServer(ams3, 401, 90) };
        Print(faults, await Task.WhenAll(CaughtAsync(host, nyc1, "nyc1", faults[0]), CaughtAsync(host, ams3, "ams3", faults[1])));
    }

    // The storage account (tables, queues and blobs: the records and the task hub) gone for 60 s: every connection to it
    // reset and refused, as when its Azurite is stopped, then back with the same data. KubeVirt goes on meanwhile, and
    // each workflow finds what it waits for done. Both hosts stop themselves during the outage, and their supervisor
    // starts them again, as this test does once storage is back: the Functions host because WebJobs cannot renew the
    // timer trigger's singleton lease (15 s) and treats that as unhandled ("Host is shutting down"), the standalone host
    // through its StorageWatchdog (storage unanswered for 15 s), since its Durable Task sidecar may not dispatch again.
    [Fact]
    public async Task Every_action_caught_by_storage_gone_for_60_s_ends_as_asked()
    {
        await using var storage = await StorageLink.OpenAsync();
        await using var region = await TestRegion.StartAsync(Fast());
        await using var host = await ApiHost.StartAsync(kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region },
            new Dictionary<string, string>(RestartingPlan) { ["AzureWebJobsStorage"] = storage.ConnectionString });
        var fault = new Fault("storage gone for 60 s", TimeSpan.FromSeconds(60), () =>
        {
            storage.Cut();
            return Task.CompletedTask;
        }, async () =>
        {
            storage.Mend();
            Assert.True(await host.ExitsWithinAsync(TimeSpan.FromSeconds(30)), "the host did not stop itself");
            await host.StartAsync();
        });
        Print([fault], [await CaughtAsync(host, region, "nyc1", fault)]);
    }

    // This host's row of the matrix: action × fault → outcome.
    void Print(Fault[] faults, Dictionary<string, string>[] rows)
    {
        output.WriteLine($"| action ({kind}) | {string.Join(" | ", faults.Select(f => f.Name))} |");
        output.WriteLine($"|---|{string.Concat(faults.Select(_ => "---|"))}");
        foreach (var key in rows[0].Keys)
            output.WriteLine($"| {key} | {string.Join(" | ", rows.Select(r => r[key]))} |");
    }

    // A fault that lasts Length: what begins it, what ends it, and for the API server's, how many calls it refused.
    sealed record Fault(string Name, TimeSpan Length, Func<Task> Begin, Func<Task> End, Func<long>? Refused = null)
    {
        public static Fault ApiServer(KubeVirtSimulator region, int status, int seconds) => new($"{status} for {seconds} s", TimeSpan.FromSeconds(seconds),
            () =>
            {
                region.Options.FaultStatus = status;
                region.Options.ErrorRate = 1;
                return Task.CompletedTask;
            },
            () =>
            {
                region.Options.ErrorRate = 0;
                region.Options.FaultStatus = 500;
                return Task.CompletedTask;
            },
            () => region.InjectedFaults);
    }

    // One region's share: every kind of action caught by the fault; answers each action's outcome.
    async Task<Dictionary<string, string>> CaughtAsync(ApiHost host, KubeVirtSimulator region, string regionName, Fault fault)
    {
        var project = Repository.UniqueName("p");
        var ns = KubeNames.Namespace(project);

        async Task<string> RunningAsync(string name, string plan = "s-1vcpu-1gb", string[]? volumes = null)
        {
            var id = (await host.CreateDropletAsync(new { name, image = "ubuntu-22-04", plan_id = plan, region = regionName, project_id = project, volume_ids = volumes ?? [] }))
                .GetProperty("id").GetString()!;
            Assert.Equal("running", (await host.WaitForStatusAsync(id, "running", TimeSpan.FromMinutes(2))).GetProperty("status").GetString());
            return id;
        }
        Task<string> ActAsync(string id, object body) => AcceptedAsync(host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", body));
        Task<string> VolumeActAsync(string id, object body) => AcceptedAsync(host.Client.PostAsJsonAsync($"api/v1/volumes/{id}/actions", body));

        var attachVolume = await host.AvailableVolumeAsync(project, region: regionName);
        var detachVolume = await host.AvailableVolumeAsync(project, region: regionName);
        var grownVolume = await host.AvailableVolumeAsync(project, region: regionName);
        var names = new[] { "rebooted", "stopped", "started", "live", "restarted", "deleted", "rebuilt", "attached", "detached" };
        var ids = (await Task.WhenAll(names.Select(name => name switch
        {
            "restarted" => RunningAsync(name, "s-2vcpu-4gb"),
            "detached" => RunningAsync(name, volumes: [detachVolume]),
            _ => RunningAsync(name),
        }))).Zip(names).ToDictionary(p => p.Second, p => p.First);
        await host.WaitForActionAsync(await ActAsync(ids["started"], new { type = "power_off" }), TimeSpan.FromMinutes(1));
        var vmiBefore = region.Vmi(project, ids["rebooted"])!["metadata"]!["uid"]!.GetValue<string>();

        // From here KubeVirt holds every change, so that every action is still waiting on it when the fault begins, however
        // long starting them takes on a loaded machine; once the fault has begun it acts again, slowly (its timers count
        // from each change's start, so what has waited 15 s is done at once).
        Slow(region, Held);
        var actions = new Dictionary<string, string>
        {
            ["create"] = (await host.CreateDropletAsync(new { name = "created", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = regionName, project_id = project }))
                .GetProperty("id").GetString()!,
            ["reboot"] = await ActAsync(ids["rebooted"], new { type = "reboot" }),
            ["power_off"] = await ActAsync(ids["stopped"], new { type = "power_off" }),
            ["power_on"] = await ActAsync(ids["started"], new { type = "power_on" }),
            ["live resize"] = await AcceptedAsync(host.Client.PatchAsJsonAsync($"api/v1/droplets/{ids["live"]}", new { plan_id = "s-1vcpu-2gb" }), wrapped: true),
            ["resize that restarts"] = await AcceptedAsync(host.Client.PatchAsJsonAsync($"api/v1/droplets/{ids["restarted"]}", new { plan_id = "t-1vcpu-1gb-80" }), wrapped: true),
            ["delete"] = await AcceptedAsync(host.Client.DeleteAsync($"api/v1/droplets/{ids["deleted"]}")),
            ["rebuild"] = await ActAsync(ids["rebuilt"], new { type = "rebuild", image = "debian-12" }),
            ["attach"] = await VolumeActAsync(attachVolume, new { type = "attach", droplet_id = ids["attached"] }),
            ["detach"] = await VolumeActAsync(detachVolume, new { type = "detach", droplet_id = ids["detached"] }),
            ["volume resize"] = await VolumeActAsync(grownVolume, new { type = "resize", size_gigabytes = 20 }),
        };
        var created = actions["create"];
        async Task<JsonElement> ActionAsync(string key) => key == "create"
            ? (await host.Client.GetFromJsonAsync<JsonElement[]>($"api/v1/droplets/{created}/actions"))!.Single()
            : await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/actions/{actions[key]}");

        // Mid-way: each workflow has started (its first progress is written before its first call to KubeVirt).
        await Task.WhenAll(actions.Keys.Where(k => k != "create").Select(key =>
            (Task)Eventually.HoldsAsync(() => ActionAsync(key), a => a.GetProperty("progress").GetInt32() >= 10, TimeSpan.FromSeconds(30), $"the {key} workflow to start"))
            .Append(Eventually.HoldsAsync(() => Task.FromResult(region.Vm(project, created)), vm => vm is not null, TimeSpan.FromSeconds(30), "the create to reach KubeVirt")));

        var caught = await Task.WhenAll(actions.Keys.Select(async key => (key, (await ActionAsync(key)).GetProperty("status").GetString())));
        Assert.All(caught, c => Assert.True(c.Item2 == "in-progress", $"{c.key} was still in progress when the fault began"));
        var refusedBefore = fault.Refused?.Invoke() ?? 0;
        await fault.Begin();
        Slow(region, TimeSpan.FromSeconds(15));
        try
        {
            // The length of the fault is the fault under test, not a wait for something to happen.
            await Task.Delay(fault.Length);
            if (fault.Refused is { } refused)
                Assert.True(refused() - refusedBefore >= actions.Count, $"the workflows kept calling through the fault ({refused() - refusedBefore} refused)");
        }
        finally
        {
            await fault.End();
        }

        var outcomes = new Dictionary<string, JsonElement>();
        foreach (var key in actions.Keys)
            outcomes[key] = await Eventually.HoldsAsync(() => ActionAsync(key), a => a.GetProperty("status").GetString() != "in-progress", TimeSpan.FromMinutes(3), $"the {key} to end");
        Assert.All(outcomes, o => Assert.True(o.Value.GetProperty("status").GetString() == "completed", $"{o.Key}: {o.Value}"));

        async Task<(string?, bool)> StateAsync(string id)
        {
            var d = await host.GetDropletAsync(id);
            return (d.GetProperty("status").GetString(), d.GetProperty("locked").GetBoolean());
        }
        Assert.Equal(("running", false), await StateAsync(created));
        Assert.Equal(("running", false), await StateAsync(ids["rebooted"]));
        Assert.NotEqual(vmiBefore, region.Vmi(project, ids["rebooted"])!["metadata"]!["uid"]!.GetValue<string>());
        Assert.Equal(("stopped", false), await StateAsync(ids["stopped"]));
        Assert.Equal("Halted", region.Vm(project, ids["stopped"])!["spec"]!["runStrategy"]!.GetValue<string>());
        Assert.Equal(("running", false), await StateAsync(ids["started"]));
        Assert.Equal("s-1vcpu-2gb", (await host.GetDropletAsync(ids["live"])).GetProperty("plan_id").GetString());
        Assert.Equal("t-1vcpu-1gb-80", (await host.GetDropletAsync(ids["restarted"])).GetProperty("plan_id").GetString());
        Assert.Equal(1, region.Vmi(project, ids["restarted"])!["spec"]!["domain"]!["cpu"]!["sockets"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync($"api/v1/droplets/{ids["deleted"]}")).StatusCode);
        Assert.Null(region.Vm(project, ids["deleted"]));
        Assert.Equal("debian-12", (await host.GetDropletAsync(ids["rebuilt"])).GetProperty("image").GetString());
        Assert.True(region.TemplateHas(project, ids["attached"], attachVolume));
        Assert.Equal("attached", (await host.GetVolumeAsync(attachVolume)).GetProperty("status").GetString());
        Assert.False(region.TemplateHas(project, ids["detached"], detachVolume));
        Assert.Equal("available", (await host.GetVolumeAsync(detachVolume)).GetProperty("status").GetString());
        Assert.Equal(20, (await host.GetVolumeAsync(grownVolume)).GetProperty("size_gigabytes").GetInt32());
        // Nothing made twice: one VirtualMachine per droplet that is left.
        var machines = region.List("virtualmachines", ns).Select(vm => vm["metadata"]!["name"]!.GetValue<string>()).Order();
        Assert.Equal(ids.Where(p => p.Key != "deleted").Select(p => KubeNames.Object(p.Value)).Append(KubeNames.Object(created)).Order(), machines);
        return outcomes.ToDictionary(o => o.Key, o => o.Value.GetProperty("status").GetString()!);
    }

    // Longer than the deadline (20 s here, 40 s for the create; about 40 s of 500s): every action ends errored in its words and
    // nothing stays locked. Once KubeVirt answers again the records agree with it (a VM that runs is running, a created
    // one with both IPs, a stopped one stopped, a resize rolled back) and the next action is accepted and completes
    // (delete again, rebuild again).
    [Fact]
    public async Task Every_action_caught_by_an_outage_longer_than_its_deadline_ends_errored_and_the_records_come_to_agree_with_kubevirt()
    {
        await using var region = await TestRegion.StartAsync(new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(200), BootDelay = TimeSpan.FromMilliseconds(500) });
        await using var host = await ApiHost.StartAsync(kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region },
            new Dictionary<string, string> { ["Actions__Deadline"] = "00:00:20", ["Provisioning__Deadline"] = "00:00:40" });
        var project = Repository.UniqueName("p");
        async Task<string> RunningAsync(string name, string[]? volumes = null)
        {
            var id = (await host.CreateDropletAsync(new { name, image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project, volume_ids = volumes ?? [] }))
                .GetProperty("id").GetString()!;
            Assert.Equal("running", (await host.WaitForStatusAsync(id, "running", TimeSpan.FromMinutes(2))).GetProperty("status").GetString());
            return id;
        }
        Task<string> ActAsync(string id, object body) => AcceptedAsync(host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", body));
        Task<string> VolumeActAsync(string id, object body) => AcceptedAsync(host.Client.PostAsJsonAsync($"api/v1/volumes/{id}/actions", body));

        var attachVolume = await host.AvailableVolumeAsync(project);
        var detachVolume = await host.AvailableVolumeAsync(project);
        var grownVolume = await host.AvailableVolumeAsync(project);
        var names = new[] { "rebooted", "stopped", "started", "resized", "deleted", "rebuilt", "attached", "detached" };
        var ids = (await Task.WhenAll(names.Select(name => name == "detached" ? RunningAsync(name, [detachVolume]) : RunningAsync(name))))
            .Zip(names).ToDictionary(p => p.Second, p => p.First);
        await host.WaitForActionAsync(await ActAsync(ids["started"], new { type = "power_off" }), TimeSpan.FromMinutes(1));

        // KubeVirt holds every change until the outage begins, so that no action is done before every action has
        // reached KubeVirt, however long that takes on a loaded machine.
        Slow(region, Held);
        var actions = new Dictionary<string, string>
        {
            ["reboot"] = await ActAsync(ids["rebooted"], new { type = "reboot" }),
            ["power_off"] = await ActAsync(ids["stopped"], new { type = "power_off" }),
            ["power_on"] = await ActAsync(ids["started"], new { type = "power_on" }),
            ["live resize"] = await AcceptedAsync(host.Client.PatchAsJsonAsync($"api/v1/droplets/{ids["resized"]}", new { plan_id = "s-1vcpu-2gb" }), wrapped: true),
            ["delete"] = await AcceptedAsync(host.Client.DeleteAsync($"api/v1/droplets/{ids["deleted"]}")),
            ["rebuild"] = await ActAsync(ids["rebuilt"], new { type = "rebuild", image = "debian-12" }),
            ["attach"] = await VolumeActAsync(attachVolume, new { type = "attach", droplet_id = ids["attached"] }),
            ["detach"] = await VolumeActAsync(detachVolume, new { type = "detach", droplet_id = ids["detached"] }),
            ["volume resize"] = await VolumeActAsync(grownVolume, new { type = "resize", size_gigabytes = 20 }),
        };
        ids["created"] = (await host.CreateDropletAsync(new { name = "created", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project }))
            .GetProperty("id").GetString()!;
        actions["create"] = (await host.Client.GetFromJsonAsync<JsonElement[]>($"api/v1/droplets/{ids["created"]}/actions"))!.Single().GetProperty("id").GetString()!;
        Task<JsonElement> ActionAsync(string key) => host.Client.GetFromJsonAsync<JsonElement>($"api/v1/actions/{actions[key]}");
        // Each has asked KubeVirt for its change (rebuild: it has asked for the stop; create: its VM and Service are
        // made), so KubeVirt acts during the outage.
        await Task.WhenAll(actions.Keys.Where(k => k != "create").Select(key => (Task)Eventually.HoldsAsync(() => ActionAsync(key),
            a => a.GetProperty("progress").GetInt32() >= (key is "live resize" ? 40 : key is "rebuild" or "attach" or "detach" or "volume resize" ? 10 : 50),
            TimeSpan.FromSeconds(30), $"the {key} to reach KubeVirt"))
            .Append(Eventually.HoldsAsync(() => Task.FromResult(region.Get("services", KubeNames.Namespace(project), KubeNames.Object(ids["created"]) + "-public")),
                service => service is not null, TimeSpan.FromSeconds(30), "the create to have made its VM and Service")));

        var caught = await Task.WhenAll(actions.Keys.Select(async key => (key, (await ActionAsync(key)).GetProperty("status").GetString())));
        Assert.All(caught, c => Assert.True(c.Item2 == "in-progress", $"{c.key} was still in progress when the outage began"));
        region.Options.ErrorRate = 1;
        // Then it acts, slowly (its timers count from each change's start), hotplugs slowest.
        Slow(region, TimeSpan.FromSeconds(12));
        region.Options.HotplugDelay = TimeSpan.FromSeconds(20);
        var outcomes = new Dictionary<string, JsonElement>();
        try
        {
            // A resize and an attach end only once their rollback is applied, a detach once it is asked of KubeVirt
            // again; that needs the cluster: after the outage.
            foreach (var key in actions.Keys.Except(AfterTheOutage))
                outcomes[key] = await Eventually.HoldsAsync(() => ActionAsync(key), a => a.GetProperty("status").GetString() != "in-progress",
                    TimeSpan.FromSeconds(60), $"the {key} to end at its deadline, during the outage");
            foreach (var key in AfterTheOutage)
                Assert.Equal("in-progress", (await ActionAsync(key)).GetProperty("status").GetString());
        }
        finally
        {
            // Held until those actions ended, each at its deadline: 20 s, and the create's 40 s, so that the outage
            // outlasts the deadline of every action by far, those that end after it included (started last, the
            // create would otherwise end at about their deadline, and they could see KubeVirt done just in time).
            region.Options.ErrorRate = 0;
        }
        foreach (var key in AfterTheOutage)
            outcomes[key] = await Eventually.HoldsAsync(() => ActionAsync(key), a => a.GetProperty("status").GetString() != "in-progress",
                TimeSpan.FromMinutes(1), $"the {key} to end once the cluster answers");
        output.WriteLine($"| action | 500 past its deadline ({kind}) |");
        output.WriteLine("|---|---|");
        foreach (var (key, outcome) in outcomes)
            output.WriteLine($"| {key} | {outcome.GetProperty("status").GetString()} ({(outcome.TryGetProperty("error", out var error) ? error.GetProperty("code").GetString() : "")}) |");
        Assert.All(outcomes, o => Assert.True(o.Value.GetProperty("status").GetString() == "errored", $"{o.Key}: {o.Value}"));

        Task<JsonElement> SettledAsync(string name, string status) => Eventually.HoldsAsync(() => host.GetDropletAsync(ids[name]),
            d => d.GetProperty("status").GetString() == status && !d.GetProperty("locked").GetBoolean(), TimeSpan.FromMinutes(1), $"{name} to be {status} as KubeVirt has it");
        // The create, cut short before KubeVirt said Running, is running with both IPs once its VM is.
        var created = await SettledAsync("created", "running");
        Assert.False(string.IsNullOrEmpty(created.GetProperty("public_ip").GetString()));
        Assert.False(string.IsNullOrEmpty(created.GetProperty("private_ip").GetString()));
        await SettledAsync("rebooted", "running");
        await SettledAsync("stopped", "stopped");
        await SettledAsync("started", "running");
        var resized = await SettledAsync("resized", "running");
        // Rolled back: the plan is the old one, and so is the VM's template.
        Assert.Equal("s-1vcpu-1gb", resized.GetProperty("plan_id").GetString());
        Assert.Equal("1024Mi", region.Vm(project, ids["resized"])!["spec"]!["template"]!["spec"]!["domain"]!["memory"]!["guest"]!.GetValue<string>());
        var deleted = await host.GetDropletAsync(ids["deleted"]);
        Assert.Equal(("error", false), (deleted.GetProperty("status").GetString(), deleted.GetProperty("locked").GetBoolean()));
        var rebuilt = await SettledAsync("rebuilt", "error");
        Assert.Equal("ubuntu-22-04", rebuilt.GetProperty("image").GetString());
        // Each volume as KubeVirt has it once no hotplug is queued, and nothing it held still held.
        foreach (var (volume, droplet) in new[] { (attachVolume, "attached"), (detachVolume, "detached") })
        {
            var settled = await Eventually.HoldsAsync(() => host.GetVolumeAsync(volume), v => !v.GetProperty("locked").GetBoolean()
                && v.GetProperty("status").GetString() == (region.TemplateHas(project, ids[droplet], volume) ? "attached" : "available"),
                TimeSpan.FromMinutes(1), $"volume {volume} to be as KubeVirt has it");
            Assert.False((await host.GetDropletAsync(ids[droplet])).GetProperty("locked").GetBoolean());
            output.WriteLine($"{droplet}: volume {settled.GetProperty("status").GetString()}");
        }
        var grown = await Eventually.HoldsAsync(() => host.GetVolumeAsync(grownVolume), v => !v.GetProperty("locked").GetBoolean(),
            TimeSpan.FromMinutes(1), "the resized volume to be released");
        Assert.Equal("available", grown.GetProperty("status").GetString());

        // The next action is accepted and completes, at KubeVirt's usual pace again (slowed, it would outlast the deadline).
        Slow(region, TimeSpan.FromMilliseconds(500));
        Assert.Equal("completed", (await host.WaitForActionAsync(await ActAsync(ids["rebooted"], new { type = "reboot" }))).GetProperty("status").GetString());
        Assert.Equal("completed", (await host.WaitForActionAsync(await AcceptedAsync(host.Client.DeleteAsync($"api/v1/droplets/{ids["deleted"]}")))).GetProperty("status").GetString());
        Assert.Null(region.Vm(project, ids["deleted"]));
        Assert.Equal("completed", (await host.WaitForActionAsync(await ActAsync(ids["rebuilt"], new { type = "rebuild", image = "debian-12" }))).GetProperty("status").GetString());
        Assert.Equal(("running", "debian-12"), ((await host.GetDropletAsync(ids["rebuilt"])).GetProperty("status").GetString(), (await host.GetDropletAsync(ids["rebuilt"])).GetProperty("image").GetString()));
        var regrown = await host.CompleteVolumeActionAsync(grownVolume, new { type = "resize", size_gigabytes = 20 });
        Assert.True(regrown.GetProperty("status").GetString() == "completed", regrown.ToString());
        Assert.Equal(20, (await host.GetVolumeAsync(grownVolume)).GetProperty("size_gigabytes").GetInt32());
    }

    static readonly string[] AfterTheOutage = ["live resize", "attach", "detach"];

    // Longer than any test runs: KubeVirt does nothing it is asked until told otherwise.
    static readonly TimeSpan Held = TimeSpan.FromHours(1);

    static void Slow(KubeVirtSimulator region, TimeSpan delay)
    {
        region.Options.BootDelay = delay;
        region.Options.StopDelay = delay;
        region.Options.HotplugDelay = delay;
        region.Options.ExpandDelay = delay;
        region.Options.AttachDelay = delay;
        region.Options.ImportDelay = TimeSpan.FromSeconds(1);
    }

    // The id of the action a 202 answers with (PATCH wraps it with the droplet).
    static async Task<string> AcceptedAsync(Task<HttpResponseMessage> request, bool wrapped = false)
    {
        var response = await request;
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, body.ToString());
        return (wrapped ? body.GetProperty("action") : body).GetProperty("id").GetString()!;
    }
}
