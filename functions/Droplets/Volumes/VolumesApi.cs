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
        var query = context.Request.Query;
        var projectId = query["project_id"].ToString() is { Length: > 0 } p ? p : null;
        var region = query["region"].ToString() is { Length: > 0 } r ? r : null;

        var perPage = DropletsApi.DefaultPerPage;
        if (query["per_page"].ToString() is { Length: > 0 } raw && (!int.TryParse(raw, out perPage) || perPage is < 1 or > DropletsApi.MaxPerPage))
            return Problems.BadRequest("invalid_query", $"per_page must be an integer from 1 to {DropletsApi.MaxPerPage}.");
        ListCursor? after = null;
        if (query["page_token"].ToString() is { Length: > 0 } token)
        {
            after = ListCursor.TryDecode(token);
            if (after is null || (projectId is not null && after.ProjectId != projectId))
                return Problems.BadRequest("invalid_query", "page_token is not valid for this listing; use the Link header of the previous page.");
        }

        // A token sees only its projects: a foreign project lists as empty.
        var caller = context.Caller();
        IReadOnlyCollection<string>? projects = projectId is not null
            ? caller.CanSee(projectId) ? [projectId] : []
            : caller.AllProjects ? null : caller.ProjectIds;
        var (items, next) = await store.ListAsync(projects, region, perPage, after, cancellationToken);
        if (next is not null)
        {
            var nextQuery = QueryString.Create(query
                .Where(q => q.Key != "page_token")
                .SelectMany(q => q.Value.Select(v => KeyValuePair.Create(q.Key, v)))
                .Append(KeyValuePair.Create("page_token", (string?)next.Encode())));
            context.Response.Headers.Link = $"<{context.Request.PathBase}{context.Request.Path}{nextQuery}>; rel=\"next\"";
        }
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
