using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Tests.Infrastructure;
using Droplets.Tests.Volumes;
using KubeVirt.Simulator;

namespace Droplets.Tests.Quotas;

// Per-project quotas: before, one write token could create droplets and volumes without end. A create past a limit
// is `403 quota_exceeded` naming the limit, the quota, the usage and what was asked, and stores nothing; concurrent
// creates at the edge land exactly up to the quota; deleting makes room; a project's own limits replace the
// defaults; the usage is readable by the project's tokens and no one else's.
public sealed class QuotaTests
{
    [Theory, BothHosts]
    public async Task Creates_past_a_quota_are_refused_exactly_at_the_edge_and_the_usage_says_so(HostKind kind)
    {
        var project = Repository.UniqueName("p");
        var big = Repository.UniqueName("big");
        await using var region = await TestRegion.StartAsync(new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(100), BootDelay = TimeSpan.FromMilliseconds(100) });
        await using var host = await ApiHost.StartAsync(kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region }, new Dictionary<string, string>
        {
            ["Quotas__Defaults__Droplets"] = "3",
            ["Quotas__Defaults__VolumeGib"] = "25",
            ["Quotas__Defaults__Vcpus"] = "4",
            [$"Quotas__Projects__{big}__Droplets"] = "5",
            [$"Quotas__Projects__{big}__Vcpus"] = "10",
        });
        Task<HttpResponseMessage> CreateAsync(string inProject) => host.Client.PostAsJsonAsync("api/v1/droplets",
            new { name = "web", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = inProject });

        // Eight at once against a quota of three: exactly three land.
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => CreateAsync(project)));
        Assert.Equal(3, answers.Count(a => a.StatusCode == HttpStatusCode.Created));
        var refusals = answers.Where(a => a.StatusCode != HttpStatusCode.Created).ToList();
        Assert.Equal(5, refusals.Count);
        foreach (var refusal in refusals)
        {
            Assert.Equal((HttpStatusCode.Forbidden, "application/problem+json"), (refusal.StatusCode, refusal.Content.Headers.ContentType?.MediaType));
            var problem = await refusal.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(("quota_exceeded", "droplets", 3, 3, 1), (problem.GetProperty("code").GetString(), problem.GetProperty("limit").GetString(),
                problem.GetProperty("quota").GetInt32(), problem.GetProperty("usage").GetInt32(), problem.GetProperty("requested").GetInt32()));
            Assert.Contains("3 droplets", problem.GetProperty("detail").GetString());
        }
        var listed = await host.Client.GetFromJsonAsync<JsonElement[]>($"api/v1/droplets?project_id={project}");
        Assert.Equal(3, listed!.Length);

        var usage = await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/projects/{project}/usage");
        Assert.Equal(project, usage.GetProperty("project_id").GetString());
        Assert.Equal((3, 3, 3 * 1024, 3), (usage.GetProperty("usage").GetProperty("droplets").GetInt32(), usage.GetProperty("usage").GetProperty("vcpus").GetInt32(),
            usage.GetProperty("usage").GetProperty("memory_mib").GetInt32(), usage.GetProperty("usage").GetProperty("public_ips").GetInt32()));
        Assert.Equal((3, 25), (usage.GetProperty("limits").GetProperty("droplets").GetInt32(), usage.GetProperty("limits").GetProperty("volume_gib").GetInt32()));

        // Deleting one makes room for one.
        var first = listed[0].GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(first, "running");
        var delete = await host.Client.DeleteAsync($"api/v1/droplets/{first}");
        Assert.Equal("completed", (await host.WaitForActionAsync((await delete.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!)).GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.Created, (await CreateAsync(project)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await CreateAsync(project)).StatusCode);

        // A resize asks only for what it grows by: one of three 1-vCPU droplets to 2 vCPUs fits in 4, a second does not.
        var now = await host.Client.GetFromJsonAsync<JsonElement[]>($"api/v1/droplets?project_id={project}");
        var (grown, other) = (now![0].GetProperty("id").GetString()!, now[1].GetProperty("id").GetString()!);
        await host.WaitForStatusAsync(grown, "running");
        await host.WaitForStatusAsync(other, "running");
        Assert.Equal(HttpStatusCode.Accepted, (await host.Client.PatchAsJsonAsync($"api/v1/droplets/{grown}", new { plan_id = "s-2vcpu-4gb" })).StatusCode);
        var second = await host.Client.PatchAsJsonAsync($"api/v1/droplets/{other}", new { plan_id = "s-2vcpu-4gb" });
        var resizeProblem = await second.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((HttpStatusCode.Forbidden, "vcpus", 4, 4, 1), (second.StatusCode, resizeProblem.GetProperty("limit").GetString(),
            resizeProblem.GetProperty("quota").GetInt32(), resizeProblem.GetProperty("usage").GetInt32(), resizeProblem.GetProperty("requested").GetInt32()));
        var untouched = await host.GetDropletAsync(other);
        Assert.Equal(("running", false, "s-1vcpu-1gb"), (untouched.GetProperty("status").GetString(), untouched.GetProperty("locked").GetBoolean(), untouched.GetProperty("plan_id").GetString()));

        // A project's own limit replaces the default.
        var own = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => CreateAsync(big)));
        Assert.Equal(5, own.Count(a => a.StatusCode == HttpStatusCode.Created));

        // Volumes count by size: 10 + 10 GiB fit in 25, a third 10 does not; growing one by 5 fits, the other by 1 then not.
        var kept = await host.AvailableVolumeAsync(project);
        var full = await host.AvailableVolumeAsync(project);
        var third = await host.Client.PostAsJsonAsync("api/v1/volumes", new { name = "data", size_gigabytes = 10, region = "nyc1", project_id = project });
        var volumeProblem = await third.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((HttpStatusCode.Forbidden, "quota_exceeded", "volume_gib", 25, 20, 10), (third.StatusCode, volumeProblem.GetProperty("code").GetString(),
            volumeProblem.GetProperty("limit").GetString(), volumeProblem.GetProperty("quota").GetInt32(), volumeProblem.GetProperty("usage").GetInt32(), volumeProblem.GetProperty("requested").GetInt32()));

        Assert.Equal("completed", (await host.CompleteVolumeActionAsync(full, new { type = "resize", size_gigabytes = 15 })).GetProperty("status").GetString());
        var past = await host.Client.PostAsJsonAsync($"api/v1/volumes/{kept}/actions", new { type = "resize", size_gigabytes = 11 });
        var pastProblem = await past.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((HttpStatusCode.Forbidden, "volume_gib", 25, 1), (past.StatusCode, pastProblem.GetProperty("limit").GetString(), pastProblem.GetProperty("usage").GetInt32(), pastProblem.GetProperty("requested").GetInt32()));
        Assert.Equal((10, false), ((await host.GetVolumeAsync(kept)).GetProperty("size_gigabytes").GetInt32(), (await host.GetVolumeAsync(kept)).GetProperty("locked").GetBoolean()));

        // The usage is the project's tokens' to read, read scope included; another project's is a 404.
        var token = await host.Client.PostAsJsonAsync("api/v1/tokens", new { name = "reader", project_ids = new[] { project }, scope = "read" });
        using var reader = host.ClientWith((await token.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString());
        Assert.Equal(2, (await reader.GetFromJsonAsync<JsonElement>($"api/v1/projects/{project}/usage")).GetProperty("usage").GetProperty("volumes").GetInt32());
        var foreign = await reader.GetAsync($"api/v1/projects/{big}/usage");
        Assert.Equal((HttpStatusCode.NotFound, "application/problem+json"), (foreign.StatusCode, foreign.Content.Headers.ContentType?.MediaType));
    }
}

public sealed class QuotaOptionsTests
{
    [Fact]
    public void A_projects_own_limits_replace_only_the_defaults_they_name()
    {
        var options = new global::Droplets.Quotas.QuotaOptions { Projects = { ["big"] = new() { Droplets = 100 } } };
        Assert.Equal((100, 50), (options.For("big").Droplets, options.For("big").Vcpus));
        Assert.Equal((25, 50), (options.For("other").Droplets, options.For("other").Vcpus));
        Assert.True(options.IsValid());
    }

    [Fact]
    public void A_negative_limit_or_a_key_that_is_no_project_id_is_refused()
    {
        Assert.False(new global::Droplets.Quotas.QuotaOptions { Projects = { ["big"] = new() { Vcpus = -1 } } }.IsValid());
        Assert.False(new global::Droplets.Quotas.QuotaOptions { Defaults = new() { Volumes = -1 } }.IsValid());
        Assert.False(new global::Droplets.Quotas.QuotaOptions { Projects = { ["Big-Project"] = new() } }.IsValid());
    }
}
