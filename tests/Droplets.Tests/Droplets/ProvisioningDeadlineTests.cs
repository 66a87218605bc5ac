using Droplets.Tests.Infrastructure;
using KubeVirt.Simulator;

namespace Droplets.Tests.Droplets;

public class ProvisioningDeadlineTests
{
    [Theory, BothHosts]
    public async Task Droplet_that_never_boots_ends_in_error_at_the_deadline(HostKind kind)
    {
        await using var region = await TestRegion.StartAsync(new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(100), BootDelay = TimeSpan.FromHours(1) });
        await using var host = await ApiHost.StartAsync(kind,
            new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region },
            new Dictionary<string, string> { ["Provisioning__Deadline"] = "00:00:04" });

        var id = (await host.CreateDropletAsync(new { name = "slow", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1" }))
            .GetProperty("id").GetString()!;
        var failed = await host.WaitForStatusAsync(id, "error");

        var error = failed.GetProperty("error");
        Assert.Equal("provisioning_timeout", error.GetProperty("code").GetString());
        Assert.Contains("within 4 s", error.GetProperty("message").GetString());
        Assert.Contains("Starting", error.GetProperty("message").GetString());
    }
}
