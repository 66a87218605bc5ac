using System.Net;
using Droplets.Tests.Infrastructure;

namespace Droplets.Tests.Simulator;

// The simulator's /metrics counts the requests that come through its front (the cluster's URL: what the product
// calls) as kube-apiserver's apiserver_request_total does, with its labels, whoever answers: the API server, virt-api,
// or an injected fault. So a client's cost in Kubernetes requests can be read from outside.
public sealed class RequestCountTests
{
    [Fact]
    public async Task Every_request_through_the_front_is_counted_with_kube_apiservers_labels_and_code()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "ns"));
        await world.WaitForPrintableStatusAsync("ns", "vm", "Running");
        var before = await CountsAsync(world);

        for (var i = 0; i < 3; i++)
            await world.GetVmAsync("ns", "vm");
        Assert.Equal(HttpStatusCode.Accepted, (await world.SubresourceAsync("ns", "vm", "restart")).StatusCode);
        world.Simulator.Options.ErrorRate = 1;
        await Assert.ThrowsAnyAsync<Exception>(() => world.GetVmAsync("ns", "vm"));
        world.Simulator.Options.ErrorRate = 0;

        var (metrics, after) = await ScrapeAsync(world);
        Assert.Equal("counter", metrics.Types["apiserver_request_total"]);
        var get = Key("GET", "kubevirt.io", "virtualmachines", "", "200");
        Assert.Equal(3, after[get] - before.GetValueOrDefault(get));
        var restart = Key("PUT", "subresources.kubevirt.io", "virtualmachines", "restart", "202");
        Assert.Equal(1, after[restart] - before.GetValueOrDefault(restart));
        var faulted = after.Where(c => c.Key.Contains("code=500") && c.Key.Contains("verb=GET") && c.Key.Contains("resource=virtualmachines,")).Sum(c => c.Value);
        Assert.True(faulted - before.Where(c => c.Key.Contains("code=500")).Sum(c => c.Value) >= 1, "the faulted GET is counted as a 500");
        // Every sample has every label kube-apiserver gives it.
        Assert.All(metrics.Samples, s => Assert.Equal(["code", "component", "dry_run", "group", "resource", "scope", "subresource", "verb", "version"], s.Labels.Keys.Order()));
        Assert.Contains(metrics.Samples, s => s.Labels["verb"] == "POST" && s.Labels["resource"] == "virtualmachines" && s.Labels["code"] == "201" && s.Labels["scope"] == "namespace" && s.Labels["version"] == "v1");
    }

    static string Key(string verb, string group, string resource, string subresource, string code) =>
        $"code={code},group={group},resource={resource},subresource={subresource},verb={verb}";

    static async Task<Dictionary<string, double>> CountsAsync(SimulatorWorld world) => (await ScrapeAsync(world)).Counts;

    static async Task<(Exposition Metrics, Dictionary<string, double> Counts)> ScrapeAsync(SimulatorWorld world)
    {
        var metrics = Exposition.Parse(await world.Http.GetStringAsync("metrics")).Only("apiserver_");
        var counts = metrics.Samples
            .GroupBy(s => SimulatedMetrics.Text(s.Labels.Where(l => l.Key is "code" or "group" or "resource" or "subresource" or "verb")))
            .ToDictionary(g => g.Key, g => g.Sum(s => s.Value));
        return (metrics, counts);
    }
}
