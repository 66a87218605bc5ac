using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Droplets.Tests.Infrastructure;

// A real Prometheus (Debian's package) on a free loopback port with its own temporary storage, scraping every target
// once a second, each as its own job so a query picks a target with {job="..."}. As an xunit class fixture it starts
// with no targets and tests add theirs; StartAsync starts one with targets known up front.
public sealed class Prometheus : IAsyncLifetime, IAsyncDisposable
{
    public const string Binary = "/usr/bin/prometheus";
    static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    readonly List<Uri> targets;
    readonly SemaphoreSlim configuring = new(1, 1);
    readonly ConcurrentQueue<string> output = new();
    readonly HttpClient http = new();
    DirectoryInfo? directory;
    Process? process;

    public Prometheus() : this([])
    {
    }

    Prometheus(IEnumerable<Uri> targets) => this.targets = [.. targets];

    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    public static async Task<Prometheus> StartAsync(params IEnumerable<Uri> targets)
    {
        var prometheus = new Prometheus(targets);
        try
        {
            await prometheus.InitializeAsync();
        }
        catch
        {
            await prometheus.DisposeAsync();
            throw;
        }
        return prometheus;
    }

    // target-0, target-1, … in the order targets were given or added.
    public string JobOf(Uri target)
    {
        lock (targets)
        {
            var index = targets.IndexOf(target);
            return index >= 0 ? $"target-{index}" : throw new ArgumentException($"{target} is not a target", nameof(target));
        }
    }

