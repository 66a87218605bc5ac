using System.Net;
using Droplets.Auth;
using Droplets.Droplets;
using Droplets.Http;
using Droplets.KubeVirt;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace Droplets.VncConsole;

public sealed record ConsoleSession(string Url, DateTimeOffset ExpiresAt, string Protocol);

// POST /droplets/{id}/console mints a console URL on the gateway; GET /droplets/{id}/console/screenshot is
// KubeVirt's vnc/screenshot. Both need a running droplet.
public static class ConsoleApi
{
    public static IEndpointRouteBuilder MapConsoleEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/v1/droplets/{id}/console", OpenAsync);
        app.MapGet("/api/v1/droplets/{id}/console/screenshot", ScreenshotAsync);
        return app;
    }

    public static async Task<IResult> OpenAsync(
        string id, HttpContext context, DropletStore droplets, ConsoleTickets tickets, IOptions<ConsoleOptions> options, CancellationToken cancellationToken)
    {
        var (droplet, problem) = await RunningAsync(id, context, droplets, cancellationToken);
        if (problem is not null)
            return problem;
        var (token, expiresAt) = await tickets.MintAsync(droplet!, context.Caller(), cancellationToken);
        var url = $"{GatewayUrl(context.Request, options.Value)}?token={token}";
        return TypedResults.Created((string?)null, new ConsoleSession(url, expiresAt, "vnc"));
    }

    public static async Task<IResult> ScreenshotAsync(
        string id, HttpContext context, DropletStore droplets, KubeVirtClients clusters, CancellationToken cancellationToken)
    {
        var (droplet, problem) = await RunningAsync(id, context, droplets, cancellationToken);
        if (problem is not null)
            return problem;
        var (png, status, message) = await clusters.For(droplet!.Region)
            .GetScreenshotAsync(droplet.Namespace, DropletMapping.VmNameFor(droplet.Id), cancellationToken);
        return png is not null
            ? TypedResults.File(png, "image/png")
            : NotRunning(droplet.Id, status == HttpStatusCode.NotFound ? "its VirtualMachineInstance does not exist" : message ?? "KubeVirt refused it");
    }

    static async Task<(Droplet? Droplet, IResult? Problem)> RunningAsync(string id, HttpContext context, DropletStore droplets, CancellationToken cancellationToken)
    {
        var droplet = await DropletsApi.VisibleAsync(id, context, droplets, cancellationToken);
        if (droplet is null)
            return (null, DropletsApi.NotFound(id));
        return droplet.Status is DropletStatus.Running or DropletStatus.Resizing
            ? (droplet, null)
            : (null, NotRunning(droplet.Id, $"it is {System.Text.Json.JsonSerializer.Serialize(droplet.Status).Trim('"')}, and a console needs it running."));
    }

    public static IResult NotRunning(string dropletId, string why) =>
        Problems.Create(StatusCodes.Status409Conflict, "not_running", "Conflict", $"Droplet '{dropletId}' has no console now: {why}");

    static string GatewayUrl(HttpRequest request, ConsoleOptions options) =>
        options.GatewayUrl?.ToString().TrimEnd('/')
        ?? $"{(request.IsHttps ? "wss" : "ws")}://{request.Host}{request.PathBase}{ConsoleGateway.Path}";
}
