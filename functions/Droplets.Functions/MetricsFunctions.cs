using Droplets.Droplets;
using Droplets.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Droplets.Functions;

sealed class MetricsFunctions(DropletStore droplets, PrometheusClient prometheus, IOptions<MetricsOptions> options, ILoggerFactory loggers, TimeProvider time)
{
    [Function("GetDropletMetrics")]
    public async Task<IResult> Get(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/droplets/{id}/metrics")] HttpRequest request, string id, CancellationToken cancellationToken) =>
        await MetricsApi.GetAsync(id, request.HttpContext, droplets, prometheus, options, loggers, time, cancellationToken);
}
