using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Tests.Infrastructure;
using k8s;
using k8s.Models;
using KubeVirt.Simulator;

namespace Droplets.Tests.Droplets;

// Workflows wait on KubeVirt through the region's watch (ClusterWatch), not by polling: what a droplet costs the API
// server is its writes and one read to confirm what the watch showed. The watch is the API server's own (bookmarks,
// 410 Gone): it survives the API server being killed and started again over a compacted etcd by listing again.
public abstract class WatchTests(HostKind kind)
{
    public sealed class OnStandalone() : WatchTests(HostKind.Standalone);

    public sealed class OnFunctions() : WatchTests(HostKind.Functions);

    static readonly string[] Watched = ["virtualmachines", "virtualmachineinstances", "services", "datavolumes"];

    // The old 250 ms polling made three GETs per pass: a create waiting 4 s on KubeVirt cost about fifty requests.
    const int Budget = 10;

    [Fact]
    public async Task A_create_a_reboot_and_a_delete_each_cost_the_API_server_at_most_ten_requests()
    {
        await using var region = await TestRegion.StartAsync(new SimulatorOptions { ImportDelay = TimeSpan.FromSeconds(1), BootDelay = TimeSpan.FromSeconds(3) });
        await using var host = await ApiHost.StartAsync(kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region });
        await WatchingAsync(region, 1);

        var (id, create) = await CountedAsync(region, async () =>
        {
            var id = (await host.CreateDropletAsync(new { name = "watched", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = Repository.UniqueName("p") }))
                .GetProperty("id").GetString()!;
            await host.WaitForStatusAsync(id, "running", TimeSpan.FromSeconds(60));
            return id;
        });
        Assert.InRange(create.Count, 3, Budget);

        var (_, reboot) = await CountedAsync(region, () => ActAsync(host, id, host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type = "reboot" })));
        Assert.InRange(reboot.Count, 2, Budget);

        var (_, delete) = await CountedAsync(region, () => ActAsync(host, id, host.Client.DeleteAsync($"api/v1/droplets/{id}")));
        Assert.InRange(delete.Count, 2, Budget);
    }

    [Fact]
    public async Task The_watch_lists_again_after_the_API_server_is_killed_and_etcd_compacted_and_the_workflows_go_on()
    {
        await using var region = await TestRegion.StartAsync(new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(200), BootDelay = TimeSpan.FromSeconds(2) });
        await using var host = await ApiHost.StartAsync(kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region });
        await WatchingAsync(region, 1);
        var project = Repository.UniqueName("p");
        var first = (await host.CreateDropletAsync(new { name = "before", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project }))
            .GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(first, "running", TimeSpan.FromSeconds(60));

        // The product is cut off (its watches too), the cluster moves on without it, then its API server is killed,
        // etcd compacted and the server started again: the product's last resourceVersion is older than anything
        // the new server can replay, so its watch is answered 410 Gone and it must list.
        var ns = KubeNames.Namespace(project);
        var second = (await host.CreateDropletAsync(new { name = "during", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project }))
            .GetProperty("id").GetString()!;
        await Eventually.HoldsAsync(() => Task.FromResult(region.Get("virtualmachines", ns, KubeNames.Object(second))), vm => vm is not null,
            TimeSpan.FromSeconds(30), "the second droplet's VirtualMachine");
        var listsBefore = Lists(region);
        region.Options.ErrorRate = 1;
        using (var admin = TestRegion.Admin(region))
            await admin.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "moved-on" } }, ns);
        await region.KillApiServerAsync();
        await region.CompactEtcdAsync();
        await region.StartApiServerAsync();
        region.Options.ErrorRate = 0;

        await host.WaitForStatusAsync(second, "running", TimeSpan.FromSeconds(90));
        await WatchingAsync(region, listsBefore + 1);
        // In sync again: a create costs what it costs with the watch.
        var (_, third) = await CountedAsync(region, async () =>
        {
            var id = (await host.CreateDropletAsync(new { name = "after", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project }))
                .GetProperty("id").GetString()!;
            await host.WaitForStatusAsync(id, "running", TimeSpan.FromSeconds(60));
            return id;
        });
        Assert.InRange(third.Count, 3, Budget);
    }

    // How many times the product has listed each watched kind (the fewest of the four).
    static int Lists(KubeVirtSimulator region)
    {
        var log = region.Audit.Snapshot();
        return Watched.Min(resource => log.Count(e => e.Verb == "list" && e.Resource == resource));
    }

    // Every watched kind listed `lists` times and watched since.
    static Task WatchingAsync(KubeVirtSimulator region, int lists) =>
        Eventually.HoldsAsync(() => Task.FromResult(region.Audit.Snapshot()), log => Watched.All(resource =>
        {
            var listed = log.Select((e, i) => (e, i)).Where(x => x.e.Verb == "list" && x.e.Resource == resource).Select(x => x.i).ToList();
            return listed.Count >= lists && log.Skip(listed[lists - 1]).Any(e => e.Verb == "watch" && e.Resource == resource);
        }), TimeSpan.FromSeconds(60), $"the product to list ({lists}) and watch {string.Join(", ", Watched)}");

    // The requests the product made while `operation` ran, but the watch's own and the drift report's lists.
    static async Task<(T Result, List<AuditEntry> Requests)> CountedAsync<T>(KubeVirtSimulator region, Func<Task<T>> operation)
    {
        var before = region.Audit.Snapshot().Count;
        var result = await operation();
        var requests = region.Audit.Snapshot().Skip(before).Where(e => e.IsResourceRequest && e.Verb is not ("list" or "watch")).ToList();
        return (result, requests);
    }

    static async Task<string> ActAsync(ApiHost host, string dropletId, Task<HttpResponseMessage> request)
    {
        using var response = await request;
        response.EnsureSuccessStatusCode();
        // POST …/actions answers {"action": …}; DELETE answers the action itself.
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var action = (body.TryGetProperty("action", out var wrapped) ? wrapped : body).GetProperty("id").GetString()!;
        await Eventually.HoldsAsync(() => host.Client.GetFromJsonAsync<JsonElement>($"api/v1/actions/{action}"),
            a => a.GetProperty("status").GetString() == "completed", TimeSpan.FromSeconds(60), $"action {action} of {dropletId} to complete");
        return action;
    }
}
