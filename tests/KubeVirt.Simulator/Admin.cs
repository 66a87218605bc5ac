using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace KubeVirt.Simulator;

// The requests the fault injection has refused.
internal sealed class FaultCount
{
    long value;

    public long Value => Interlocked.Read(ref value);

    public void Add() => Interlocked.Increment(ref value);
}

// Endpoints outside the Kubernetes API: health, runtime knobs, and the fault injection that only hits /api and /apis.
internal static class Admin
{
    public static void UseFaultInjection(this WebApplication app, SimulatorOptions options, FaultCount faults) =>
        app.Use(async (context, next) =>
        {
            var path = context.Request.Path;
            if (path.StartsWithSegments("/api") || path.StartsWithSegments("/apis"))
            {
                var latency = options.Latency;
                if (latency > TimeSpan.Zero)
                {
                    await Task.Delay(latency, context.RequestAborted);
                }
                var rate = options.ErrorRate;
                if (rate > 0 && Random.Shared.NextDouble() < rate)
                {
                    faults.Add();
                    var status = options.FaultStatus;
                    // As the API server answers each: its Status reason and message.
                    var error = status switch
                    {
                        401 => new ApiException(401, "Unauthorized", "Unauthorized"),
                        403 => new ApiException(403, "Forbidden", "forbidden: User cannot access the resource"),
                        429 => new ApiException(429, "TooManyRequests", "Too many requests, please try again later."),
                        503 => new ApiException(503, "ServiceUnavailable", "the server is currently unable to handle the request"),
                        _ => new ApiException(500, "", "etcdserver: request timed out"),
                    };
                    if (status is 429 or 503)
                    {
                        context.Response.Headers.RetryAfter = "1";
                    }
                    await Rest.Write(context, status, error.ToStatus());
                    return;
                }
                if (!IsWatch(context.Request))
                {
                    await next(context);
                    return;
                }
                // A cluster that refuses everything has also cut the watches open through it, as a network or API server
                // outage does: checked every 100 ms while the watch lasts.
                using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
                var cut = CutOnOutageAsync(context, options, ended.Token);
                try
                {
                    await next(context);
                }
                finally
                {
                    ended.Cancel();
                    await cut;
                }
                return;
            }
            await next(context);
        });

    static bool IsWatch(HttpRequest request) =>
        request.Method == "GET" && request.Query["watch"] is var w && (w == "true" || w == "1");

    static async Task CutOnOutageAsync(HttpContext context, SimulatorOptions options, CancellationToken ended)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        try
        {
            while (await timer.WaitForNextTickAsync(ended))
            {
                if (options.ErrorRate >= 1)
                {
                    context.Abort();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public static void MapAdmin(this WebApplication app, SimulatorOptions options)
    {
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/simulator/options", () => Results.Text(options.ToJson().ToJsonString(), "application/json"));
        app.MapMethods("/simulator/options", ["PUT", "PATCH"], async (HttpContext context) =>
        {
            JsonObject changes;
            try
            {
                changes = await Rest.ReadJson(context) as JsonObject ?? throw new FormatException("expected a JSON object");
                options.Apply(changes);
            }
            catch (Exception e) when (e is FormatException or ArgumentException or OverflowException or ApiException or InvalidOperationException)
            {
                return Results.Problem(e.Message, statusCode: 400, title: "Invalid simulator options");
            }
            return Results.Text(options.ToJson().ToJsonString(), "application/json");
        });
    }
}
