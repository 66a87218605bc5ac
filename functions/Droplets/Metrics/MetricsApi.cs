using System.Globalization;
using Droplets.Auth;
using Droplets.Droplets;
using Droplets.Http;
using Droplets.KubeVirt;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Droplets.Metrics;

// The seed's shape: the latest values. Null means Prometheus has no sample yet (a droplet that just booted).
public sealed record DropletMetrics(
    double? CpuUsagePercent, long? MemoryUsageBytes, long? MemoryTotalBytes, long? DiskReadBytes, long? DiskWriteBytes, DateTimeOffset Timestamp);

// The same quantities over time: each series as [unix seconds, value] pairs.
public sealed record DropletMetricsRange(
    DateTimeOffset Start, DateTimeOffset End, double Step, IReadOnlyDictionary<string, IReadOnlyList<double[]>> Series);

// GET /droplets/{id}/metrics, computed by the region's Prometheus over KubeVirt's virt-handler metrics
// (KUBEVIRT.md §7). Latest values need a running VMI (409 otherwise); history (`start`) works for any droplet.
// Prometheus missing or failing is 424 `metrics_unavailable`: never a 5xx, never made-up zeros.
public static class MetricsApi
{
    public const int MaxPoints = 11_000;   // Prometheus's own limit per query_range

    public static IEndpointRouteBuilder MapMetricsEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/droplets/{id}/metrics", GetAsync);
        return app;
    }

    // PromQL per quantity, for the VMI {namespace, name}. CPU is a percentage of the droplet's vCPUs.
    public static IReadOnlyDictionary<string, string> Queries(string ns, string vm, TimeSpan window)
    {
        var of = $"{{namespace=\"{ns}\",name=\"{vm}\"}}";
        var w = $"{(long)Math.Max(1, window.TotalSeconds)}s";
        return new Dictionary<string, string>
        {
            ["cpu_usage_percent"] = $"100 * sum(rate(kubevirt_vmi_cpu_usage_seconds_total{of}[{w}])) / count(count by (id) (kubevirt_vmi_vcpu_seconds_total{of}))",
            ["memory_usage_bytes"] = $"sum(kubevirt_vmi_memory_available_bytes{of} - kubevirt_vmi_memory_usable_bytes{of})",
            ["memory_total_bytes"] = $"sum(kubevirt_vmi_memory_domain_bytes{of})",
            ["disk_read_bytes"] = $"sum(kubevirt_vmi_storage_read_traffic_bytes_total{of})",
            ["disk_write_bytes"] = $"sum(kubevirt_vmi_storage_write_traffic_bytes_total{of})",
        };
    }

    public static async Task<IResult> GetAsync(
        string id, HttpContext context, DropletStore droplets, PrometheusClient prometheus, IOptions<MetricsOptions> options,
        ILoggerFactory loggers, TimeProvider time, CancellationToken cancellationToken)
    {
        var query = context.Request.Query;
        var ranged = query.ContainsKey("start") || query.ContainsKey("end") || query.ContainsKey("step");
        var now = time.GetUtcNow();
        Window? window = null;
        if (ranged)
        {
            var (parsed, problem) = Window.Parse(query["start"], query["end"], query["step"], now);
            if (problem is not null)
                return Problems.BadRequest("invalid_query", problem);
            window = parsed;
        }

        var droplet = await DropletsApi.VisibleAsync(id, context, droplets, cancellationToken);
        if (droplet is null)
            return DropletsApi.NotFound(id);
        if (window is null && droplet.Status is not (DropletStatus.Running or DropletStatus.Resizing))
            return Problems.Create(StatusCodes.Status409Conflict, "not_running", "Conflict",
                $"Droplet '{id}' is {System.Text.Json.JsonSerializer.Serialize(droplet.Status).Trim('"')}: current metrics exist only while it runs. Ask for its history with start (and end, step).");

        var queries = Queries(droplet.Namespace, DropletMapping.VmNameFor(droplet.Id), options.Value.RateWindow);
        try
        {
            if (window is { } w)
            {
                var series = await Task.WhenAll(queries.Select(async q =>
                    KeyValuePair.Create(q.Key, await prometheus.QueryRangeAsync(droplet.Region, q.Value, w.Start, w.End, w.Step, cancellationToken))));
                return TypedResults.Ok(new DropletMetricsRange(w.Start, w.End, w.Step.TotalSeconds, series.ToDictionary()));
            }
            var values = await Task.WhenAll(queries.Values.Select(q => prometheus.QueryAsync(droplet.Region, q, cancellationToken)));
            return TypedResults.Ok(new DropletMetrics(
                values[0] is { } cpu ? Math.Round(cpu, 2) : null, Bytes(values[1]), Bytes(values[2]), Bytes(values[3]), Bytes(values[4]), now));
        }
        catch (PrometheusUnavailableException e)
        {
            loggers.CreateLogger(typeof(MetricsApi)).LogWarning(e, "Metrics of {DropletId} unavailable", droplet.Id);
            return Problems.Create(StatusCodes.Status424FailedDependency, "metrics_unavailable", "Metrics unavailable", e.Message);
        }

        static long? Bytes(double? value) => value is { } v ? (long)Math.Round(v) : null;
    }

    // start (required for history), end (default now) and step (default: at least 15 s, at most 1000 points).
    // Times are RFC 3339 or unix seconds; step is seconds.
    public sealed record Window(DateTimeOffset Start, DateTimeOffset End, TimeSpan Step)
    {
        public static (Window? Window, string? Problem) Parse(string? start, string? end, string? step, DateTimeOffset now)
        {
            if (string.IsNullOrEmpty(start))
                return (null, "start is required with end or step: an RFC 3339 timestamp or unix seconds.");
            if (Time(start) is not { } from)
                return (null, $"start must be an RFC 3339 timestamp or unix seconds; got '{start}'.");
            var to = now;
            if (!string.IsNullOrEmpty(end) && Time(end) is not { } parsedEnd)
                return (null, $"end must be an RFC 3339 timestamp or unix seconds; got '{end}'.");
            else if (!string.IsNullOrEmpty(end))
                to = Time(end)!.Value;
            if (to <= from)
                return (null, "end must be after start.");
            var span = to - from;
            var seconds = Math.Max(15, Math.Ceiling(span.TotalSeconds / 1000));
            if (!string.IsNullOrEmpty(step) && (!double.TryParse(step, NumberStyles.Float, CultureInfo.InvariantCulture, out seconds) || !double.IsFinite(seconds) || seconds <= 0))
                return (null, $"step must be a positive number of seconds; got '{step}'.");
            if (span.TotalSeconds / seconds > MaxPoints)
                return (null, $"start, end and step give more than {MaxPoints} points per series; use a larger step.");
            return (new Window(from, to, TimeSpan.FromSeconds(seconds)), null);
        }

        static DateTimeOffset? Time(string value) =>
            double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var unix) && double.IsFinite(unix) && unix is >= 0 and < 253402300800
                ? DateTimeOffset.FromUnixTimeMilliseconds((long)(unix * 1000))
                : DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed) ? parsed : null;
    }
}
