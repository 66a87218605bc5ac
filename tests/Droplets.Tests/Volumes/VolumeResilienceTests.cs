using System.Net.Http.Json;
using System.Text.Json;
using Azure.Data.Tables;
using Droplets.Actions;
using Droplets.Droplets;
using Droplets.Tests.Infrastructure;
using Droplets.Volumes;
using KubeVirt.Simulator;

namespace Droplets.Tests.Volumes;

// Nothing acknowledged about a volume is lost: not when the host is killed during an attach, and not when
// it died between taking a volume and starting the workflow that would release it.
public abstract class VolumeResilienceTests(HostKind kind)
{
    public sealed class OnStandalone() : VolumeResilienceTests(HostKind.Standalone);

    public sealed class OnFunctions() : VolumeResilienceTests(HostKind.Functions);

    [Fact]
    public async Task Killed_host_finishes_an_attach_after_restart_with_the_disk_added_once()
    {
        // A slow hotplug keeps the workflow waiting on KubeVirt when the host dies.
        await using var region = await TestRegion.StartAsync(new SimulatorOptions
        {
            ImportDelay = TimeSpan.FromMilliseconds(100), BootDelay = TimeSpan.FromMilliseconds(200), AttachDelay = TimeSpan.FromSeconds(4),
        });
        await using var host = await ApiHost.StartAsync(kind,
            new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region },
            new Dictionary<string, string> { ["Provisioning__ObserveWait"] = "00:00:03", ["DurableTask__VisibilityTimeout"] = "00:00:08" });
        var project = Repository.UniqueName("p");
        var droplet = await host.RunningDropletAsync(project);
        var volume = await host.AvailableVolumeAsync(project);

        var (_, attach) = await host.VolumeActionAsync(volume, new { type = "attach", droplet_id = droplet });
        var actionId = attach.GetProperty("id").GetString()!;
        // The workflow has made its request: KubeVirt has the disk in the template and is hotplugging it.
        await Eventually.HoldsAsync(() => Task.FromResult(region.TemplateHas(project, droplet, volume)), has => has,
            TimeSpan.FromSeconds(30), "the addvolume request to reach the VM");
        Assert.Equal("in-progress", (await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/actions/{actionId}")).GetProperty("status").GetString());

        await host.KillAsync();
        await host.StartAsync();

        Assert.Equal("completed", (await host.WaitForActionAsync(actionId, ApiHost.ResumeDeadline)).GetProperty("status").GetString());
        var attached = await host.GetVolumeAsync(volume);
        Assert.Equal(("attached", droplet, false), (attached.GetProperty("status").GetString(), attached.GetProperty("droplet_id").GetString(), attached.GetProperty("locked").GetBoolean()));
        var record = await host.GetDropletAsync(droplet);
        Assert.Equal([volume], record.GetProperty("volume_ids").Ids());
        Assert.Equal(("running", false), (record.GetProperty("status").GetString(), record.GetProperty("locked").GetBoolean()));
        Assert.Equal("Ready", region.HotplugPhase(project, droplet, volume));
        var template = region.Vm(project, droplet)!["spec"]!["template"]!["spec"]!;
        Assert.Single(template["volumes"]!.AsArray(), v => v!["name"]!.GetValue<string>() == KubeNames.Object(volume));
        Assert.Single(template["domain"]!["devices"]!["disks"]!.AsArray(), d => d!["name"]!.GetValue<string>() == KubeNames.Object(volume));
        Assert.Equal(2, (await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/volumes/{volume}/actions")).GetArrayLength());
    }

    [Fact]
    public async Task A_volume_taken_for_an_attach_without_a_workflow_is_recovered()
    {
        await using var region = await TestRegion.StartAsync(new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(100), BootDelay = TimeSpan.FromMilliseconds(200) });
        await using var host = await ApiHost.StartAsync(kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region });
        var project = Repository.UniqueName("p");
        var droplet = await host.RunningDropletAsync(project);
        var volume = await host.AvailableVolumeAsync(project);
        var (volumes, _) = await StoresAsync(host);

        // What the attach handler writes first; the "crash" is that the droplet's lock, the action record and
        // the workflow never follow.
        await volumes.UpdateAsync(project, volume, v => v with { LockedBy = "act_0123456789ab", LockedFor = ActionType.Attach, PendingDropletId = droplet }, CancellationToken.None);

        var attached = await host.WaitForVolumeAsync(volume, "attached");

        Assert.Equal(droplet, attached.GetProperty("droplet_id").GetString());
        Assert.Equal([volume], (await host.GetDropletAsync(droplet)).GetProperty("volume_ids").Ids());
        Assert.False((await host.GetDropletAsync(droplet)).GetProperty("locked").GetBoolean());
        var action = await host.Client.GetFromJsonAsync<JsonElement>("api/v1/actions/act_0123456789ab");
        Assert.Equal(("attach", "completed", volume), (action.GetProperty("type").GetString(), action.GetProperty("status").GetString(), action.GetProperty("resource_id").GetString()));
        Assert.Equal("Ready", region.HotplugPhase(project, droplet, volume));
    }

    [Fact]
    public async Task A_reservation_for_a_droplet_that_was_never_written_is_released()
    {
        await using var region = await TestRegion.StartAsync(new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(100) });
        await using var host = await ApiHost.StartAsync(kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region });
        var project = Repository.UniqueName("p");
        var volume = await host.AvailableVolumeAsync(project);
        var (volumes, droplets) = await StoresAsync(host);

        // A droplet create that reserved the volume and died before writing the droplet.
        var ghost = DropletIds.New();
        await volumes.UpdateAsync(project, volume, v => v with { LockedBy = "act_0000000000ff", LockedFor = ActionType.Create, PendingDropletId = ghost }, CancellationToken.None);
        Assert.True((await host.GetVolumeAsync(volume)).GetProperty("locked").GetBoolean());

        var released = await host.WaitForVolumeAsync(volume, "available");

        Assert.Equal(JsonValueKind.Null, released.GetProperty("droplet_id").ValueKind);
        Assert.Null(await droplets.GetAsync(ghost, CancellationToken.None));
    }

    static async Task<(VolumeStore, DropletStore)> StoresAsync(ApiHost host)
    {
        var tables = new TableServiceClient((await Azurite.SharedAsync()).ConnectionString);
        var options = new StoreOptions { TablePrefix = host.TablePrefix };
        return (new VolumeStore(tables, options), new DropletStore(tables, options));
    }
}
