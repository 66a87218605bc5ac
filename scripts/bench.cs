// The benchmark's measurements (scripts/bench runs them against each host); one line per figure, "name: value".
//   serve-table <table> <port>                           the bare baseline: Kestrel + one Table point read per GET /{pk}/{rk}
//   p1 <api url> <bare url> <seconds>                    GET /droplets/{id} against the bare endpoint: 1 connection p50/p99, 32 connections req/s
//   p2 <n> <seconds boot> <seconds import> <at once>   POST → running against the same VirtualMachine and Service straight on the simulator
//   p3 <n> <seconds boot> <seconds import> <cpu pattern>  n concurrent creates, then n reboots, with realistic KubeVirt delays
//   p4 <table prefix> <n,...>                            first page of an N-droplet project against a 100-entity partition query
// Environment: API (the API's base URL), DROPLETS_TOKEN, SIMULATOR (the region's URL), SIMULATOR_TOKEN, AzureWebJobsStorage.
#:sdk Microsoft.NET.Sdk.Web
#:project ../functions/Droplets/Droplets.csproj
#:property PublishAot=false

using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Azure.Data.Tables;
using Droplets;
using Droplets.Droplets;

var invariant = CultureInfo.InvariantCulture;
string Env(string name) => Environment.GetEnvironmentVariable(name) ?? throw new InvalidOperationException($"set {name}");
void Figure(string name, string value) => Console.WriteLine($"{name}: {value}");
string Ms(double ms) => ms.ToString("0.00", invariant) + " ms";

HttpClient Client(string baseUrl, string? token, int connections = 1)
{
    var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
    {
        BaseAddress = new Uri(baseUrl.TrimEnd('/') + "/"),
        Timeout = TimeSpan.FromMinutes(2),
    };
    if (token is not null)
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    return client;
}

static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

async Task<List<double>> LatenciesAsync(HttpClient client, string path, int count)
{
    var samples = new List<double>(count);
    for (var i = 0; i < count + 50; i++)
    {
        var start = Stopwatch.GetTimestamp();
        using var response = await client.GetAsync(path);
        await response.Content.ReadAsByteArrayAsync();
        response.EnsureSuccessStatusCode();
        if (i >= 50)
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
    }
    samples.Sort();
    return samples;
}

async Task<double> ThroughputAsync(HttpClient client, string path, int connections, TimeSpan duration)
{
    var until = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
    long done = 0;
    await Task.WhenAll(Enumerable.Range(0, connections).Select(async _ =>
    {
        while (Stopwatch.GetTimestamp() < until)
        {
            using var response = await client.GetAsync(path);
            await response.Content.ReadAsByteArrayAsync();
            response.EnsureSuccessStatusCode();
            Interlocked.Increment(ref done);
        }
    }));
    return done / duration.TotalSeconds;
}

// The region's apiserver_request_total by verb and resource (and subresource): every Kubernetes request the product sent it.
async Task<Dictionary<string, double>> KubernetesRequestsAsync(HttpClient simulator)
{
    string Label(string line, string name) => line.Split(name + "=\"")[1].Split('"')[0];
    return (await simulator.GetStringAsync("metrics")).Split('\n').Where(l => l.StartsWith("apiserver_request_total{", StringComparison.Ordinal))
        .GroupBy(l => $"{Label(l, "verb")} {Label(l, "resource")}" + (Label(l, "subresource") is { Length: > 0 } sub ? "/" + sub : ""))
        .ToDictionary(g => g.Key, g => g.Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], invariant)));
}

// Requests per operation since `before`, in total and by kind (most first).
async Task RequestFiguresAsync(HttpClient simulator, Dictionary<string, double> before, string operation, int n)
{
    var after = await KubernetesRequestsAsync(simulator);
    var spent = after.Select(a => (a.Key, Count: a.Value - before.GetValueOrDefault(a.Key))).Where(a => a.Count > 0).OrderByDescending(a => a.Count).ToList();
    Figure($"P3 Kubernetes requests per {operation} (target ≤ 10)", (spent.Sum(a => a.Count) / n).ToString("0.0", invariant));
    Figure($"P3 Kubernetes requests per {operation}, by kind", string.Join(", ", spent.Select(a => $"{a.Key} {(a.Count / n).ToString("0.0", invariant)}")));
}

