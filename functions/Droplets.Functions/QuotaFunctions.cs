using Droplets.Catalog;
using Droplets.Droplets;
using Droplets.Quotas;
using Droplets.Volumes;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Options;

namespace Droplets.Functions;

sealed class QuotaFunctions(DropletStore droplets, VolumeStore volumes, IOptions<QuotaOptions> quotas, IOptions<CatalogOptions> catalog)
{
    [Function("GetProjectUsage")]
    public async Task<IResult> Usage(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/projects/{projectId}/usage")] HttpRequest request, string projectId, CancellationToken cancellationToken) =>
        await QuotaApi.GetUsageAsync(projectId, request.HttpContext, droplets, volumes, quotas, catalog, cancellationToken);
}
