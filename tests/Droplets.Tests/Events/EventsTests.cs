using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Droplets.Tests.Infrastructure;

namespace Droplets.Tests.Events;

// GET /droplets/{id}/events through real HTTP: the simulator's events of the droplet's objects, merged with
// the droplet's own lifecycle events, newest first.
public abstract class EventsTests(DropletsWorld world)
{
    public sealed class OnStandalone(DropletsWorld<StandaloneKind> world) : EventsTests(world), IClassFixture<DropletsWorld<StandaloneKind>>;

    public sealed class OnFunctions(DropletsWorld<FunctionsKind> world) : EventsTests(world), IClassFixture<DropletsWorld<FunctionsKind>>;

    readonly ApiHost host = world.Host;

    async Task<(string Id, string Project)> RunningDropletAsync(string name = "ev-1", string image = "ubuntu-22-04")
    {
        var project = Repository.UniqueName("p");
        var id = (await host.CreateDropletAsync(new { name, image, plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project }))
            .GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(id, image == "ubuntu-22-04" ? "running" : "error");
        return (id, project);
    }

    Task<JsonElement[]> EventsAsync(string id, string query = "") =>
        host.Client.GetFromJsonAsync<JsonElement[]>($"api/v1/droplets/{id}/events{query}")!;

    Task<JsonElement[]> EventuallyAsync(string id, Func<JsonElement[], bool> condition, string what) =>
        Eventually.HoldsAsync(() => EventsAsync(id), condition, TimeSpan.FromSeconds(30), what);

    static bool Has(JsonElement[] events, string reason, string? kind = null) =>
        events.Any(e => e.GetProperty("reason").GetString() == reason && (kind is null || e.GetProperty("object").GetProperty("kind").GetString() == kind));

    [Fact]
    public async Task Lists_exactly_the_clusters_events_of_the_droplets_objects_and_its_own_newest_first()
    {
        var (id, project) = await RunningDropletAsync();
        var (neighbour, _) = await RunningDropletAsync("ev-2");   // another project: its events must not leak in
        var events = await EventuallyAsync(id, e => Has(e, "CreateCompleted") && Has(e, "Started", "VirtualMachineInstance"), "create events");

        // Every Kubernetes event the simulated cluster holds for this droplet's VM, VMI, launcher pods, disk
        // and Service, and nothing else.
        var vm = id.Replace('_', '-');
        var names = new[] { vm, vm + "-root", vm + "-public" };
        var expected = world.Nyc1.List("events", KubeNames.Namespace(project))
            .Where(e => e["involvedObject"]!["name"]!.GetValue<string>() is var name && (names.Contains(name) || name.StartsWith($"virt-launcher-{vm}-", StringComparison.Ordinal)))
            .Select(e => $"{e["involvedObject"]!["kind"]}/{e["reason"]}/{e["message"]}")
            .Order().ToList();
        var fromKubernetes = events.Where(e => e.GetProperty("origin").GetString() == "kubernetes").ToList();
        Assert.Equal(expected, fromKubernetes.Select(e => $"{e.GetProperty("object").GetProperty("kind")}/{e.GetProperty("reason")}/{e.GetProperty("message")}").Order());
        Assert.Contains(fromKubernetes, e => e.GetProperty("object").GetProperty("kind").GetString() == "Pod");
        Assert.Contains(fromKubernetes, e => e.GetProperty("reason").GetString() == "SuccessfulCreate" && e.GetProperty("object").GetProperty("kind").GetString() == "VirtualMachine"
            && e.GetProperty("source").GetString() == "virtualmachine-controller");
        Assert.Contains(fromKubernetes, e => e.GetProperty("reason").GetString() == "Started" && e.GetProperty("source").GetString()!.StartsWith("virt-handler (node", StringComparison.Ordinal));
        Assert.DoesNotContain(events, e => e.GetProperty("object").GetProperty("name").GetString()!.Contains(neighbour.Replace('_', '-'), StringComparison.Ordinal));

        // The droplet's own events, marked as such.
        var ours = events.Where(e => e.GetProperty("origin").GetString() == "droplets").ToList();
        Assert.Equal(["CreateCompleted", "CreateStarted"], ours.Select(e => e.GetProperty("reason").GetString()));
        Assert.All(ours, e =>
        {
            Assert.Equal("Droplet", e.GetProperty("object").GetProperty("kind").GetString());
            Assert.Equal(id, e.GetProperty("object").GetProperty("name").GetString());
            Assert.Matches("^act_[0-9a-f]{12}$", e.GetProperty("action_id").GetString());
        });

        // The stable shape, newest first.
        Assert.All(events, e => Assert.Equal(
            ["count", "first_seen", "last_seen", "message", "object", "origin", "reason", "source", "type"],
            e.EnumerateObject().Select(p => p.Name).Where(n => n != "action_id").Order()));
        var lastSeen = events.Select(e => e.GetProperty("last_seen").GetDateTimeOffset()).ToList();
        Assert.Equal(lastSeen.OrderDescending(), lastSeen);
        Assert.All(events, e => Assert.True(e.GetProperty("first_seen").GetDateTimeOffset() <= e.GetProperty("last_seen").GetDateTimeOffset()));
    }