// CPU seconds used so far by every process whose command line contains `pattern` (the host under test).
double CpuSeconds(string pattern)
{
    double ticks = 0;
    foreach (var dir in Directory.GetDirectories("/proc").Where(d => Path.GetFileName(d).All(char.IsAsciiDigit)))
    {
        try
        {
            if (!File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Contains(pattern, StringComparison.Ordinal))
                continue;
            var stat = File.ReadAllText(Path.Combine(dir, "stat"));
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            ticks += double.Parse(fields[11], invariant) + double.Parse(fields[12], invariant);
        }
        catch (IOException)
        {
        }
    }
    return ticks / 100;
}

// A droplet as every measurement creates it.
static object DropletBody(string name, string project) =>
    new { name, image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project };

// The simulator's realistic (or zero) KubeVirt delays, in seconds.
static async Task SetDelaysAsync(HttpClient simulator, string boot, string import)
{
    using var response = await simulator.PatchAsJsonAsync("simulator/options", new { bootDelay = $"00:00:{boot}", importDelay = $"00:00:{import}" });
    response.EnsureSuccessStatusCode();
}

// `call` with at most as many others at once as `gate` admits.
static async Task<T> Gated<T>(SemaphoreSlim gate, Func<Task<T>> call)
{
    await gate.WaitAsync();
    try
    {
        return await call();
    }
    finally
    {
        gate.Release();
    }
}

