using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace Droplets.Catalog;

// What a create request may name, read from the same CatalogOptions that validate it. `id` is the value for
// `plan_id`; prices appear only where the catalog sets them.
public sealed record PlanView(
    string Id,
    int Vcpus,
    int Memory,
    int Disk,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] decimal? PriceMonthly,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] decimal? PriceHourly);

public sealed record ImageView(
    string Slug,
    string Distribution,
    string Version,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Name);

// Never the endpoint, kubeconfig context or token: those are how we reach the cluster, not what users pick.
public sealed record RegionView(string Slug, string Name, bool Available);

public static class CatalogApi
{
    public static IEndpointRouteBuilder MapCatalogEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1");
        api.MapGet("plans", ListPlans);
        api.MapGet("images", ListImages);
        api.MapGet("regions", ListRegions);
        return app;
    }

    // Smallest first: by vCPUs, then memory, then disk.
    public static Ok<IReadOnlyList<PlanView>> ListPlans(IOptions<CatalogOptions> catalog) =>
        TypedResults.Ok<IReadOnlyList<PlanView>>(catalog.Value.Plans
            .Select(p => new PlanView(p.Key, p.Value.Vcpus, p.Value.MemoryMib, p.Value.DiskGib, p.Value.PriceMonthly, p.Value.PriceHourly))
            .OrderBy(p => p.Vcpus).ThenBy(p => p.Memory).ThenBy(p => p.Disk).ThenBy(p => p.Id, StringComparer.Ordinal)
            .ToList());

    // By distribution, then slug.
    public static Ok<IReadOnlyList<ImageView>> ListImages(IOptions<CatalogOptions> catalog) =>
        TypedResults.Ok<IReadOnlyList<ImageView>>(catalog.Value.Images
            .Select(i => new ImageView(i.Key, i.Value.Distribution, i.Value.Version, string.IsNullOrEmpty(i.Value.Name) ? null : i.Value.Name))
            .OrderBy(i => i.Distribution, StringComparer.OrdinalIgnoreCase).ThenBy(i => i.Slug, StringComparer.Ordinal)
            .ToList());

    public static Ok<IReadOnlyList<RegionView>> ListRegions(IOptions<CatalogOptions> catalog) =>
        TypedResults.Ok<IReadOnlyList<RegionView>>(catalog.Value.Regions
            .Select(r => new RegionView(r.Key, r.Value.Name, r.Value.Available))
            .OrderBy(r => r.Slug, StringComparer.Ordinal)
            .ToList());
}
