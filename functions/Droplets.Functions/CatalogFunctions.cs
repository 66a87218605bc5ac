using Droplets.Catalog;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Options;

namespace Droplets.Functions;

sealed class CatalogFunctions(IOptions<CatalogOptions> catalog)
{
    [Function("ListPlans")]
    public IResult Plans([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/plans")] HttpRequest request) => CatalogApi.ListPlans(catalog);

    [Function("ListImages")]
    public IResult Images([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/images")] HttpRequest request) => CatalogApi.ListImages(catalog);

    [Function("ListRegions")]
    public IResult Regions([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/regions")] HttpRequest request) => CatalogApi.ListRegions(catalog);
}
