using Droplets.Auth;
using Droplets.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Droplets.Droplets;

public static class DropletsApi
{
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
        var (listing, problem) = Listing.Read(context);
        if (problem is not null)
            return problem;
        var tag = context.Request.Query["tag_name"].ToString() is { Length: > 0 } t ? t : null;
        if (tag is not null && !CreateDroplet.IsTag(tag))
            return Problems.BadRequest("invalid_query", $"tag_name {FieldErrors.Quote(tag)} is not a tag: 1-64 letters, digits, '_', ':' or '-'.");
        var page = await store.ListAsync(listing!.Projects, tag, listing.PerPage, listing.After, cancellationToken);
        Listing.LinkNext(context, page.Next);
        return TypedResults.Ok(page.Items);
    }

    public static async Task<Results<Ok<Droplet>, ProblemHttpResult>> GetAsync(
        string id, HttpContext context, DropletStore store, CancellationToken cancellationToken) =>
        await VisibleAsync(id, context, store, cancellationToken) is { } droplet ? TypedResults.Ok(droplet) : NotFound(id);

    // A droplet the caller may see, or null: another project's droplet is answered exactly as a missing one.
    public static async Task<Droplet?> VisibleAsync(string id, HttpContext context, DropletStore store, CancellationToken cancellationToken) =>
        DropletIds.IsWellFormed(id) && await store.GetAsync(id, cancellationToken) is { } droplet && context.Caller().CanSee(droplet.ProjectId)
            ? droplet
            : null;

    public static ProblemHttpResult NotFound(string id) => Problems.NotFound($"Droplet '{id}' does not exist.");
}
