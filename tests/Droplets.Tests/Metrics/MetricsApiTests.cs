using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Droplets.Tests.Infrastructure;
using KubeVirt.Simulator;

namespace Droplets.Tests.Metrics;

// nyc1 is scraped by a real Prometheus (1 s interval); ams3's Prometheus URL points at a closed port.
public class MetricsWorld(HostKind kind) : IAsyncLifetime
{
    public KubeVirtSimulator Nyc1 { get; private set; } = null!;
    public KubeVirtSimulator Ams3 { get; private set; } = null!;
    public Prometheus Prometheus { get; private set; } = null!;
    public ApiHost Host { get; private set; } = null!;
    public HttpClient Simulator { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var options = new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(100), BootDelay = TimeSpan.FromMilliseconds(100) };
        Nyc1 = await TestRegion.StartAsync(options);
        Ams3 = await TestRegion.StartAsync(new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(100), BootDelay = TimeSpan.FromMilliseconds(100) });
        Prometheus = await Prometheus.StartAsync(new Uri(Nyc1.BaseAddress, "metrics"));
        Simulator = new HttpClient { BaseAddress = Nyc1.BaseAddress };
        Simulator.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Nyc1.AdminToken);
        Host = await ApiHost.StartAsync(kind,
            new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = Nyc1, ["ams3"] = Ams3 },
            new Dictionary<string, string>
            {
                ["Catalog__Regions__nyc1__Prometheus"] = Prometheus.BaseAddress.ToString(),
                ["Catalog__Regions__ams3__Prometheus"] = $"http://127.0.0.1:{Repository.FreePort()}/",
                ["Metrics__RateWindow"] = "00:00:05",
            });
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        await Prometheus.DisposeAsync();
        Simulator.Dispose();
        await Nyc1.DisposeAsync();
        await Ams3.DisposeAsync();
    }
}

// GET /droplets/{id}/metrics through real HTTP, with numbers checked against what the simulator exported.
public sealed class MetricsWorld<TKind>() : MetricsWorld(TKind.Kind) where TKind : IHostKind;

public abstract class MetricsApiTests(MetricsWorld world)
{
    public sealed class OnStandalone(MetricsWorld<StandaloneKind> world) : MetricsApiTests(world), IClassFixture<MetricsWorld<StandaloneKind>>;

    public sealed class OnFunctions(MetricsWorld<FunctionsKind> world) : MetricsApiTests(world), IClassFixture<MetricsWorld<FunctionsKind>>;

    const long OneGib = 1L << 30;
    readonly ApiHost host = world.Host;

    async Task<(string Id, string Vm, string Project)> RunningDropletAsync(string region = "nyc1", double? load = null)
    {
        var project = Repository.UniqueName("p");
        var id = (await host.CreateDropletAsync(new { name = "m-1", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region, project_id = project }))
            .GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(id, "running");
        var vm = id.Replace('_', '-');
        if (load is { } pinned)
        {
            // The simulator's knob for a VMI's CPU load (its README), set on the VirtualMachine.
            var annotation = JsonSerializer.Serialize(new { metadata = new { annotations = new Dictionary<string, string> { ["simulator.kubevirt.io/cpu-load"] = pinned.ToString(CultureInfo.InvariantCulture) } } });
            var patch = new StringContent(annotation, Encoding.UTF8, "application/merge-patch+json");
            using var response = await world.Simulator.PatchAsync($"apis/kubevirt.io/v1/namespaces/{KubeNames.Namespace(project)}/virtualmachines/{vm}", patch);
            response.EnsureSuccessStatusCode();
        }
        return (id, vm, project);
    }

    Task<JsonElement> MetricsAsync(string id, string query = "") => host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets/{id}/metrics{query}");

    async Task<Exposition> ExportedAsync() => Exposition.Parse(await world.Simulator.GetStringAsync("metrics"));

    [Fact]
    public async Task Latest_values_come_from_prometheus_over_what_the_simulator_exported()
    {
        var (id, vm, _) = await RunningDropletAsync(load: 0.25);

        // Disk counters: once Prometheus has scraped after `before` was exported, the answer lies between
        // the two exports around it.
        var before = (await ExportedAsync()).Series("kubevirt_vmi_storage_read_traffic_bytes_total", vm).Sum(s => s.Value);
        var metrics = await Eventually.HoldsAsync(() => MetricsAsync(id),
            m => m.GetProperty("disk_read_bytes").ValueKind == JsonValueKind.Number && m.GetProperty("disk_read_bytes").GetInt64() >= before,
            TimeSpan.FromSeconds(30), "Prometheus to scrape the droplet's VMI");
        var after = await ExportedAsync();
        Assert.InRange(metrics.GetProperty("disk_read_bytes").GetInt64(), (long)before, (long)after.Series("kubevirt_vmi_storage_read_traffic_bytes_total", vm).Sum(s => s.Value));
        Assert.True(metrics.GetProperty("disk_write_bytes").GetInt64() > 0);

        // Memory: total is the plan's 1 GiB; used is available − usable as exported.
        Assert.Equal(OneGib, metrics.GetProperty("memory_total_bytes").GetInt64());
        var used = after.Series("kubevirt_vmi_memory_available_bytes", vm).Single().Value - after.Series("kubevirt_vmi_memory_usable_bytes", vm).Single().Value;
        Assert.Equal((long)used, metrics.GetProperty("memory_usage_bytes").GetInt64());

        // CPU: the pinned load of 25 % of its one vCPU, once the 5 s rate window holds only pinned samples.
        var cpu = await Eventually.HoldsAsync(() => MetricsAsync(id),
            m => m.GetProperty("cpu_usage_percent").ValueKind == JsonValueKind.Number && Math.Abs(m.GetProperty("cpu_usage_percent").GetDouble() - 25) < 1.25,
            TimeSpan.FromSeconds(30), "CPU to settle at the pinned 25 %");
        Assert.Equal(
            ["cpu_usage_percent", "disk_read_bytes", "disk_write_bytes", "memory_total_bytes", "memory_usage_bytes", "timestamp"],
            cpu.EnumerateObject().Select(p => p.Name).Order());
    }

