using Droplets.Auth;
using Droplets.Droplets;
using Droplets.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Droplets.Volumes;

public static class VolumesApi
{
    public static IEndpointRouteBuilder MapVolumeEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/volumes").AddEndpointFilter<Idempotency.Filter>();
        api.MapGet("", ListAsync);
        api.MapPost("", CreateVolume.HandleAsync);
        api.MapGet("{id}", GetAsync);
        api.MapDelete("{id}", VolumeActionsApi.DeleteAsync);
        api.MapPost("{id}/actions", VolumeActionsApi.PostAsync);
        api.MapGet("{id}/actions", VolumeActionsApi.ListAsync);
        return app;
    }

    // A bare array, like droplets. Filters: project_id, region; per_page and page_token as for droplets.
    public static async Task<Results<Ok<IReadOnlyList<Volume>>, ProblemHttpResult>> ListAsync(
        HttpContext context, VolumeStore store, CancellationToken cancellationToken)
    {
        var (listing, problem) = Listing.Read(context);
        if (problem is not null)
            return problem;
        var region = context.Request.Query["region"].ToString() is { Length: > 0 } r ? r : null;
        if (region is not null && Text.Refusal("region", region) is { } refusal)
            return Problems.BadRequest("invalid_query", refusal);
        var (items, next) = await store.ListAsync(listing!.Projects, region, listing.PerPage, listing.After, cancellationToken);
        Listing.LinkNext(context, next);
        return TypedResults.Ok(items);
    }

    public static async Task<Results<Ok<Volume>, ProblemHttpResult>> GetAsync(
        string id, HttpContext context, VolumeStore store, CancellationToken cancellationToken)
    {
        var volume = await FindAsync(id, context, store, cancellationToken);
        return volume is null ? NotFound(id) : TypedResults.Ok(volume);
    }

    // Another project's volume is answered exactly as a missing one.
    public static async Task<Volume?> FindAsync(string id, HttpContext context, VolumeStore store, CancellationToken cancellationToken)
    {
        var volume = Volume.IsWellFormedId(id) ? await store.GetAsync(id, cancellationToken) : null;
        return volume is not null && context.Caller().CanSee(volume.ProjectId) ? volume : null;
    }

    public static ProblemHttpResult NotFound(string id) => Problems.NotFound($"Volume '{id}' does not exist.");
}
