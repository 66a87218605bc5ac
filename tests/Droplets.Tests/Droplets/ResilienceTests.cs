using System.Net.Http.Json;
using System.Text.Json;
using Azure.Data.Tables;
using Droplets.Droplets;
using Droplets.Tests.Infrastructure;
using KubeVirt.Simulator;

namespace Droplets.Tests.Droplets;

// Nothing acknowledged is lost: not when the host is killed mid-workflow, and not when it died
// between writing a droplet and starting its workflow.
public abstract class ResilienceTests(HostKind kind)
{
    public sealed class OnStandalone() : ResilienceTests(HostKind.Standalone);

    public sealed class OnFunctions() : ResilienceTests(HostKind.Functions);

    [Fact]
    public async Task Killed_host_resumes_provisioning_after_restart_with_one_virtual_machine()
    {
        // Booting takes long enough that the kill lands while the workflow is waiting on KubeVirt.
        await using var region = await TestRegion.StartAsync(new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(200), BootDelay = TimeSpan.FromSeconds(4) });
        // Work items held by the killed process become visible again after the visibility timeout; a
        // short one (above the observation wait) keeps the test quick.
        await using var host = await ApiHost.StartAsync(kind,
            new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region },
            new Dictionary<string, string> { ["Provisioning__ObserveWait"] = "00:00:03", ["DurableTask__VisibilityTimeout"] = "00:00:08" });
        var project = Repository.UniqueName("p");

        var id = (await host.CreateDropletAsync(new { name = "survivor", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project }))
            .GetProperty("id").GetString()!;
        await Eventually.HoldsAsync(() => Task.FromResult(region.List("virtualmachines", KubeNames.Namespace(project)).Count), n => n == 1,
            TimeSpan.FromSeconds(30), "the workflow to create the VirtualMachine");
        Assert.Equal("provisioning", (await host.GetDropletAsync(id)).GetProperty("status").GetString());

        await host.KillAsync();
        await host.StartAsync();

        var running = await host.WaitForStatusAsync(id, "running", ApiHost.ResumeDeadline);
        Assert.Equal("running", running.GetProperty("status").GetString());
        Assert.NotNull(running.GetProperty("public_ip").GetString());
        var machines = region.List("virtualmachines").Where(vm => vm["metadata"]?["labels"]?["droplets.dev/droplet-id"]?.GetValue<string>() == id);
        Assert.Single(machines);
    }

    [Fact]
    public async Task Droplet_stored_without_a_workflow_is_recovered()
    {
        await using var region = await TestRegion.StartAsync(new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(200), BootDelay = TimeSpan.FromMilliseconds(200) });
        await using var host = await ApiHost.StartAsync(kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region });

        // What the create handler writes first (the droplet, held by its create action); the "crash"
        // is that neither the action record nor the workflow follow.
        var store = new DropletStore(new TableServiceClient((await Azurite.SharedAsync()).ConnectionString), new StoreOptions { TablePrefix = host.TablePrefix });
        var now = DateTimeOffset.UtcNow;
        var orphanProject = Repository.UniqueName("p");
        var orphan = new Droplet
        {
            Id = DropletIds.New(), ProjectId = orphanProject, Namespace = KubeNames.Namespace(orphanProject), Name = "orphan", Image = "ubuntu-22-04", PlanId = "s-1vcpu-1gb",
            Region = "nyc1", Status = DropletStatus.Provisioning, Vcpus = 1, Memory = 1024, Disk = 25, CreatedAt = now, UpdatedAt = now,
            LockedBy = "act_0123456789ab", LockedFor = global::Droplets.Actions.ActionType.Create,
        };
        Assert.True(await store.TryAddAsync(orphan, CancellationToken.None));

        var running = await host.WaitForStatusAsync(orphan.Id, "running");

        Assert.Equal("running", running.GetProperty("status").GetString());
        Assert.False(running.GetProperty("locked").GetBoolean());
        Assert.Single(region.List("virtualmachines", KubeNames.Namespace(orphan.ProjectId)));
        // The droplet is recorded running just before its create action is completed: wait for the action too.
        var action = await Eventually.HoldsAsync(() => host.Client.GetFromJsonAsync<JsonElement>("api/v1/actions/act_0123456789ab"),
            a => a.GetProperty("status").GetString() != "in-progress", TimeSpan.FromSeconds(30), "the recovered create action to finish");
        Assert.Equal("completed", action.GetProperty("status").GetString());
        Assert.Equal("create", action.GetProperty("type").GetString());
    }

    static async Task<string> RebuildAsync(ApiHost host, string id) =>
        (await (await host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type = "rebuild", image = "ubuntu-24-04" })).Content.ReadFromJsonAsync<JsonElement>())
            .GetProperty("id").GetString()!;

    static async Task AssertRebuiltAsync(ApiHost host, KubeVirtSimulator region, string ns, string id)
    {
        var rebuilt = await host.GetDropletAsync(id);
        Assert.Equal(("running", false, "ubuntu-24-04"), (rebuilt.GetProperty("status").GetString(), rebuilt.GetProperty("locked").GetBoolean(), rebuilt.GetProperty("image").GetString()));
        var disk = region.Get("datavolumes", ns, id.Replace('_', '-') + "-root")!;
        Assert.Equal("docker://quay.io/containerdisks/ubuntu:24.04", disk["spec"]!["source"]!["registry"]!["url"]!.GetValue<string>());
        Assert.Equal("Running", region.Get("virtualmachineinstances", ns, id.Replace('_', '-'))!["status"]!["phase"]!.GetValue<string>());
    }

    [Fact]
    public async Task Killed_host_finishes_every_kind_of_action_after_restart()
    {
        // Slow stops, boots and hotplugs keep every action waiting on KubeVirt when the host dies.
        await using var region = await TestRegion.StartAsync(new SimulatorOptions
        {
            ImportDelay = TimeSpan.FromMilliseconds(100), BootDelay = TimeSpan.FromSeconds(3), StopDelay = TimeSpan.FromSeconds(3),
            HotplugDelay = TimeSpan.FromSeconds(3), ExpandDelay = TimeSpan.FromSeconds(3),
        });
        await using var host = await ApiHost.StartAsync(kind,
            new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region },
            new Dictionary<string, string> { ["Provisioning__ObserveWait"] = "00:00:03", ["DurableTask__VisibilityTimeout"] = "00:00:08" });
        var project = Repository.UniqueName("p");
        var ns = KubeNames.Namespace(project);
        async Task<string> RunningAsync(string name)
        {
            var id = (await host.CreateDropletAsync(new { name, image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project })).GetProperty("id").GetString()!;
            await host.WaitForStatusAsync(id, "running");
            return id;
        }
        async Task<JsonElement> FinishedAsync(string actionId) =>
            await Eventually.HoldsAsync(() => host.Client.GetFromJsonAsync<JsonElement>($"api/v1/actions/{actionId}"),
                a => a.GetProperty("status").GetString() != "in-progress", ApiHost.ResumeDeadline, $"action {actionId} to finish");
        async Task<string> ActAsync(string id, string type) =>
            (await (await host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type })).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

        var names = new[] { "rebooted", "stopped", "started", "resized", "deleted", "rebuilt" };
        var ids = (await Task.WhenAll(names.Select(RunningAsync))).Zip(names).ToDictionary(p => p.Second, p => p.First);
        await FinishedAsync(await ActAsync(ids["started"], "power_off"));
        var vmiBefore = region.Get("virtualmachineinstances", ns, ids["rebooted"].Replace('_', '-'))!["metadata"]!["uid"]!.GetValue<string>();

        var actions = new List<string>
        {
            await ActAsync(ids["rebooted"], "reboot"),
            await ActAsync(ids["stopped"], "power_off"),
            await ActAsync(ids["started"], "power_on"),
            (await (await host.Client.PatchAsJsonAsync($"api/v1/droplets/{ids["resized"]}", new { plan_id = "s-2vcpu-4gb" })).Content.ReadFromJsonAsync<JsonElement>())
                .GetProperty("action").GetProperty("id").GetString()!,
            (await (await host.Client.DeleteAsync($"api/v1/droplets/{ids["deleted"]}")).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!,
            await RebuildAsync(host, ids["rebuilt"]),
        };
        // Every workflow has made its request to KubeVirt (progress passes 40 only after it).
        foreach (var actionId in actions)
            await Eventually.HoldsAsync(() => host.Client.GetFromJsonAsync<JsonElement>($"api/v1/actions/{actionId}"),
                a => a.GetProperty("progress").GetInt32() >= 40, TimeSpan.FromSeconds(30), $"action {actionId} to reach KubeVirt");

        await host.KillAsync();
        await host.StartAsync();

        foreach (var actionId in actions)
            Assert.Equal("completed", (await FinishedAsync(actionId)).GetProperty("status").GetString());
        async Task<(string?, bool)> StateAsync(string name)
        {
            var d = await host.GetDropletAsync(ids[name]);
            return (d.GetProperty("status").GetString(), d.GetProperty("locked").GetBoolean());
        }
        Assert.Equal(("running", false), await StateAsync("rebooted"));
        Assert.Equal(("stopped", false), await StateAsync("stopped"));
        Assert.Equal(("running", false), await StateAsync("started"));
        Assert.Equal(("running", false), await StateAsync("resized"));
        Assert.Equal("s-2vcpu-4gb", (await host.GetDropletAsync(ids["resized"])).GetProperty("plan_id").GetString());
        Assert.Equal(2, region.Get("virtualmachineinstances", ns, ids["resized"].Replace('_', '-'))!["status"]!["currentCPUTopology"]!["sockets"]!.GetValue<int>());
        Assert.NotEqual(vmiBefore, region.Get("virtualmachineinstances", ns, ids["rebooted"].Replace('_', '-'))!["metadata"]!["uid"]!.GetValue<string>());
        Assert.Equal("Halted", region.Get("virtualmachines", ns, ids["stopped"].Replace('_', '-'))!["spec"]!["runStrategy"]!.GetValue<string>());
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await host.Client.GetAsync($"api/v1/droplets/{ids["deleted"]}")).StatusCode);
        await AssertRebuiltAsync(host, region, ns, ids["rebuilt"]);
        // KubeVirt and the records agree, and nothing was made twice.
        var machines = region.List("virtualmachines", ns).Select(vm => vm["metadata"]!["name"]!.GetValue<string>()).Order();
        Assert.Equal(names.Where(n => n != "deleted").Select(n => ids[n].Replace('_', '-')).Order(), machines);
        foreach (var name in names.Where(n => n != "deleted"))
            Assert.Equal(2, (await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets/{ids[name]}/actions")).GetArrayLength() - (name == "started" ? 1 : 0));
    }
}