    [Fact]
    public async Task A_reboot_and_a_failed_create_show_up_with_their_kubernetes_reasons()
    {
        var (id, _) = await RunningDropletAsync();
        var reboot = await host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type = "reboot" });
        Assert.Equal(HttpStatusCode.Accepted, reboot.StatusCode);
        var events = await EventuallyAsync(id, e => Has(e, "RebootCompleted"), "reboot events");
        Assert.True(Has(events, "RebootStarted"));
        Assert.True(Has(events, "SuccessfulDelete", "VirtualMachine"), "KubeVirt's VM controller deletes the old VMI on restart");

        var (failed, _) = await RunningDropletAsync("ev-3", image: "fedora-latest");
        var failure = await EventuallyAsync(failed, e => Has(e, "CreateFailed"), "a failed create");
        var created = failure.First(e => e.GetProperty("reason").GetString() == "CreateFailed");
        Assert.Equal("Warning", created.GetProperty("type").GetString());
        Assert.Contains(failure, e => e.GetProperty("type").GetString() == "Warning" && e.GetProperty("origin").GetString() == "kubernetes");
    }

    [Fact]
    public async Task Limit_and_since_narrow_the_list()
    {
        var (id, _) = await RunningDropletAsync();
        var all = await EventuallyAsync(id, e => Has(e, "CreateCompleted"), "create events");
        Assert.True(all.Length > 3);

        var two = await EventsAsync(id, "?limit=2");
        Assert.Equal(all.Take(2).Select(e => e.GetRawText()), two.Select(e => e.GetRawText()));

        var pivot = all[all.Length / 2].GetProperty("last_seen").GetDateTimeOffset();
        var recent = await EventsAsync(id, $"?since={Uri.EscapeDataString(pivot.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture))}");
        Assert.NotEmpty(recent);
        Assert.All(recent, e => Assert.True(e.GetProperty("last_seen").GetDateTimeOffset() >= pivot));
        Assert.Empty(await EventsAsync(id, "?since=2999-01-01T00:00:00Z"));
    }

    [Theory]
    [InlineData("?limit=0")]
    [InlineData("?limit=1001")]
    [InlineData("?limit=ten")]
    [InlineData("?since=yesterday")]
    public async Task Bad_parameters_are_400(string query)
    {
        var (id, _) = await RunningDropletAsync();
        var response = await host.Client.GetAsync($"api/v1/droplets/{id}/events{query}");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Unknown_and_foreign_droplets_are_404()
    {
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("api/v1/droplets/dpl_000000000000/events")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("api/v1/droplets/nonsense/events")).StatusCode);

        var (id, project) = await RunningDropletAsync();
        var other = await CreateTokenAsync(Repository.UniqueName("p"));
        using var stranger = host.ClientWith(other);
        var response = await stranger.GetAsync($"api/v1/droplets/{id}/events");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.DoesNotContain(project, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_the_cluster_the_droplets_own_events_are_answered_with_a_warning()
    {
        var (id, _) = await RunningDropletAsync();
        await EventuallyAsync(id, e => Has(e, "CreateCompleted"), "create events");
        world.Nyc1.Options.ErrorRate = 1;
        try
        {
            var response = await host.Client.GetAsync($"api/v1/droplets/{id}/events");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("Kubernetes events of region nyc1 are unavailable", string.Join(' ', response.Headers.GetValues("Warning")), StringComparison.Ordinal);
            var events = await response.Content.ReadFromJsonAsync<JsonElement[]>();
            Assert.NotEmpty(events!);
            Assert.All(events!, e => Assert.Equal("droplets", e.GetProperty("origin").GetString()));
        }
        finally
        {
            world.Nyc1.Options.ErrorRate = 0;
        }
    }

    async Task<string> CreateTokenAsync(string project)
    {
        using var admin = host.ClientWith(host.AdminToken);
        var response = await admin.PostAsJsonAsync("api/v1/tokens", new { name = "other", scope = "write", project_ids = new[] { project } });
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["token"]!.GetValue<string>();
    }
}
