using Droplets.Droplets;
using Droplets.KubeVirt;
using Droplets.VncConsole;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Options;

namespace Droplets.Functions;

// The console URL points at the console gateway, which Functions cannot host (no inbound websockets):
// set Console__GatewayUrl to where Droplets.ConsoleGateway runs.
sealed class ConsoleFunctions(DropletStore droplets, ConsoleTickets tickets, KubeVirtClients clusters, IOptions<ConsoleOptions> options)
{
    [Function("OpenDropletConsole")]
    public async Task<IResult> Open(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/droplets/{id}/console")] HttpRequest request, string id, CancellationToken cancellationToken) =>
        await ConsoleApi.OpenAsync(id, request.HttpContext, droplets, tickets, options, cancellationToken);

    [Function("GetDropletScreenshot")]
    public async Task<IResult> Screenshot(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/droplets/{id}/console/screenshot")] HttpRequest request, string id, CancellationToken cancellationToken) =>
        await ConsoleApi.ScreenshotAsync(id, request.HttpContext, droplets, clusters, cancellationToken);
}
