using KubeVirt.Simulator;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Droplets.Tests.Infrastructure;

// The API as its users run it: a separate process on real Kestrel, on Azurite, talking to simulated regions
// over HTTP — either the standalone host, or the Functions app on the real Functions host (`func start`),
// next to the console gateway it is deployed with. Each instance has its own tables, task hub and host id; it
// can be killed (SIGKILL, host and worker alike) and started again on the same storage to prove that nothing
// acknowledged is lost.
public sealed class ApiHost : IAsyncDisposable
{
    readonly Dictionary<string, string> settings;
    readonly string program;
    readonly ConcurrentQueue<string> output = new();
    ApiHost? gateway;
    Process? process;

    readonly string[] arguments;

    ApiHost(HostKind kind, Dictionary<string, string> settings, int port, string program, string[]? arguments = null)
    {
        Kind = kind;
        this.settings = settings;
        this.program = program;
        this.arguments = arguments ?? [];
        BaseAddress = new Uri($"http://127.0.0.1:{port}/");
        Client = ClientWith(AdminToken);
    }

    public HostKind Kind { get; }

    // A fresh admin token per host; Client uses it, so tests see every project unless they choose a token.
    public string AdminToken => settings["Auth__AdminToken"];

    public HttpClient ClientWith(string? token)
    {
        var client = new HttpClient { BaseAddress = BaseAddress };
        if (token is not null)
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public Uri BaseAddress { get; }
    public HttpClient Client { get; }
    public string TablePrefix => settings["Droplets__TablePrefix"];
    public string TaskHub => settings["DurableTask__HubName"];
    public string Output => string.Join('\n', output);

    // Where console URLs point: this host's own gateway (standalone), or the gateway deployed beside the Functions app.
    public string ConsoleGateway => settings.TryGetValue("Console__GatewayUrl", out var url) ? url : $"ws://{BaseAddress.Authority}/console/vnc";

    // Simulated regions (TestRegion): the app reaches each as the ServiceAccount of infra/k8s.
    public static async Task<ApiHost> StartAsync(HostKind kind, IReadOnlyDictionary<string, KubeVirtSimulator> regions, IDictionary<string, string>? extra = null, string[]? arguments = null)
    {
        var settings = new Dictionary<string, string>(extra ?? new Dictionary<string, string>());
        foreach (var (name, region) in regions)
            settings.TryAdd($"Catalog__Regions__{name}__Token", await TestRegion.AppTokenAsync(region));
        return await StartAsync(kind, regions.ToDictionary(r => r.Key, r => r.Value.BaseAddress), settings, arguments);
    }

    // `arguments` go to `func start` (e.g. --enableAuth); the standalone host takes none.
    public static async Task<ApiHost> StartAsync(HostKind kind, IReadOnlyDictionary<string, Uri> regions, IDictionary<string, string>? extra = null, string[]? arguments = null)
    {
        var azurite = await Azurite.SharedAsync();
        var port = Repository.FreePort();
        var settings = new Dictionary<string, string>
        {
            ["AzureWebJobsStorage"] = azurite.ConnectionString,
            ["Droplets__TablePrefix"] = Repository.UniqueName("t"),
            ["DurableTask__HubName"] = Repository.UniqueName("hub"),
            ["DurableTask__WorkerId"] = Repository.UniqueName("worker"),
            ["Logging__LogLevel__Default"] = "Warning",
            ["Recovery__Interval"] = "00:00:01",
            // Tests poll fast; the rate limit has its own test with small limits.
            ["Auth__RateLimit__PerMinute"] = "1000000",
            ["Auth__RateLimit__PerHour"] = "1000000",
            ["Auth__RateLimit__FailuresPerMinute"] = "1000000",
            ["Auth__AdminToken"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["Recovery__Grace"] = "00:00:02",
            ["Recovery__DriftInterval"] = "00:00:03",
            // No configuration file watching: a test run starts many hosts, and inotify instances are few (128 a user).
            ["DOTNET_hostBuilder__reloadConfigOnChange"] = "false",
            ["urls"] = $"http://127.0.0.1:{port}",
        };
        foreach (var (region, endpoint) in regions)
            settings[$"Catalog__Regions__{region}__Endpoint"] = endpoint.ToString();
        if (kind == HostKind.Functions)
        {
            // The console gateway is deployed next to the Functions app (Functions holds no WebSockets): the
            // app's console URLs name it, and both share the ticket signing key.
            settings["Console__SigningKey"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
            settings["Console__GatewayUrl"] = $"ws://127.0.0.1:{Repository.FreePort()}/console/vnc";
            // The Functions host's recovery sweep runs on a timer (Recovery:Schedule): every second, like Recovery:Interval above.
            settings["Recovery__Schedule"] = "* * * * * *";
        }
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
            settings[key] = value;
        var host = new ApiHost(kind, settings, port, kind == HostKind.Standalone ? "Droplets.Standalone" : "Droplets.Functions", arguments);
        try
        {
            await host.StartAsync();
        }
        catch
        {
            // A host that never answered is not left running (the Functions host keeps restarting a failed worker).
            await host.DisposeAsync();
            throw;
        }
        return host;
    }

    // Another program of ours (the console gateway) on this host's storage and settings, on its own port.
    public async Task<ApiHost> StartSiblingAsync(string program, IDictionary<string, string>? extra = null, int? port = null)
    {
        var at = port ?? Repository.FreePort();
        var sibling = new Dictionary<string, string>(settings) { ["urls"] = $"http://127.0.0.1:{at}" };
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
            sibling[key] = value;
        var host = new ApiHost(HostKind.Standalone, sibling, at, program);
        await host.StartAsync();
        return host;
    }

    public async Task StartAsync()
    {
        var start = program == "Droplets.Functions" ? await FunctionsHost.StartInfoAsync(settings, BaseAddress.Port, arguments) : new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Repository.Output($"functions/{program}", $"{program}.dll") },
        };
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        foreach (var (key, value) in settings)
            start.Environment[key] = value;
        process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => Record(e.Data);
        process.ErrorDataReceived += (_, e) => Record(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var current = process;
        try
        {
            await Eventually.HoldsAsync(async () =>
            {
                if (current.HasExited)
                    throw new InvalidOperationException($"{program} exited with {current.ExitCode}:\n{Output}");
                try
                {
                    return await ReadyAsync();
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, ready => ready, TimeSpan.FromSeconds(120), $"{program} to answer");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; its output:\n{Output}", e);
        }
        if (program == "Droplets.Functions" && gateway is null)
            gateway = await StartSiblingAsync("Droplets.ConsoleGateway", port: new Uri(settings["Console__GatewayUrl"]).Port);
    }

    // The standalone host answers /healthz once it serves. The Functions host answers before its worker has
    // indexed the functions, so it is ready once an API route answers with our problem (the host's own 404
    // for a route it does not know yet has no body).
    async Task<bool> ReadyAsync()
    {
        if (program != "Droplets.Functions")
            return (await Client.GetAsync("healthz")).IsSuccessStatusCode;
        using var anonymous = ClientWith(null);
        var response = await anonymous.GetAsync("api/v1/regions");
        return response.Content.Headers.ContentType?.MediaType == "application/problem+json";
    }

    // A system key of the Functions host (e.g. durabletask_extension, which authorises the Durable management
    // routes), where the host keeps it: blob azure-webjobs-secrets/<host id>/host.json in its storage.
    public async Task<string> SystemKeyAsync(string name)
    {
        var blob = new Azure.Storage.Blobs.BlobContainerClient(settings["AzureWebJobsStorage"], "azure-webjobs-secrets")
            .GetBlobClient($"{settings["AzureFunctionsWebHost__hostid"]}/host.json");
        using var secrets = JsonDocument.Parse((await blob.DownloadContentAsync()).Value.Content.ToString());
        return secrets.RootElement.GetProperty("systemKeys").EnumerateArray().Single(k => k.GetProperty("name").GetString() == name).GetProperty("value").GetString()!;
    }

    // How long a restarted host may take to finish what a killed one was doing. The standalone host takes the dead
    // host's messages up after the test's DurableTask__VisibilityTimeout; the Functions host's Durable extension
    // holds them for its own visibility timeout, which it refuses below one minute (host.json has the minimum).
    public static TimeSpan ResumeDeadline { get; } = TimeSpan.FromMinutes(3);

    // SIGKILL: no shutdown hooks, no flushing. What survives is what was durably written. On the Functions host
    // the worker process dies with the host, as when an instance is lost.
    public async Task KillAsync()
    {
        process!.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
    }

    // Whether the process ended by itself within `within` (the Functions host stops itself on some faults).
    public async Task<bool> ExitsWithinAsync(TimeSpan within)
    {
        if (process!.HasExited)
            return true;
        using var deadline = new CancellationTokenSource(within);
        try
        {
            await process!.WaitForExitAsync(deadline.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    // SIGTERM, as Kubernetes or systemd stops a process: how long it took to exit, or null if it was still running
    // after `within`.
    public async Task<TimeSpan?> TerminateAsync(TimeSpan within)
    {
        var elapsed = Stopwatch.StartNew();
        if (Kill(process!.Id, 15) != 0)
            throw new InvalidOperationException($"kill -TERM {process.Id} failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        return await ExitsWithinAsync(within) ? elapsed.Elapsed : null;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    static extern int Kill(int pid, int signal);

    public async Task<JsonElement> CreateDropletAsync(object body)
    {
        var response = await Client.PostAsJsonAsync("api/v1/droplets", body);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        if ((int)response.StatusCode != 201)
            throw new InvalidOperationException($"Create answered {(int)response.StatusCode}: {json}");
        return json;
    }

    public async Task<JsonElement> GetDropletAsync(string id) =>
        await Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets/{id}");

    public Task<JsonElement> WaitForStatusAsync(string id, string status, TimeSpan? timeout = null) =>
        Eventually.HoldsAsync(() => GetDropletAsync(id), d => d.GetProperty("status").GetString() == status || d.GetProperty("status").GetString() == "error" && status != "error",
            timeout ?? TimeSpan.FromSeconds(60), $"droplet {id} to be {status}");

    void Record(string? line)
    {
        if (line is null)
            return;
        output.Enqueue(line);
        while (output.Count > 50_000)
            output.TryDequeue(out _);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        process?.Dispose();
        if (gateway is not null)
            await gateway.DisposeAsync();
    }
}

// `func start` on the built Functions app: Core Tools' `func` where installed (DROPLETS_FUNC names another), else
// the Functions host built from source in ../shared/functions-host. Our settings become the host's: the task
// hub through host.json's override, and a host id of its own so that hosts sharing one Azurite do not share the
// timer trigger's singleton lock and keys.
static class FunctionsHost
{
    static readonly Lazy<Task<string>> Func = new(FindAsync);

    public static async Task<ProcessStartInfo> StartInfoAsync(Dictionary<string, string> settings, int port, string[] arguments)
    {
        settings.TryAdd("AzureFunctionsJobHost__extensions__durableTask__hubName", settings["DurableTask__HubName"]);
        settings.TryAdd("AzureFunctionsWebHost__hostid", settings["DurableTask__HubName"]);
        settings.TryAdd("AzureFunctionsJobHost__logging__logLevel__default", "Warning");
        // The host restarts when its script root changes; nothing changes here, and each watcher costs inotify instances.
        settings.TryAdd("AzureFunctionsJobHost__fileWatchingEnabled", "false");
        var start = new ProcessStartInfo(await Func.Value)
        {
            ArgumentList = { "start", "--script-root", Repository.Output("functions/Droplets.Functions", ""), "--port", port.ToString() },
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        return start;
    }

    static async Task<string> FindAsync()
    {
        if (Environment.GetEnvironmentVariable("DROPLETS_FUNC") is { Length: > 0 } chosen)
            return chosen;
        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => Path.Combine(dir, "func")).FirstOrDefault(File.Exists);
        if (onPath is not null)
            return onPath;
        var shared = Path.GetFullPath(Path.Combine(Repository.Root, "..", "shared", "functions-host", "func"));
        if (!File.Exists(shared))
            throw new InvalidOperationException($"No Functions host: install Core Tools v4 (func), set DROPLETS_FUNC, or provide {shared}.");
        // The wrapper builds the host on first use (cached); building it once here keeps parallel fixtures from racing.
        using var build = Process.Start(new ProcessStartInfo(Path.Combine(Path.GetDirectoryName(shared)!, "build.sh")) { RedirectStandardOutput = true })!;
        await build.StandardOutput.ReadToEndAsync();
        await build.WaitForExitAsync();
        if (build.ExitCode != 0)
            throw new InvalidOperationException("../shared/functions-host/build.sh failed; run it by hand to see why.");
        return shared;
    }
}
