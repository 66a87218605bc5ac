using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Droplets.Tests.Infrastructure;

// The standalone host as its users run it: a separate process on real Kestrel, on Azurite, talking to
// simulated regions over HTTP. Each instance has its own tables and task hub; it can be killed
// (SIGKILL) and started again on the same storage to prove that nothing acknowledged is lost.
public sealed class StandaloneHost : IAsyncDisposable
{
    readonly Dictionary<string, string> settings;
    readonly string program;
    readonly ConcurrentQueue<string> output = new();
    Process? process;

    StandaloneHost(Dictionary<string, string> settings, int port, string program = "Droplets.Standalone")
    {
        this.settings = settings;
        this.program = program;
        BaseAddress = new Uri($"http://127.0.0.1:{port}/");
        Client = ClientWith(AdminToken);
    }

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
    public string Output => string.Join('\n', output);

    public static async Task<StandaloneHost> StartAsync(IReadOnlyDictionary<string, Uri> regions, IDictionary<string, string>? extra = null)
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
            ["Auth__AdminToken"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["Recovery__Grace"] = "00:00:02",
            ["urls"] = $"http://127.0.0.1:{port}",
        };
        foreach (var (region, endpoint) in regions)
            settings[$"Catalog__Regions__{region}__Endpoint"] = endpoint.ToString();
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
            settings[key] = value;
        var host = new StandaloneHost(settings, port);
        await host.StartAsync();
        return host;
    }

    // Another program of ours (the console gateway) on this host's storage and settings, on its own port.
    public async Task<StandaloneHost> StartSiblingAsync(string program, IDictionary<string, string>? extra = null)
    {
        var port = Repository.FreePort();
        var sibling = new Dictionary<string, string>(settings) { ["urls"] = $"http://127.0.0.1:{port}" };
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
            sibling[key] = value;
        var host = new StandaloneHost(sibling, port, program);
        await host.StartAsync();
        return host;
    }

    public async Task StartAsync()
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Repository.Output($"functions/{program}", $"{program}.dll") },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (key, value) in settings)
            start.Environment[key] = value;
        process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => Record(e.Data);
        process.ErrorDataReceived += (_, e) => Record(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var current = process;
        await Eventually.HoldsAsync(async () =>
        {
            if (current.HasExited)
                throw new InvalidOperationException($"{program} exited with {current.ExitCode}:\n{Output}");
            try
            {
                return (await Client.GetAsync("healthz")).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, ready => ready, TimeSpan.FromSeconds(60), "the standalone host to answer /healthz");
    }

    // SIGKILL: no shutdown hooks, no flushing. What survives is what was durably written.
    public async Task KillAsync()
    {
        process!.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
    }

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
    }
}
