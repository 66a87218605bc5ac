using System.Text.Json.Serialization;
using Droplets.Auth;
using Droplets.Droplets;
using Droplets.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Droplets.SshKeys;

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CreateSshKeyRequest(string? Name, string? PublicKey, string? ProjectId);

public static class SshKeysApi
{
    public const int MaxNameLength = 255;

    public static IEndpointRouteBuilder MapSshKeyEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/ssh_keys").AddEndpointFilter<Idempotency.Filter>();
        api.MapPost("", CreateAsync);
        api.MapGet("", ListAsync);
        api.MapGet("{id}", GetAsync);
        api.MapDelete("{id}", DeleteAsync);
        return app;
    }

    public static async Task<Results<Created<SshKey>, ProblemHttpResult>> CreateAsync(
        HttpRequest request, SshKeyStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var (body, problem) = await JsonBody.ReadAsync<CreateSshKeyRequest>(request, cancellationToken);
        if (problem is not null)
            return problem;

        var errors = new FieldErrors();
        if (string.IsNullOrWhiteSpace(body!.Name))
            errors.Add("name", "name is required.");
        else if (body.Name.Length > MaxNameLength)
            errors.Add("name", $"name must be at most {MaxNameLength} characters.");
        else if (Text.Refusal("name", body.Name) is { } refusal)
            errors.Add("name", refusal);
        PublicKey? key = null;
        if (string.IsNullOrWhiteSpace(body.PublicKey))
            errors.Add("public_key", "public_key is required: an OpenSSH public key line, e.g. the contents of ~/.ssh/id_ed25519.pub.");
        else if (PublicKey.Parse(body.PublicKey) is var (parsed, error) && error is not null)
            errors.Add("public_key", error);
        else
            key = parsed;
        if (body.ProjectId is not null && !Projects.IsValid(body.ProjectId))
            errors.Add("project_id", $"project_id {FieldErrors.Quote(body.ProjectId)} is invalid: {Projects.Rule}.");
        if (errors.Any)
            return Problems.Validation(errors);

        var caller = request.HttpContext.Caller();
        var projectId = body.ProjectId ?? Projects.Default;
        if (!caller.CanSee(projectId))
            return Problems.Create(StatusCodes.Status403Forbidden, "forbidden", "Forbidden", $"This token may not act on project '{projectId}'.");

        while (true)
        {
            var sshKey = new SshKey
            {
                Id = SshKeyIds.New(),
                Name = body.Name!,
                PublicKey = key!.Line,
                Fingerprint = key.Fingerprint,
                FingerprintMd5 = key.FingerprintMd5,
                Type = key.Type,
                Bits = key.Bits,
                Comment = key.Comment,
                ProjectId = projectId,
                CreatedAt = time.GetUtcNow(),
                CreatedBy = caller.TokenId,
            };
            var added = await store.AddAsync(sshKey, cancellationToken);
            switch (added.Outcome)
            {
                case AddOutcome.Added:
                    return TypedResults.Created($"/api/v1/ssh_keys/{sshKey.Id}", sshKey);
                case AddOutcome.Duplicate:
                    var duplicate = Problems.Create(StatusCodes.Status422UnprocessableEntity, "duplicate", "Duplicate SSH key",
                        $"This key ({sshKey.Fingerprint}) is already in project '{projectId}' as {added.ExistingId}; use that key, or delete it first.");
                    duplicate.ProblemDetails.Extensions["existing_id"] = added.ExistingId;
                    return duplicate;
                default:
                    continue; // the random id was taken: draw again
            }
        }
    }

    public static async Task<Results<Ok<IReadOnlyList<SshKey>>, ProblemHttpResult>> ListAsync(
        HttpContext context, SshKeyStore store, CancellationToken cancellationToken)
    {
        var (listing, problem) = Listing.Read(context);
        if (problem is not null)
            return problem;
        var page = await store.ListAsync(listing!.Projects, listing.PerPage, listing.After, cancellationToken);
        Listing.LinkNext(context, page.Next);
        return TypedResults.Ok(page.Items);
    }

    public static async Task<Results<Ok<SshKey>, ProblemHttpResult>> GetAsync(
        string id, HttpContext context, SshKeyStore store, CancellationToken cancellationToken) =>
        await FindAsync(id, context.Caller(), store, cancellationToken) is { } key ? TypedResults.Ok(key) : NotFound(id);

    // Droplets made with the key keep their copy of it (see CreateDroplet), so deleting it changes no machine.
    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        string id, HttpContext context, SshKeyStore store, CancellationToken cancellationToken) =>
        await FindAsync(id, context.Caller(), store, cancellationToken) is { } key && await store.DeleteAsync(key, cancellationToken)
            ? TypedResults.NoContent()
            : NotFound(id);

    // Another project's key is answered exactly as a missing one.
    static async Task<SshKey?> FindAsync(string id, Caller caller, SshKeyStore store, CancellationToken cancellationToken) =>
        SshKeyIds.IsWellFormed(id) && await store.GetAsync(id, cancellationToken) is { } key && caller.CanSee(key.ProjectId) ? key : null;

    static ProblemHttpResult NotFound(string id) => Problems.NotFound($"SSH key '{id}' does not exist.");
}
