using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Tests.Infrastructure;
using KubeVirt.Simulator;
using Xunit.Abstractions;

namespace Droplets.Tests.Droplets;

// Where the hosts differ on purpose: the standalone host's shutdown is ours; the Functions host's is the Functions
// host's own (it drains and cancels functions on its terms, see HostKinds.cs).
public class StandaloneShutdownTests(ITestOutputHelper output)
{
    // SIGTERM mid-action: the host stops within 10 s (an observation in flight ends at once instead of polling out its
    // Provisioning:ObserveWait), and the action it handed back completes after the restart.
    [Fact]
    public async Task A_terminated_host_stops_within_ten_seconds_and_the_action_completes_after_restart()
    {
        await using var region = await TestRegion.StartAsync(new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(100), BootDelay = TimeSpan.FromSeconds(4) });
        await using var host = await ApiHost.StartAsync(HostKind.Standalone, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region },
            new Dictionary<string, string> { ["DurableTask__VisibilityTimeout"] = "00:00:08" });
        var project = Repository.UniqueName("p");
        var id = (await host.CreateDropletAsync(new { name = "sigterm", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project }))
            .GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(id, "running");

        var reboot = await host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type = "reboot" });
        var actionId = (await reboot.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        // Waiting on KubeVirt: the action's workflow has asked for the restart and observes the boot.
        await Eventually.HoldsAsync(() => host.Client.GetFromJsonAsync<JsonElement>($"api/v1/actions/{actionId}"), a => a.GetProperty("progress").GetInt32() >= 50,
            TimeSpan.FromSeconds(30), "the reboot to wait on KubeVirt");

        var stopped = await host.TerminateAsync(TimeSpan.FromSeconds(10));
        Assert.True(stopped is not null, "the host still ran 10 s after SIGTERM:\n" + string.Join("\n", host.Output.Split('\n').TakeLast(40)));
        output.WriteLine($"stopped {stopped!.Value.TotalSeconds:0.0} s after SIGTERM");
        await host.StartAsync();

        var action = await Eventually.HoldsAsync(() => host.Client.GetFromJsonAsync<JsonElement>($"api/v1/actions/{actionId}"),
            a => a.GetProperty("status").GetString() != "in-progress", ApiHost.ResumeDeadline, "the reboot to end after the restart");
        Assert.Equal("completed", action.GetProperty("status").GetString());
        Assert.Equal("running", (await host.GetDropletAsync(id)).GetProperty("status").GetString());
    }
}
