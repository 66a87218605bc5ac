using System.Text.Json.Serialization;
using Droplets.Droplets;
using Droplets.Http;
using Droplets.VncConsole;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Droplets.Auth;

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CreateTokenRequest(string? Name, IReadOnlyList<string>? ProjectIds, TokenScope? Scope, DateTimeOffset? ExpiresAt);

// The token as shown once, at creation: the only time the secret leaves the service.
public sealed record CreatedToken(
    string Id, string Name, IReadOnlyList<string> ProjectIds, TokenScope Scope, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, string Token);

public static class TokensApi
{
    public static IEndpointRouteBuilder MapTokenEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/tokens");
        api.MapPost("", CreateAsync);
        api.MapGet("", ListAsync);
        api.MapDelete("{id}", DeleteAsync);
        return app;
    }

    public static async Task<Results<Created<CreatedToken>, ProblemHttpResult>> CreateAsync(
        HttpRequest request, TokenStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var (body, problem) = await JsonBody.ReadAsync<CreateTokenRequest>(request, cancellationToken);
        if (problem is not null)
            return problem;

        var now = time.GetUtcNow();
        var errors = new FieldErrors();
        if (string.IsNullOrWhiteSpace(body!.Name) || body.Name.Length > 100)
            errors.Add("name", "name is required, at most 100 characters.");
        else if (Text.Refusal("name", body.Name) is { } refusal)
            errors.Add("name", refusal);
        if (body.ProjectIds is not { Count: > 0 } projects)
            errors.Add("project_ids", "project_ids is required: the projects the token may act on, or [\"*\"] for all.");
        else if (projects.Count > ApiToken.MaxProjects)
            errors.Add("project_ids", $"at most {ApiToken.MaxProjects} projects are allowed; got {projects.Count}. A token for every project is [\"*\"].");
        else
            foreach (var invalid in projects.Where(p => p != ApiToken.AllProjects && !Projects.IsValid(p)).Take(FieldErrors.Max))
                errors.Add("project_ids", $"project id {FieldErrors.Quote(invalid)} is invalid: {Projects.Rule}.");
        if (body.Scope is null)
            errors.Add("scope", "scope is required: \"read\" or \"write\".");
        if (body.ExpiresAt is { } expires && expires <= now)
            errors.Add("expires_at", "expires_at must be in the future.");
        if (errors.Any)
            return Problems.Validation(errors);

        var (id, secret) = TokenFormat.New();
        var token = new ApiToken
        {
            Id = id,
            Name = body.Name!,
            ProjectIds = body.ProjectIds!.Contains(ApiToken.AllProjects) ? [ApiToken.AllProjects] : body.ProjectIds!.Distinct(StringComparer.Ordinal).ToArray(),
            Scope = body.Scope!.Value,
            CreatedAt = now,
            ExpiresAt = body.ExpiresAt,
        };
        await store.AddAsync(token, TokenFormat.Hash(secret), cancellationToken);
        return TypedResults.Created($"/api/v1/tokens/{id}",
            new CreatedToken(token.Id, token.Name, token.ProjectIds, token.Scope, token.CreatedAt, token.ExpiresAt, secret));
    }

    public static async Task<Ok<IReadOnlyList<ApiToken>>> ListAsync(TokenStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok(await store.ListAsync(cancellationToken));

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        string id, TokenStore store, Authenticator authenticator, ConsoleTickets tickets, CancellationToken cancellationToken)
    {
        // First, so that a crash in between leaves the token's console sessions ending, not the token gone and its
        // sessions open.
        await tickets.RevokeAsync(id, cancellationToken);
        var deleted = await store.DeleteAsync(id, cancellationToken);
        authenticator.Forget(id);
        return deleted ? TypedResults.NoContent() : Problems.NotFound($"Token '{id}' does not exist.");
    }
}
