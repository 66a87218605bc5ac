using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Tests.Infrastructure;

namespace Droplets.Tests.Droplets;

// End to end through real HTTP: standalone host → Azurite → durable workflow → KubernetesClient → simulator.
public abstract class DropletLifecycleTests(DropletsWorld world)
{
    public sealed class OnStandalone(DropletsWorld<StandaloneKind> world) : DropletLifecycleTests(world), IClassFixture<DropletsWorld<StandaloneKind>>;

    public sealed class OnFunctions(DropletsWorld<FunctionsKind> world) : DropletLifecycleTests(world), IClassFixture<DropletsWorld<FunctionsKind>>;

    readonly ApiHost host = world.Host;

    static object Body(string name, string project, string image = "ubuntu-22-04", string plan = "s-2vcpu-2gb", string region = "nyc1", string[]? tags = null) =>
        new { name, image, plan_id = plan, region, project_id = project, tags = tags ?? ["web"] };

    [Fact]
    public async Task Created_droplet_reaches_running_with_both_ips()
    {
        var project = Repository.UniqueName("p");
        var response = await host.Client.PostAsJsonAsync("api/v1/droplets", Body("web-server-01", project, tags: ["web", "production"]));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = await response.Content.ReadFromJsonAsync<JsonElement>();
        var id = created.GetProperty("id").GetString()!;
        Assert.Matches("^dpl_[0-9a-f]{12}$", id);
        Assert.Equal($"/api/v1/droplets/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal("provisioning", created.GetProperty("status").GetString());
        Assert.Equal("web-server-01", created.GetProperty("name").GetString());
        Assert.Equal("ubuntu-22-04", created.GetProperty("image").GetString());
        Assert.Equal("s-2vcpu-2gb", created.GetProperty("plan_id").GetString());
        Assert.Equal("nyc1", created.GetProperty("region").GetString());
        Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", created.GetProperty("created_at").GetString());

        var running = await host.WaitForStatusAsync(id, "running");
        Assert.Equal("running", running.GetProperty("status").GetString());
        Assert.Matches(@"^10\.244\.\d+\.\d+$", running.GetProperty("private_ip").GetString());
        Assert.Matches(@"^203\.0\.113\.\d+$", running.GetProperty("public_ip").GetString());
        Assert.Equal(2, running.GetProperty("vcpus").GetInt32());
        Assert.Equal(2048, running.GetProperty("memory").GetInt32());
        Assert.Equal(60, running.GetProperty("disk").GetInt32());
        Assert.Equal(0, running.GetProperty("volume_ids").GetArrayLength());
        Assert.Equal(["web", "production"], running.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        Assert.False(running.TryGetProperty("error", out _));

        // What KubeVirt was asked for, as the simulated cluster holds it.
        var ns = KubeNames.Namespace(project);
        var vm = world.Nyc1.Get("virtualmachines", ns, id.Replace('_', '-'));
        Assert.NotNull(vm);
        Assert.Equal(id, vm["metadata"]!["labels"]!["droplets.dev/droplet-id"]!.GetValue<string>());
        Assert.Equal("Always", vm["spec"]!["runStrategy"]!.GetValue<string>());
        var dataVolume = vm["spec"]!["dataVolumeTemplates"]![0]!["spec"]!;
        Assert.Equal("60Gi", dataVolume["storage"]!["resources"]!["requests"]!["storage"]!.GetValue<string>());
        Assert.Equal("docker://quay.io/containerdisks/ubuntu:22.04", dataVolume["source"]!["registry"]!["url"]!.GetValue<string>());
        var domain = vm["spec"]!["template"]!["spec"]!["domain"]!;
        Assert.Equal(2, domain["cpu"]!["sockets"]!.GetValue<int>());
        Assert.Equal("2048Mi", domain["memory"]!["guest"]!.GetValue<string>());
        var userData = vm["spec"]!["template"]!["spec"]!["volumes"]!.AsArray()
            .Single(v => v!["cloudInitNoCloud"] is not null)!["cloudInitNoCloud"]!["userData"]!.GetValue<string>();
        Assert.Contains("hostname: web-server-01", userData);
        var service = world.Nyc1.Get("services", ns, id.Replace('_', '-') + "-public");
        Assert.Equal("LoadBalancer", service!["spec"]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Lists_by_project_and_tag_as_a_bare_array()
    {
        var project = Repository.UniqueName("p");
        var other = Repository.UniqueName("p");
        var web = (await host.CreateDropletAsync(Body("web-1", project, tags: ["web"]))).GetProperty("id").GetString();
        var db = (await host.CreateDropletAsync(Body("db-1", project, tags: ["db"]))).GetProperty("id").GetString();
        var elsewhere = (await host.CreateDropletAsync(Body("web-2", other, tags: ["web"]))).GetProperty("id").GetString();

        var all = await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets?project_id={project}");
        Assert.Equal(JsonValueKind.Array, all.ValueKind);
        Assert.Equal(new[] { web, db }.Order(), all.EnumerateArray().Select(d => d.GetProperty("id").GetString()).Order());
        Assert.All(all.EnumerateArray(), d => Assert.Equal(project, d.GetProperty("project_id").GetString()));

        var tagged = await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets?project_id={project}&tag_name=web");
        Assert.Equal([web], tagged.EnumerateArray().Select(d => d.GetProperty("id").GetString()));

        var everywhere = await host.Client.GetFromJsonAsync<JsonElement>("api/v1/droplets?tag_name=web&per_page=1000");
        Assert.Contains(elsewhere, everywhere.EnumerateArray().Select(d => d.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task Pagination_walks_every_droplet_once_through_link_headers()
    {
        var project = Repository.UniqueName("p");
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
            ids.Add((await host.CreateDropletAsync(Body($"node-{i}", project))).GetProperty("id").GetString()!);

        var seen = new List<string>();
        var pages = 0;
        string? next = $"api/v1/droplets?project_id={project}&per_page=2";
        while (next is not null)
        {
            var response = await host.Client.GetAsync(next);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var page = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(JsonValueKind.Array, page.ValueKind);
            Assert.InRange(page.GetArrayLength(), 1, 2);
            seen.AddRange(page.EnumerateArray().Select(d => d.GetProperty("id").GetString()!));
            pages++;
            next = response.Headers.TryGetValues("Link", out var links)
                ? System.Text.RegularExpressions.Regex.Match(links.Single(), "^<([^>]+)>; rel=\"next\"$").Groups[1].Value.TrimStart('/')
                : null;
        }

        Assert.Equal(3, pages);
        Assert.Equal(ids.Order(), seen.Order());

        // Across every project, too: the token carries the partition it stopped in.
        var everywhere = new List<string>();
        next = "api/v1/droplets?per_page=3";
        while (next is not null)
        {
            var response = await host.Client.GetAsync(next);
            everywhere.AddRange((await response.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().Select(d => d.GetProperty("id").GetString()!));
            next = response.Headers.TryGetValues("Link", out var links)
                ? System.Text.RegularExpressions.Regex.Match(links.Single(), "^<([^>]+)>; rel=\"next\"$").Groups[1].Value.TrimStart('/')
                : null;
        }
        Assert.Equal(everywhere.Count, everywhere.Distinct().Count());
        Assert.Subset(everywhere.ToHashSet(), ids.ToHashSet());
    }

    [Fact]
    public async Task Unpullable_image_ends_in_error_with_kubevirts_reason()
    {
        var project = Repository.UniqueName("p");
        var id = (await host.CreateDropletAsync(Body("broken", project, image: "fedora-latest"))).GetProperty("id").GetString()!;

        var failed = await host.WaitForStatusAsync(id, "error");

        var error = failed.GetProperty("error");
        Assert.Equal("disk_import_failed", error.GetProperty("code").GetString());
        Assert.Contains("fedora", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Unschedulable_plan_ends_in_error_with_kubevirts_reason()
    {
        var project = Repository.UniqueName("p");
        var id = (await host.CreateDropletAsync(Body("huge", project, plan: "s-8vcpu-16gb", region: "ams3"))).GetProperty("id").GetString()!;

        var failed = await host.WaitForStatusAsync(id, "error");

        var error = failed.GetProperty("error");
        Assert.Equal("unschedulable", error.GetProperty("code").GetString());
        Assert.Contains("Insufficient memory", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Unknown_droplet_is_404_problem()
    {
        foreach (var id in new[] { "dpl_000000000000", "not-an-id", "dpl_%27%20or%201" })
        {
            var response = await host.Client.GetAsync($"api/v1/droplets/{id}");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("not_found", problem.GetProperty("code").GetString());
            Assert.Equal(response.Headers.GetValues("X-Request-Id").Single(), problem.GetProperty("request_id").GetString());
        }
    }
}
