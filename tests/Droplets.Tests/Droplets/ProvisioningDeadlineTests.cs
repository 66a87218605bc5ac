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

    // A region whose API server refuses every connection: the create ends in error at its deadline, in words written for
    // the caller. The connection's exception names the endpoint ("Connection refused (127.0.0.1:port)"); the answer
    // never does (it goes to the log).
    [Theory, BothHosts]
    public async Task A_create_whose_cluster_cannot_be_reached_ends_in_error_without_naming_the_endpoint(HostKind kind)
    {
        var closed = new Uri($"http://127.0.0.1:{Repository.FreePort()}");
        await using var host = await ApiHost.StartAsync(kind, new Dictionary<string, Uri> { ["nyc1"] = closed },
            new Dictionary<string, string> { ["Provisioning__Deadline"] = "00:00:04", ["Catalog__Regions__nyc1__Token"] = "not-a-real-token" });

        var id = (await host.CreateDropletAsync(new { name = "unreachable", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1" }))
            .GetProperty("id").GetString()!;
        var failed = await host.WaitForStatusAsync(id, "error", TimeSpan.FromSeconds(90));

        var error = failed.GetProperty("error");
        Assert.Equal("provisioning_failed", error.GetProperty("code").GetString());
        Assert.Equal("The region's cluster could not be driven: its API server could not be reached.", error.GetProperty("message").GetString());
        Assert.DoesNotContain(closed.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), failed.ToString());
    }
}
