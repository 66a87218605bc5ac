using System.Net.Http.Json;
using System.Text.Json;
using Azure.Data.Tables;
using Droplets.Droplets;
using Droplets.Tests.Infrastructure;
using KubeVirt.Simulator;

namespace Droplets.Tests.Droplets;

// Nothing acknowledged is lost: not when the host is killed mid-workflow, and not when it died
// between writing a droplet and starting its workflow.
public class ResilienceTests
{
    [Fact]
    public async Task Killed_host_resumes_provisioning_after_restart_with_one_virtual_machine()
    {
        // Booting takes long enough that the kill lands while the workflow is waiting on KubeVirt.
        await using var region = await KubeVirtSimulator.StartAsync(new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(200), BootDelay = TimeSpan.FromSeconds(4) });
        // Work items held by the killed process become visible again after the visibility timeout; a
        // short one (above the observation wait) keeps the test quick.
        await using var host = await StandaloneHost.StartAsync(
            new Dictionary<string, Uri> { ["nyc1"] = region.BaseAddress },
            new Dictionary<string, string> { ["Provisioning__ObserveWait"] = "00:00:03", ["DurableTask__VisibilityTimeout"] = "00:00:08" });
        var project = Repository.UniqueName("p");

        var id = (await host.CreateDropletAsync(new { name = "survivor", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project }))
            .GetProperty("id").GetString()!;
        await Eventually.HoldsAsync(() => Task.FromResult(region.List("virtualmachines", project.Replace('_', '-')).Count), n => n == 1,
            TimeSpan.FromSeconds(30), "the workflow to create the VirtualMachine");
        Assert.Equal("provisioning", (await host.GetDropletAsync(id)).GetProperty("status").GetString());

        await host.KillAsync();
        await host.StartAsync();

        var running = await host.WaitForStatusAsync(id, "running");
        Assert.Equal("running", running.GetProperty("status").GetString());
        Assert.NotNull(running.GetProperty("public_ip").GetString());
        var machines = region.List("virtualmachines").Where(vm => vm["metadata"]?["labels"]?["droplets.dev/droplet-id"]?.GetValue<string>() == id);
        Assert.Single(machines);
    }

    [Fact]
    public async Task Droplet_stored_without_a_workflow_is_recovered()
    {
        await using var region = await KubeVirtSimulator.StartAsync(new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(200), BootDelay = TimeSpan.FromMilliseconds(200) });
        await using var host = await StandaloneHost.StartAsync(new Dictionary<string, Uri> { ["nyc1"] = region.BaseAddress });

        // What the create handler writes first (the droplet, held by its create action); the "crash"
        // is that neither the action record nor the workflow follow.
        var store = new DropletStore(new TableServiceClient((await Azurite.SharedAsync()).ConnectionString), new StoreOptions { TablePrefix = host.TablePrefix });
        var now = DateTimeOffset.UtcNow;
        var orphan = new Droplet
        {
            Id = DropletIds.New(), ProjectId = Repository.UniqueName("p"), Name = "orphan", Image = "ubuntu-22-04", PlanId = "s-1vcpu-1gb",
            Region = "nyc1", Status = DropletStatus.Provisioning, Vcpus = 1, Memory = 1024, Disk = 25, CreatedAt = now, UpdatedAt = now,
            LockedBy = "act_0123456789ab", LockedFor = global::Droplets.Actions.ActionType.Create,
        };
        Assert.True(await store.TryAddAsync(orphan, CancellationToken.None));

        var running = await host.WaitForStatusAsync(orphan.Id, "running");

        Assert.Equal("running", running.GetProperty("status").GetString());
        Assert.False(running.GetProperty("locked").GetBoolean());
        Assert.Single(region.List("virtualmachines", orphan.ProjectId.Replace('_', '-')));
        var action = await host.Client.GetFromJsonAsync<JsonElement>("api/v1/actions/act_0123456789ab");
        Assert.Equal("completed", action.GetProperty("status").GetString());
        Assert.Equal("create", action.GetProperty("type").GetString());
    }

    [Fact]
    public async Task Killed_host_finishes_reboot_and_delete_after_restart()
    {
        // Slow stops and boots keep both actions waiting on KubeVirt when the host dies.
        await using var region = await KubeVirtSimulator.StartAsync(new SimulatorOptions
        {
            ImportDelay = TimeSpan.FromMilliseconds(100), BootDelay = TimeSpan.FromSeconds(3), StopDelay = TimeSpan.FromSeconds(3),
        });
        await using var host = await StandaloneHost.StartAsync(
            new Dictionary<string, Uri> { ["nyc1"] = region.BaseAddress },
            new Dictionary<string, string> { ["Provisioning__ObserveWait"] = "00:00:03", ["DurableTask__VisibilityTimeout"] = "00:00:08" });
        var project = Repository.UniqueName("p");
        var ns = project.Replace('_', '-');
        async Task<string> CreateAsync(string name) =>
            (await host.CreateDropletAsync(new { name, image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project })).GetProperty("id").GetString()!;
        var rebooted = await CreateAsync("rebooted");
        var deleted = await CreateAsync("deleted");
        await host.WaitForStatusAsync(rebooted, "running");
        await host.WaitForStatusAsync(deleted, "running");
        var vmiBefore = region.Get("virtualmachineinstances", ns, rebooted.Replace('_', '-'))!["metadata"]!["uid"]!.GetValue<string>();

        var reboot = await (await host.Client.PostAsJsonAsync($"api/v1/droplets/{rebooted}/actions", new { type = "reboot" })).Content.ReadFromJsonAsync<JsonElement>();
        var delete = await (await host.Client.DeleteAsync($"api/v1/droplets/{deleted}")).Content.ReadFromJsonAsync<JsonElement>();
        // Both workflows have reached KubeVirt: the old VMI is going away, the VM is terminating.
        await Eventually.HoldsAsync(() => Task.FromResult(
                region.Get("virtualmachineinstances", ns, rebooted.Replace('_', '-'))?["metadata"]?["deletionTimestamp"] is not null
                && region.Get("virtualmachines", ns, deleted.Replace('_', '-'))?["metadata"]?["deletionTimestamp"] is not null),
            done => done, TimeSpan.FromSeconds(30), "the reboot and the delete to reach KubeVirt");

        await host.KillAsync();
        await host.StartAsync();

        foreach (var action in new[] { reboot, delete })
        {
            var id = action.GetProperty("id").GetString()!;
            var done = await Eventually.HoldsAsync(() => host.Client.GetFromJsonAsync<JsonElement>($"api/v1/actions/{id}"),
                a => a.GetProperty("status").GetString() != "in-progress", TimeSpan.FromSeconds(90), $"action {id} to finish");
            Assert.Equal("completed", done.GetProperty("status").GetString());
        }
        var after = await host.GetDropletAsync(rebooted);
        Assert.Equal("running", after.GetProperty("status").GetString());
        Assert.False(after.GetProperty("locked").GetBoolean());
        Assert.NotEqual(vmiBefore, region.Get("virtualmachineinstances", ns, rebooted.Replace('_', '-'))!["metadata"]!["uid"]!.GetValue<string>());
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await host.Client.GetAsync($"api/v1/droplets/{deleted}")).StatusCode);
        var machines = region.List("virtualmachines", ns);
        Assert.Equal([rebooted.Replace('_', '-')], machines.Select(vm => vm["metadata"]!["name"]!.GetValue<string>()));
    }
}