switch (args[0])
{
    case "serve-table":
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{args[2]}");
        var app = builder.Build();
        var table = new TableServiceClient(Env("AzureWebJobsStorage")).GetTableClient(args[1]);
        app.MapGet("/{partition}/{row}", async (string partition, string row) =>
            await table.GetEntityIfExistsAsync<TableEntity>(partition, row) is { HasValue: true, Value: { } entity }
                ? Results.Json(entity.ToDictionary(p => p.Key, p => p.Value?.ToString()))
                : Results.NotFound());
        await app.RunAsync();
        break;
    }
    case "p1":
    {
        var (api, bare, seconds) = (args[1], args[2], double.Parse(args[3], invariant));
        using var one = Client(api, Env("DROPLETS_TOKEN"));
        var project = $"bench_{DateTime.UtcNow:HHmmss}";
        using var created = await one.PostAsJsonAsync("api/v1/droplets", DropletBody("p1", project));
        created.EnsureSuccessStatusCode();
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var bareOne = Client(bare, null);
        var apiPath = $"api/v1/droplets/{id}";
        var barePath = $"{project}/{id}";
        var apiLatency = await LatenciesAsync(one, apiPath, 500);
        var bareLatency = await LatenciesAsync(bareOne, barePath, 500);
        Figure("P1 GET /droplets/{id}, 1 connection, p50", Ms(Percentile(apiLatency, 0.5)));
        Figure("P1 bare Table read, 1 connection, p50", Ms(Percentile(bareLatency, 0.5)));
        Figure("P1 GET /droplets/{id}, 1 connection, p99", Ms(Percentile(apiLatency, 0.99)));
        Figure("P1 bare Table read, 1 connection, p99", Ms(Percentile(bareLatency, 0.99)));
        Figure("P1 p50 ratio (target ≤ 1.2)", (Percentile(apiLatency, 0.5) / Percentile(bareLatency, 0.5)).ToString("0.00", invariant));
        using var many = Client(api, Env("DROPLETS_TOKEN"), 32);
        using var bareMany = Client(bare, null, 32);
        var apiRate = await ThroughputAsync(many, apiPath, 32, TimeSpan.FromSeconds(seconds));
        var bareRate = await ThroughputAsync(bareMany, barePath, 32, TimeSpan.FromSeconds(seconds));
        Figure("P1 GET /droplets/{id}, 32 connections", $"{apiRate:0} req/s");
        Figure("P1 bare Table read, 32 connections", $"{bareRate:0} req/s");
        Figure("P1 throughput ratio (target ≥ 0.8)", (apiRate / bareRate).ToString("0.00", invariant));
        await one.DeleteAsync(apiPath);
        break;
    }
    case "p2":
    {
        var (n, boot, import, atOnce) = (int.Parse(args[1], invariant), args[2], args[3], int.Parse(args[4], invariant));
        using var api = Client(Env("API"), Env("DROPLETS_TOKEN"), 32);
        using var simulator = Client(Env("SIMULATOR"), Env("SIMULATOR_TOKEN"), 32);
        await SetDelaysAsync(simulator, boot, import);
        var run = $"{DateTime.UtcNow:HHmmss}";
        var (project, ns) = ($"bench_p2_{run}", $"bench-direct-{run}");
        var gate = new SemaphoreSlim(atOnce);

        async Task<List<double>> TimedAsync(Func<int, Task> start, Func<int, Task<bool>> done) =>
            [.. (await Task.WhenAll(Enumerable.Range(0, n).Select(i => Gated(gate, async () =>
            {
                var started = Stopwatch.GetTimestamp();
                await start(i);
                while (!await done(i))
                    await Task.Delay(50);
                return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            })))).Order()];

        var ids = new string[n];
        var throughApi = await TimedAsync(async i =>
        {
            using var response = await api.PostAsJsonAsync("api/v1/droplets", DropletBody($"p2-{i}", project));
            response.EnsureSuccessStatusCode();
            ids[i] = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        }, async i => (await api.GetFromJsonAsync<JsonElement>($"api/v1/droplets/{ids[i]}")).GetProperty("status").GetString() == "running");

        // The objects the product makes for a droplet, less its labels and cloud-init: a VM with its root disk's
        // DataVolume template, and its public Service; done when the VM is Running with an IP and the Service has one.
        (await simulator.PostAsJsonAsync("api/v1/namespaces", new { metadata = new { name = ns } })).EnsureSuccessStatusCode();
        var direct = await TimedAsync(async i =>
        {
            var name = $"direct-{i}";
            (await simulator.PostAsJsonAsync($"apis/kubevirt.io/v1/namespaces/{ns}/virtualmachines", new
            {
                apiVersion = "kubevirt.io/v1", kind = "VirtualMachine", metadata = new { name },
                spec = new
                {
                    runStrategy = "Always",
                    dataVolumeTemplates = new[] { new { metadata = new { name = $"{name}-root" }, spec = new
                    {
                        source = new { registry = new { url = "docker://quay.io/containerdisks/ubuntu:22.04" } },
                        storage = new { resources = new { requests = new { storage = "25Gi" } } },
                    } } },
                    template = new { spec = new
                    {
                        domain = new { cpu = new { sockets = 1 }, memory = new { guest = "1024Mi" }, devices = new { } },
                        volumes = new[] { new { name = "rootdisk", dataVolume = new { name = $"{name}-root" } } },
                    } },
                },
            })).EnsureSuccessStatusCode();
            (await simulator.PostAsJsonAsync($"api/v1/namespaces/{ns}/services", new
            {
                apiVersion = "v1", kind = "Service", metadata = new { name = $"{name}-public" },
                spec = new { type = "LoadBalancer", selector = new Dictionary<string, string> { ["vm.kubevirt.io/name"] = name }, ports = new[] { new { port = 22 } } },
            })).EnsureSuccessStatusCode();
        }, async i =>
        {
            var name = $"direct-{i}";
            var vm = await simulator.GetFromJsonAsync<JsonElement>($"apis/kubevirt.io/v1/namespaces/{ns}/virtualmachines/{name}");
            if (!(vm.TryGetProperty("status", out var status) && status.TryGetProperty("printableStatus", out var printable) && printable.GetString() == "Running"))
                return false;
            var vmi = await simulator.GetStringAsync($"apis/kubevirt.io/v1/namespaces/{ns}/virtualmachineinstances/{name}");
            var service = await simulator.GetStringAsync($"api/v1/namespaces/{ns}/services/{name}-public");
            return vmi.Contains("\"ipAddress\"", StringComparison.Ordinal) && service.Contains("\"ingress\"", StringComparison.Ordinal);
        });

        var label = $"boot {boot} s, import {import} s, {n} droplets, {atOnce} at once";
        Figure($"P2 POST → running ({label}), p50", Ms(Percentile(throughApi, 0.5)));
        Figure($"P2 same VM straight on the simulator ({label}), p50", Ms(Percentile(direct, 0.5)));
        Figure($"P2 overhead ({label}), p50 (target ≤ 300 ms)", Ms(Percentile(throughApi, 0.5) - Percentile(direct, 0.5)));
        Figure($"P2 overhead ({label}), p99 (target ≤ 1 s)", Ms(Percentile(throughApi, 0.99) - Percentile(direct, 0.99)));
        await Task.WhenAll(ids.Select(async id => (await api.DeleteAsync($"api/v1/droplets/{id}")).EnsureSuccessStatusCode()));
        (await simulator.DeleteAsync($"api/v1/namespaces/{ns}")).EnsureSuccessStatusCode();
        break;
    }
    case "p3":
    {
        var (n, boot, import, pattern) = (int.Parse(args[1], invariant), args[2], args[3], args[4]);
        using var api = Client(Env("API"), Env("DROPLETS_TOKEN"), 64);
        using var simulator = Client(Env("SIMULATOR"), Env("SIMULATOR_TOKEN"), 4);
        await SetDelaysAsync(simulator, boot, import);
        var project = $"bench_{DateTime.UtcNow:HHmmss}";
        var gate = new SemaphoreSlim(32);

        async Task<Dictionary<string, string>> StatusesAsync()
        {
            var statuses = new Dictionary<string, string>();
            string? next = $"api/v1/droplets?project_id={project}&per_page=200";
            while (next is not null)
            {
                using var response = await api.GetAsync(next);
                response.EnsureSuccessStatusCode();
                foreach (var droplet in (await response.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray())
                    statuses[droplet.GetProperty("id").GetString()!] = droplet.GetProperty("status").GetString()!;
                next = response.Headers.TryGetValues("Link", out var links) && links.First().Split(';')[0].Trim('<', '>', ' ') is { Length: > 0 } link
                    && links.First().Contains("rel=\"next\"", StringComparison.Ordinal) ? new Uri(link).PathAndQuery.TrimStart('/') : null;
            }
            return statuses;
        }

        async Task<TimeSpan> UntilAsync(long start, Func<Task<bool>> done)
        {
            while (!await done())
                await Task.Delay(250);
            return Stopwatch.GetElapsedTime(start);
        }

        var requests = await KubernetesRequestsAsync(simulator);
        var cpu = CpuSeconds(pattern);
        var started = Stopwatch.GetTimestamp();
        var startedAt = DateTimeOffset.UtcNow;
        var ids = await Task.WhenAll(Enumerable.Range(0, n).Select(i => Gated(gate, async () =>
        {
            using var response = await api.PostAsJsonAsync("api/v1/droplets", DropletBody($"p3-{i}", project));
            response.EnsureSuccessStatusCode();
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        })));
        var answered = Stopwatch.GetElapsedTime(started);
        var allRunning = await UntilAsync(started, async () =>
        {
            var statuses = (await StatusesAsync()).Values.ToList();
            return statuses.Contains("error") ? throw new InvalidOperationException($"{statuses.Count(s => s == "error")} droplets errored") : statuses.Count(s => s == "running") >= n;
        });
        var createCpu = CpuSeconds(pattern) - cpu;
        var listed = await StatusesAsync();
        var vms = (await simulator.GetFromJsonAsync<JsonElement>($"apis/kubevirt.io/v1/namespaces/droplets-{project.Replace('_', '-')}/virtualmachines"))
            .GetProperty("items").EnumerateArray().ToList();
        var machines = vms.Select(vm => vm.GetProperty("metadata").GetProperty("labels").GetProperty("droplets.dev/droplet-id").GetString()!).ToList();
        // What the simulator did meanwhile (its timestamps are whole seconds): when the product had made the last VM,
        // and when the last VMI became Running.
        var lastMade = vms.Max(vm => vm.GetProperty("metadata").GetProperty("creationTimestamp").GetDateTimeOffset()) - startedAt;
        var lastRunning = (await simulator.GetFromJsonAsync<JsonElement>($"apis/kubevirt.io/v1/namespaces/droplets-{project.Replace('_', '-')}/virtualmachineinstances"))
            .GetProperty("items").EnumerateArray().Max(vmi => vmi.GetProperty("status").GetProperty("phaseTransitionTimestamps").EnumerateArray()
                .Where(t => t.GetProperty("phase").GetString() == "Running").Select(t => t.GetProperty("phaseTransitionTimestamp").GetDateTimeOffset()).Max()) - startedAt;
        Figure($"P3 {n} concurrent creates (boot {boot} s, import {import} s), all running after", $"{allRunning.TotalSeconds:0.0} s");
        Figure($"P3 all {n} creates answered (202) after", $"{answered.TotalSeconds:0.0} s");
        Figure("P3 the last VirtualMachine made after", $"{lastMade.TotalSeconds:0} s");
        Figure("P3 the last VMI Running on the simulator after", $"{lastRunning.TotalSeconds:0} s");
        Figure("P3 lost (acknowledged, not listed)", ids.Count(id => !listed.ContainsKey(id)).ToString(invariant));
        Figure("P3 duplicated (more than one VirtualMachine)", machines.GroupBy(m => m).Count(g => g.Count() > 1).ToString(invariant));
        await RequestFiguresAsync(simulator, requests, "create", n);
        Figure("P3 product CPU per create", Ms(createCpu * 1000 / n));

        requests = await KubernetesRequestsAsync(simulator);
        started = Stopwatch.GetTimestamp();
        var actions = await Task.WhenAll(ids.Select(id => Gated(gate, async () =>
        {
            using var response = await api.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type = "reboot" });
            response.EnsureSuccessStatusCode();
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            return (body.TryGetProperty("action", out var action) ? action : body).GetProperty("id").GetString()!;
        })));
        var rebooted = await UntilAsync(started, async () => (await Task.WhenAll(actions.Select(a => Gated(gate, async () =>
            (await api.GetFromJsonAsync<JsonElement>($"api/v1/actions/{a}")).GetProperty("status").GetString())))).All(s => s != "in-progress"));
        Figure($"P3 {n} concurrent reboots, all done after", $"{rebooted.TotalSeconds:0.0} s");
        await RequestFiguresAsync(simulator, requests, "reboot", n);

        requests = await KubernetesRequestsAsync(simulator);
        await Task.WhenAll(ids.Select(id => Gated(gate, async () => (await api.DeleteAsync($"api/v1/droplets/{id}")).EnsureSuccessStatusCode())));
        await UntilAsync(Stopwatch.GetTimestamp(), async () => (await StatusesAsync()).Count == 0);
        await RequestFiguresAsync(simulator, requests, "delete", n);
        break;
    }
    case "p4":
    {
        var prefix = args[1];
        var sizes = args[2].Split(',').Select(s => int.Parse(s, invariant)).ToList();
        var service = new TableServiceClient(Env("AzureWebJobsStorage"));
        var store = new DropletStore(service, new StoreOptions { TablePrefix = prefix });
        var table = service.GetTableClient(prefix + "droplets");
        using var api = Client(Env("API"), Env("DROPLETS_TOKEN"));
        foreach (var size in sizes)
        {
            var project = $"bench_{size}_{DateTime.UtcNow:HHmmss}";
            var now = DateTimeOffset.UtcNow;
            await Parallel.ForEachAsync(Enumerable.Range(0, size), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, ct) =>
                await store.TryAddAsync(new Droplet
                {
                    Id = DropletIds.New(), ProjectId = project, Namespace = "droplets-" + project.Replace('_', '-'), Name = $"p4-{i}", Image = "ubuntu-22-04",
                    PlanId = "s-1vcpu-1gb", Region = "nyc1", Status = DropletStatus.Running, Vcpus = 1, Memory = 1024, Disk = 25, CreatedAt = now, UpdatedAt = now,
                }, ct));
            var page = await LatenciesAsync(api, $"api/v1/droplets?project_id={project}", 100);
            var raw = new List<double>();
            for (var i = 0; i < 150; i++)
            {
                var start = Stopwatch.GetTimestamp();
                var count = 0;
                await foreach (var _ in table.QueryAsync<TableEntity>(e => e.PartitionKey == project, maxPerPage: 100))
                    if (++count == 100)
                        break;
                if (i >= 50)
                    raw.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
            raw.Sort();
            Figure($"P4 first page of a {size}-droplet project, p50", Ms(Percentile(page, 0.5)));
            Figure($"P4 100-entity partition query ({size} in the partition), p50", Ms(Percentile(raw, 0.5)));
            Figure($"P4 ratio at {size} (target ≤ 2, flat in N)", (Percentile(page, 0.5) / Percentile(raw, 0.5)).ToString("0.00", invariant));
        }
        break;
    }
    default:
        throw new ArgumentException($"unknown measurement '{args[0]}'");
}
