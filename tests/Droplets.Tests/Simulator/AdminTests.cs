using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using k8s;

namespace Droplets.Tests.Simulator;

public sealed class AdminTests
{
    [Fact]
    public async Task Options_can_be_read_and_changed_at_runtime()
    {
        await using var world = await SimulatorWorld.StartAsync();
        Assert.Equal("ok", await world.Http.GetStringAsync("healthz"));

        var options = JsonNode.Parse(await world.Http.GetStringAsync("simulator/options"))!;
        Assert.Equal(3, options["nodeCount"]!.GetValue<int>());
        Assert.Equal("203.0.113.0/24", options["loadBalancerPool"]!.GetValue<string>());

        var response = await world.Http.PatchAsync("simulator/options", new StringContent(
            """{"nodeCount":5,"bootDelay":"00:00:02","importDelay":0.25,"failingImages":["quay.io/x:1"],"errorRate":0.5}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(5, world.Simulator.Options.NodeCount);
        Assert.Equal(TimeSpan.FromSeconds(2), world.Simulator.Options.BootDelay);
        Assert.Equal(TimeSpan.FromSeconds(0.25), world.Simulator.Options.ImportDelay);
        Assert.Contains("quay.io/x:1", world.Simulator.Options.FailingImages);
        Assert.Equal(0.5, world.Simulator.Options.ErrorRate);

        foreach (var bad in new[] { """{"errorRate":2}""", """{"nodeCount":"many"}""", """{"loadBalancerPool":"not-a-cidr"}""", """{"colour":"red"}""", "[1]", "{" })
        {
            response = await world.Http.PutAsync("simulator/options", new StringContent(bad, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }
        // A rejected update changes nothing, not even its valid fields.
        response = await world.Http.PutAsync("simulator/options", new StringContent("""{"nodeCount":7,"errorRate":-1}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(5, world.Simulator.Options.NodeCount);
    }

    [Fact]
    public async Task Error_rate_injects_etcd_timeouts_only_on_the_kubernetes_api()
    {
        await using var world = await SimulatorWorld.StartAsync(o => o.ErrorRate = 1);
        var (code, status) = await SimulatorWorld.FailureOf(() => world.Client.CoreV1.ListNamespaceAsync());
        Assert.Equal(HttpStatusCode.InternalServerError, code);
        Assert.Equal("Status", status["kind"]!.GetValue<string>());
        Assert.Equal("etcdserver: request timed out", status["message"]!.GetValue<string>());
        Assert.Equal("ok", await world.Http.GetStringAsync("healthz"));
        Assert.Equal(HttpStatusCode.OK, (await world.Http.GetAsync("simulator/options")).StatusCode);

        var response = await world.Http.PatchAsJsonAsync("simulator/options", new { errorRate = 0 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotEmpty((await world.Client.CoreV1.ListNamespaceAsync()).Items);
    }

    // A held write has taken effect at the API server while its client still waits for the answer; the answer comes
    // once released. Only the nth request the hold matches is held.
    [Fact]
    public async Task A_hold_keeps_back_the_answer_to_a_write_that_took_effect()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("held");
        var hold = world.Simulator.Hold(e => e is { Verb: "create", Resource: "configmaps", Namespace: "held" }, nth: 2);

        await world.Client.CoreV1.CreateNamespacedConfigMapAsync(new k8s.Models.V1ConfigMap { Metadata = new() { Name = "first" } }, "held");
        var second = world.Client.CoreV1.CreateNamespacedConfigMapAsync(new k8s.Models.V1ConfigMap { Metadata = new() { Name = "second" } }, "held");
        var held = await hold.Reached.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(("create", "configmaps", "held"), (held.Verb, held.Resource, held.Namespace));
        using var admin = Infrastructure.TestRegion.Admin(world.Simulator);
        Assert.Equal("second", (await admin.CoreV1.ReadNamespacedConfigMapAsync("second", "held")).Metadata.Name);
        Assert.False(second.IsCompleted);
        hold.Release();
        Assert.Equal("second", (await second.WaitAsync(TimeSpan.FromSeconds(30))).Metadata.Name);
    }

    [Fact]
    public async Task Latency_is_added_to_api_requests()
    {
        await using var world = await SimulatorWorld.StartAsync(o => o.Latency = TimeSpan.FromMilliseconds(200));
        // A lower bound only: a slow machine makes the call slower, never faster.
        var elapsed = System.Diagnostics.Stopwatch.StartNew();
        await world.Client.CoreV1.ListNamespaceAsync();
        Assert.True(elapsed.Elapsed >= TimeSpan.FromMilliseconds(200), $"took {elapsed.Elapsed.TotalMilliseconds:0} ms");
    }
}