    [Fact]
    public async Task History_is_each_series_as_timestamp_value_pairs()
    {
        var (id, _, _) = await RunningDropletAsync(load: 0.5);
        var start = DateTimeOffset.UtcNow;
        await Eventually.HoldsAsync(() => MetricsAsync(id), m => m.GetProperty("memory_total_bytes").ValueKind == JsonValueKind.Number,
            TimeSpan.FromSeconds(30), "a first scrape");
        var end = await Eventually.HoldsAsync(() => Task.FromResult(DateTimeOffset.UtcNow), now => now >= start.AddSeconds(4), TimeSpan.FromSeconds(10), "4 s of history");

        var range = await MetricsAsync(id, $"?start={Uri.EscapeDataString(start.ToString("O", CultureInfo.InvariantCulture))}&end={end.ToUnixTimeSeconds()}&step=1");
        Assert.Equal(1, range.GetProperty("step").GetDouble());
        var series = range.GetProperty("series");
        Assert.Equal(["cpu_usage_percent", "disk_read_bytes", "disk_write_bytes", "memory_total_bytes", "memory_usage_bytes"],
            series.EnumerateObject().Select(p => p.Name).Order());
        var memory = series.GetProperty("memory_total_bytes").EnumerateArray().ToList();
        Assert.True(memory.Count >= 2, $"expected a point a second, got {memory.Count}");
        Assert.All(memory, point =>
        {
            Assert.Equal(2, point.GetArrayLength());
            Assert.InRange(point[0].GetDouble(), start.ToUnixTimeSeconds(), end.ToUnixTimeSeconds());
            Assert.Equal(OneGib, point[1].GetInt64());
        });
        var reads = series.GetProperty("disk_read_bytes").EnumerateArray().Select(p => p[1].GetDouble()).ToList();
        Assert.Equal(reads.Order(), reads);   // a counter over time
        var times = memory.Select(p => p[0].GetDouble()).ToList();
        Assert.Equal(times.Order(), times);
    }

    [Fact]
    public async Task A_stopped_droplet_has_history_but_no_current_values()
    {
        var (id, _, _) = await RunningDropletAsync();
        var start = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds();
        var off = await host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type = "power_off" });
        Assert.Equal(HttpStatusCode.Accepted, off.StatusCode);
        await host.WaitForStatusAsync(id, "stopped");

        var response = await host.Client.GetAsync($"api/v1/droplets/{id}/metrics");
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("not_running", problem.GetProperty("code").GetString());
        Assert.Contains("is stopped", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        var history = await host.Client.GetAsync($"api/v1/droplets/{id}/metrics?start={start}");
        Assert.Equal(HttpStatusCode.OK, history.StatusCode);
    }

    [Fact]
    public async Task An_unreachable_prometheus_is_424_not_a_5xx_or_zeros()
    {
        var (id, _, _) = await RunningDropletAsync("ams3");
        foreach (var query in new[] { "", $"?start={DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds()}" })
        {
            var response = await host.Client.GetAsync($"api/v1/droplets/{id}/metrics{query}");
            Assert.Equal(HttpStatusCode.FailedDependency, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("metrics_unavailable", problem.GetProperty("code").GetString());
            Assert.Equal("The Prometheus of region ams3 could not be reached.", problem.GetProperty("detail").GetString());
        }
    }

    [Theory]
    [InlineData("?start=yesterday")]
    [InlineData("?step=60")]
    [InlineData("?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z")]
    [InlineData("?start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z&step=0")]
    [InlineData("?start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z&step=-5")]
    [InlineData("?start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z&step=1")]
    [InlineData("?start=1767225600&end=soon")]
    public async Task Bad_time_parameters_are_400(string query)
    {
        var (id, _, _) = await RunningDropletAsync();
        var response = await host.Client.GetAsync($"api/v1/droplets/{id}/metrics{query}");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_query", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Unknown_droplet_is_404()
    {
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("api/v1/droplets/dpl_000000000000/metrics")).StatusCode);
    }
}