    public async Task InitializeAsync()
    {
        if (!File.Exists(Binary))
            throw new InvalidOperationException($"Prometheus is not installed ({Binary} is missing): run `apt-get install -y prometheus` (.ci/run does).");
        directory = Directory.CreateTempSubdirectory("droplets-prometheus-");
        BaseAddress = new Uri($"http://127.0.0.1:{Repository.FreePort()}/");
        http.BaseAddress = BaseAddress;
        WriteConfig();
        var start = new ProcessStartInfo(Binary)
        {
            ArgumentList =
            {
                $"--config.file={Path.Combine(directory.FullName, "prometheus.yml")}",
                $"--storage.tsdb.path={Path.Combine(directory.FullName, "data")}",
                $"--web.listen-address={BaseAddress.Authority}",
                // Lets AddTargetAsync reload the configuration through POST /-/reload.
                "--web.enable-lifecycle",
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        AppDomain.CurrentDomain.ProcessExit += Kill;

        await Eventually.HoldsAsync(async () =>
        {
            ThrowIfExited();
            try
            {
                using var response = await http.GetAsync("-/ready");
                return response.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, ready => ready, Deadline, $"Prometheus to be ready on {BaseAddress}{Log()}");
        foreach (var target in targets.ToList())
            await WaitUntilUpAsync(JobOf(target));
    }

    // Adds a scrape job for the target, reloads, and returns once Prometheus has scraped it successfully.
    public async Task<string> AddTargetAsync(Uri target)
    {
        await configuring.WaitAsync();
        try
        {
            lock (targets)
            {
                if (!targets.Contains(target))
                    targets.Add(target);
            }
            WriteConfig();
            using var response = await http.PostAsync("-/reload", null);
            if (!response.IsSuccessStatusCode)
                throw new InvalidOperationException($"Prometheus refused the new configuration: {await response.Content.ReadAsStringAsync()}{Log()}");
        }
        finally
        {
            configuring.Release();
        }
        var job = JobOf(target);
        await WaitUntilUpAsync(job);
        return job;
    }

    // GET /api/v1/query: the result of an instant query (an array of {metric, value} for a vector).
    public async Task<JsonElement> QueryAsync(string promql)
    {
        var body = await http.GetFromJsonAsync<JsonElement>($"api/v1/query?query={Uri.EscapeDataString(promql)}");
        if (body.GetProperty("status").GetString() != "success")
            throw new InvalidOperationException($"query {promql} failed: {body}");
        return body.GetProperty("data").GetProperty("result");
    }

    // The value of a query that returns exactly one sample, or null while it returns none.
    public async Task<double?> QueryValueAsync(string promql)
    {
        var result = await QueryAsync(promql);
        return result.GetArrayLength() switch
        {
            0 => null,
            1 => double.Parse(result[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture),
            _ => throw new InvalidOperationException($"query {promql} returned {result.GetArrayLength()} series: {result}"),
        };
    }

    async Task WaitUntilUpAsync(string job) =>
        await Eventually.HoldsAsync(async () =>
        {
            ThrowIfExited();
            var body = await http.GetFromJsonAsync<JsonElement>("api/v1/targets?state=active");
            var target = body.GetProperty("data").GetProperty("activeTargets").EnumerateArray()
                .FirstOrDefault(t => t.GetProperty("labels").GetProperty("job").GetString() == job);
            return target.ValueKind == JsonValueKind.Undefined
                ? "not discovered yet"
                : $"{target.GetProperty("health").GetString()} {target.GetProperty("lastError").GetString()}".Trim();
        }, health => health == "up", Deadline, $"Prometheus to scrape {job}{Log()}");

    void WriteConfig()
    {
        var config = new StringBuilder("""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:

            """);
        lock (targets)
        {
            for (var i = 0; i < targets.Count; i++)
            {
                config.Append(CultureInfo.InvariantCulture, $"""
                      - job_name: target-{i}
                        scheme: {targets[i].Scheme}
                        metrics_path: {targets[i].AbsolutePath}
                        static_configs:
                          - targets: ['{targets[i].Authority}']

                    """);
            }
        }
        var path = Path.Combine(directory!.FullName, "prometheus.yml");
        File.WriteAllText(path + ".tmp", config.ToString());
        File.Move(path + ".tmp", path, overwrite: true);
    }

    void Keep(string? line)
    {
        if (line is null)
            return;
        output.Enqueue(line);
        while (output.Count > 50 && output.TryDequeue(out _))
        {
        }
    }

    string Log() => output.IsEmpty ? "" : "\nPrometheus said:\n" + string.Join('\n', output);

    void ThrowIfExited()
    {
        if (process is { HasExited: true })
            throw new InvalidOperationException($"Prometheus exited with code {process.ExitCode}{Log()}");
    }

    void Kill(object? sender, EventArgs e)
    {
        try
        {
            process?.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
    }

    public async Task DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= Kill;
        if (process is not null)
        {
            Kill(null, EventArgs.Empty);
            await process.WaitForExitAsync();
            process.Dispose();
        }
        http.Dispose();
        configuring.Dispose();
        directory?.Delete(recursive: true);
    }

    ValueTask IAsyncDisposable.DisposeAsync() => new(DisposeAsync());
}

// The Prometheus text exposition format 0.0.4, strictly: every sample belongs to a family declared by # TYPE before it.
public sealed record Exposition(IReadOnlyDictionary<string, string> Types, IReadOnlyDictionary<string, string> Helps, IReadOnlyList<Sample> Samples)
{
    public IEnumerable<Sample> Series(string name, string vmi) =>
        Samples.Where(s => s.Name == name && s.Labels.GetValueOrDefault("name") == vmi);

    // The families whose names start with `prefix`, alone.
    public Exposition Only(string prefix) => new(
        Types.Where(t => t.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(),
        Helps.Where(h => h.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(),
        Samples.Where(s => s.Name.StartsWith(prefix, StringComparison.Ordinal)).ToList());

    public static Exposition Parse(string text)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var helps = new Dictionary<string, string>(StringComparer.Ordinal);
        var samples = new List<Sample>();
        var lineNumber = 0;
        foreach (var line in text.Split('\n'))
        {
            lineNumber++;
            if (line.Length == 0)
                continue;
            if (line.StartsWith('#'))
            {
                var parts = line.Split(' ', 4);
                if (parts.Length >= 3 && parts[1] == "TYPE")
                {
                    if (parts.Length != 4 || parts[3] is not ("counter" or "gauge" or "histogram" or "summary" or "untyped") || !types.TryAdd(parts[2], parts[3]))
                        throw new FormatException($"line {lineNumber}: bad or repeated TYPE: {line}");
                }
                else if (parts.Length >= 3 && parts[1] == "HELP")
                {
                    helps[parts[2]] = parts.Length == 4 ? parts[3] : "";
                }
                continue;
            }
            var sample = ParseSample(line, lineNumber);
            if (!types.ContainsKey(sample.Name))
                throw new FormatException($"line {lineNumber}: {sample.Name} has no TYPE before it");
            samples.Add(sample);
        }
        return new Exposition(types, helps, samples);
    }

    static Sample ParseSample(string line, int lineNumber)
    {
        try
        {
            return ParseSampleOrThrow(line, lineNumber);
        }
        catch (IndexOutOfRangeException)
        {
            throw new FormatException($"line {lineNumber}: truncated sample: {line}");
        }
    }

    static Sample ParseSampleOrThrow(string line, int lineNumber)
    {
        var i = 0;
        while (i < line.Length && (char.IsAsciiLetterOrDigit(line[i]) || line[i] is '_' or ':'))
            i++;
        var name = line[..i];
        if (name.Length == 0 || char.IsAsciiDigit(name[0]))
            throw new FormatException($"line {lineNumber}: bad metric name: {line}");
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                var start = i;
                while (char.IsAsciiLetterOrDigit(line[i]) || line[i] == '_')
                    i++;
                var label = line[start..i];
                if (label.Length == 0 || line[i] != '=' || line[i + 1] != '"')
                    throw new FormatException($"line {lineNumber}: bad label at column {i}: {line}");
                i += 2;
                var value = new StringBuilder();
                while (line[i] != '"')
                {
                    if (line[i] == '\\')
                    {
                        i++;
                        value.Append(line[i] switch
                        {
                            'n' => '\n',
                            '\\' => '\\',
                            '"' => '"',
                            _ => throw new FormatException($"line {lineNumber}: bad escape: {line}"),
                        });
                    }
                    else
                    {
                        value.Append(line[i]);
                    }
                    i++;
                }
                i++;
                if (!labels.TryAdd(label, value.ToString()))
                    throw new FormatException($"line {lineNumber}: repeated label {label}: {line}");
                if (line[i] == ',')
                    i++;
            }
            i++;
        }
        var rest = line[i..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (line[i] != ' ' || rest.Length is 0 or > 2)
            throw new FormatException($"line {lineNumber}: bad value: {line}");
        var number = rest[0] switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            var text when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
            _ => throw new FormatException($"line {lineNumber}: bad value: {line}"),
        };
        return new Sample(name, labels, number);
    }
}

public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public override string ToString() => $"{Name}{{{string.Join(',', Labels.Select(l => $"{l.Key}=\"{l.Value}\""))}}} {Value.ToString(CultureInfo.InvariantCulture)}";
}
