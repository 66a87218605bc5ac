using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Tests.Infrastructure;
using KubeVirt.Simulator;

namespace Droplets.Tests.Droplets;

// The standalone host as infra/k8s/standalone.yaml runs it: three replicas on one storage account and one task hub.
// Creates go through all three; one is killed (SIGKILL) half-way, its workflows in flight; every droplet acknowledged
// ends running, with one VirtualMachine each. (The Functions app's instances are the platform's to scale; its own
// kill test is ResilienceTests.)
public sealed class ReplicaTests
{
    const int Droplets = 200;
    const int Projects = 10;

    [Fact]
    public async Task Three_replicas_create_200_droplets_and_lose_none_when_one_is_killed_half_way()
    {
        // 14 nodes of 16 CPUs: room for all 200 one-vCPU droplets (the simulator's launcher pods request a whole CPU each).
        await using var region = await TestRegion.StartAsync(new SimulatorOptions
        {
            ImportDelay = TimeSpan.FromMilliseconds(200), BootDelay = TimeSpan.FromSeconds(3), NodeCount = 14,
        });
        var settings = new Dictionary<string, string> { ["Provisioning__ObserveWait"] = "00:00:03", ["DurableTask__VisibilityTimeout"] = "00:00:08" };
        await using var first = await ApiHost.StartAsync(HostKind.Standalone, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region }, settings);
        await using var second = await first.StartSiblingAsync("Droplets.Standalone", new Dictionary<string, string> { ["DurableTask__WorkerId"] = Repository.UniqueName("worker") });
        await using var third = await first.StartSiblingAsync("Droplets.Standalone", new Dictionary<string, string> { ["DurableTask__WorkerId"] = Repository.UniqueName("worker") });
        var projects = Enumerable.Range(0, Projects).Select(_ => Repository.UniqueName("p")).ToArray();
        var created = new ConcurrentDictionary<string, string>();

        async Task CreateAsync(ApiHost via, int i)
        {
            var droplet = await via.CreateDropletAsync(new { name = $"replica-{i}", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = projects[i % Projects] });
            Assert.True(created.TryAdd(droplet.GetProperty("id").GetString()!, projects[i % Projects]), "a new id for every create");
        }

        var parallel = new ParallelOptions { MaxDegreeOfParallelism = 12 };
        await Parallel.ForEachAsync(Enumerable.Range(0, Droplets / 2), parallel, async (i, _) => await CreateAsync(new[] { first, second, third }[i % 3], i));
        // The second replica dies with its share of the first half still provisioning (3 s boots).
        await second.KillAsync();
        await Parallel.ForEachAsync(Enumerable.Range(Droplets / 2, Droplets / 2), parallel, async (i, _) => await CreateAsync(i % 2 == 0 ? first : third, i));
        Assert.Equal(Droplets, created.Count);

        // Every acknowledged droplet running, through either survivor; nothing else in the projects.
        var listed = await Eventually.HoldsAsync(async () =>
        {
            var all = new List<JsonElement>();
            foreach (var project in projects)
            {
                var page = await third.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets?project_id={project}&per_page=100");
                all.AddRange(page.EnumerateArray());
            }
            return new Listing(all);
        }, listing => listing.Droplets.Count == Droplets && listing.Droplets.All(d => d.GetProperty("status").GetString() == "running"), ApiHost.ResumeDeadline, "every droplet to be running");
        Assert.Equal(created.Keys.Order(), listed.Droplets.Select(d => d.GetProperty("id").GetString()!).Order());

        // One VirtualMachine per droplet, none twice and none without a droplet.
        var machines = projects.SelectMany(p => region.List("virtualmachines", KubeNames.Namespace(p)))
            .Select(vm => vm["metadata"]!["labels"]!["droplets.dev/droplet-id"]!.GetValue<string>()).ToList();
        Assert.Equal(created.Keys.Order(), machines.Order());
    }

    // What the failure message shows: how many droplets are in each status.
    sealed record Listing(List<JsonElement> Droplets)
    {
        public override string ToString() =>
            string.Join(", ", Droplets.GroupBy(d => d.GetProperty("status").GetString()).Select(g => $"{g.Count()} {g.Key}")) + $" of {Droplets.Count} listed";
    }
}
