using Droplets.Actions;
using Droplets.Droplets;
using Droplets.Events;
using Droplets.KubeVirt;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace Droplets.Functions;

sealed class EventFunctions(DropletStore droplets, ActionStore actions, KubeVirtClients clusters, ILoggerFactory loggers)
{
    [Function("ListDropletEvents")]
    public async Task<IResult> List(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/droplets/{id}/events")] HttpRequest request, string id, CancellationToken cancellationToken) =>
        await EventsApi.ListAsync(id, request.HttpContext, droplets, actions, clusters, loggers, cancellationToken);
}
