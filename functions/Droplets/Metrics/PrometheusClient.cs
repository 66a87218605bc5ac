using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Catalog;
using Microsoft.Extensions.Options;

namespace Droplets.Metrics;

public sealed class MetricsOptions
{
    // The window of rate(): long enough to hold a few scrapes of the region's Prometheus.
    public TimeSpan RateWindow { get; init; } = TimeSpan.FromMinutes(1);
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
}

// Prometheus could not answer: not configured for the region, unreachable, or refusing the query. The message is for the
// caller (no endpoint, no exception text); what went wrong is the inner exception's, for the log.
public sealed class PrometheusUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

// Prometheus's HTTP query API (/api/v1/query and /api/v1/query_range), one shared HttpClient for every region.
public sealed class PrometheusClient(IOptions<CatalogOptions> catalog, IOptions<MetricsOptions> options) : IDisposable
{
    readonly HttpClient http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        Timeout = options.Value.Timeout,
    };

    // The value of a query that yields one series (or a scalar), or null when it yields nothing.
    public async Task<double?> QueryAsync(string region, string promql, CancellationToken cancellationToken)
    {
        var data = await GetAsync(region, $"api/v1/query?query={Uri.EscapeDataString(promql)}", cancellationToken);
        var result = data.GetProperty("result");
        return data.GetProperty("resultType").GetString() switch
        {
            "scalar" => Sample(result),
            "vector" when result.GetArrayLength() > 0 => Sample(result[0].GetProperty("value")),
            _ => null,
        };
    }

    // [unix seconds, value] pairs of a query that yields one series; empty when it yields nothing.
    public async Task<IReadOnlyList<double[]>> QueryRangeAsync(
        string region, string promql, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken)
    {
        var query = $"api/v1/query_range?query={Uri.EscapeDataString(promql)}&start={start.ToUnixTimeSeconds()}&end={end.ToUnixTimeSeconds()}" +
                    $"&step={step.TotalSeconds.ToString(CultureInfo.InvariantCulture)}";
        var result = (await GetAsync(region, query, cancellationToken)).GetProperty("result");
        if (result.GetArrayLength() == 0)
            return [];
        return result[0].GetProperty("values").EnumerateArray()
            .Select(v => new[] { v[0].GetDouble(), Sample(v) ?? double.NaN })
            .Where(v => double.IsFinite(v[1]))
            .ToList();
    }

    // A sample is [unix seconds, "value"]; Prometheus writes values as strings (NaN and ±Inf included).
    static double? Sample(JsonElement sample) =>
        double.TryParse(sample[1].GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) ? value : null;

    async Task<JsonElement> GetAsync(string region, string pathAndQuery, CancellationToken cancellationToken)
    {
        var baseUri = catalog.Value.Regions.GetValueOrDefault(region)?.Prometheus
            ?? throw new PrometheusUnavailableException($"No Prometheus is configured for region {region}.");
        try
        {
            using var response = await http.GetAsync(new Uri(baseUri.AbsoluteUri.TrimEnd('/') + "/" + pathAndQuery), cancellationToken);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
            if (!response.IsSuccessStatusCode || body.GetProperty("status").GetString() != "success")
            {
                var error = body.TryGetProperty("error", out var e) ? e.GetString() : response.ReasonPhrase;
                throw new PrometheusUnavailableException($"The Prometheus of region {region} refused the query ({(int)response.StatusCode}).",
                    new InvalidOperationException($"Prometheus: {error}"));
            }
            return body.GetProperty("data");
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or InvalidOperationException or KeyNotFoundException
                                    || e is TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new PrometheusUnavailableException($"The Prometheus of region {region} could not be reached.", e);
        }
    }

    public void Dispose() => http.Dispose();
}
