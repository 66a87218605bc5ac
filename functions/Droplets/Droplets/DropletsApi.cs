using Droplets.Auth;
using Droplets.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Droplets.Droplets;

public static class DropletsApi
{
    public const int DefaultPerPage = 100;
    public const int MaxPerPage = 1000;

    public static IEndpointRouteBuilder MapDropletEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/droplets").AddEndpointFilter<Idempotency.Filter>();
        api.MapGet("", ListAsync);
        api.MapPost("", CreateDroplet.HandleAsync);
        api.MapGet("{id}", GetAsync);
        return app;
    }

    public static async Task<Results<Ok<IReadOnlyList<Droplet>>, ProblemHttpResult>> ListAsync(
        HttpContext context, DropletStore store, CancellationToken cancellationToken)
    {
        var query = context.Request.Query;
        var projectId = query["project_id"].ToString() is { Length: > 0 } p ? p : null;
        var tag = query["tag_name"].ToString() is { Length: > 0 } t ? t : null;

        var perPage = DefaultPerPage;
        if (query["per_page"].ToString() is { Length: > 0 } raw && (!int.TryParse(raw, out perPage) || perPage is < 1 or > MaxPerPage))
            return Problems.BadRequest("invalid_query", $"per_page must be an integer from 1 to {MaxPerPage}.");

        ListCursor? after = null;
        if (query["page_token"].ToString() is { Length: > 0 } token)
        {
            after = ListCursor.TryDecode(token);
            if (after is null || (projectId is not null && after.ProjectId != projectId))
                return Problems.BadRequest("invalid_query", "page_token is not valid for this listing; use the Link header of the previous page.");
        }

        // A token sees only its projects: a foreign project lists as empty, exactly like one with no droplets.
        var caller = context.Caller();
        IReadOnlyCollection<string>? projects = projectId is not null
            ? caller.CanSee(projectId) ? [projectId] : []
            : caller.AllProjects ? null : caller.ProjectIds;
        var page = await store.ListAsync(projects, tag, perPage, after, cancellationToken);
        if (page.Next is not null)
        {
            var next = QueryString.Create(query
                .Where(q => q.Key != "page_token")
                .SelectMany(q => q.Value.Select(v => KeyValuePair.Create(q.Key, v)))
                .Append(KeyValuePair.Create("page_token", (string?)page.Next.Encode())));
            context.Response.Headers.Link = $"<{context.Request.PathBase}{context.Request.Path}{next}>; rel=\"next\"";
        }
        return TypedResults.Ok(page.Items);
    }

    public static async Task<Results<Ok<Droplet>, ProblemHttpResult>> GetAsync(
        string id, HttpContext context, DropletStore store, CancellationToken cancellationToken)
    {
        var droplet = DropletIds.IsWellFormed(id) ? await store.GetAsync(id, cancellationToken) : null;
        // Another project's droplet is answered exactly as a missing one.
        return droplet is null || !context.Caller().CanSee(droplet.ProjectId)
            ? Problems.NotFound($"Droplet '{id}' does not exist.")
            : TypedResults.Ok(droplet);
    }
}
