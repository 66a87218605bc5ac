using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Droplets.Actions;
using Droplets.Auth;
using Droplets.Catalog;
using Droplets.Droplets;
using Droplets.Http;
using Droplets.KubeVirt;
using Droplets.Quotas;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Droplets.Volumes;

// Unknown fields are refused; sizes are JSON numbers (the web defaults would also read "10" as 10).
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
[JsonNumberHandling(JsonNumberHandling.Strict)]
public sealed record CreateVolumeRequest(string? Name, int? SizeGigabytes, string? Region, string? Description, string? ProjectId);

// POST /volumes: the record (status creating, held by its create action) and the action are written
// before the answer; then the ProvisionVolume workflow makes the DataVolume. If the process dies in
// between, ActionRecovery starts the workflow, as for droplets.
public static partial class CreateVolume
{
    public const int MinSize = 1;
    public const int MaxSize = 16384;
    public const int MaxDescription = 1024;

    public static async Task<Results<AcceptedAction<Volume>, ProblemHttpResult>> HandleAsync(
        HttpRequest request, VolumeStore store, ActionStarter starter, DurableTaskClient workflows,
        IOptions<CatalogOptions> catalog, IOptions<ActionOptions> options, TenantNamespaces namespaces, IOptions<QuotaOptions> quotas,
        CancellationToken cancellationToken)
    {
        var (body, problem) = await JsonBody.ReadAsync<CreateVolumeRequest>(request, cancellationToken);
        if (problem is not null)
            return problem;
        var errors = Validate(body!, catalog.Value);
        if (errors.Any)
            return Problems.Validation(errors);
        var caller = request.HttpContext.Caller();
        var projectId = body!.ProjectId ?? Projects.Default;
        if (!caller.CanSee(projectId))
            return Problems.Create(StatusCodes.Status403Forbidden, "forbidden", "Forbidden", $"This token may not act on project '{projectId}'.");

        var now = DateTimeOffset.UtcNow;
        var actionId = ResourceAction.NewId();
        var key = request.Headers[Idempotency.Header].ToString();
        var id = key.Length > 0 ? Volume.IdFromKey(caller.TokenId, key) : Volume.NewId();
        Volume volume;
        while (true)
        {
            volume = new Volume
            {
                Id = id,
                Name = body.Name!,
                SizeGigabytes = body.SizeGigabytes!.Value,
                Region = body.Region!,
                Description = body.Description ?? "",
                ProjectId = projectId,
                Namespace = namespaces.For(projectId),
                Status = VolumeStatus.Creating,
                CreatedAt = now,
                UpdatedAt = now,
                CreatedBy = caller.TokenId,
                LockedBy = actionId,
                LockedFor = ActionType.Create,
            };
            var (added, refusal) = await store.TryAddWithinAsync(volume,
                current => QuotaRules.RefuseVolume(quotas.Value.For(projectId), current, volume.SizeGigabytes), cancellationToken);
            if (added)
                break;
            if (refusal is not null)
                return refusal.Problem(projectId);
            // Taken by this caller's earlier attempt with the same key (answer what it made), or by chance.
            if (key.Length > 0 && await store.GetAsync(id, cancellationToken) is { } earlier && earlier.CreatedBy == caller.TokenId)
                return Created(earlier);

            id = Volume.NewId();
        }
        var action = new ResourceAction
        {
            Id = actionId, Type = ActionType.Create, Status = ActionStatus.InProgress, StartedAt = now,
            ResourceId = volume.Id, Region = volume.Region, ProjectId = volume.ProjectId, CreatedBy = caller.TokenId,
        };
        var created = volume;
        var headers = await starter.StartAsync(request.HttpContext, workflows, action, ResourceAction.InstanceIdFor(actionId), Volume.Location(volume.Id),
            () => VolumeWorkflows.StartAsync(workflows, created, options.Value.Deadline, cancellationToken), cancellationToken);
        return new AcceptedAction<Volume>(StatusCodes.Status201Created, volume, headers);

        // The earlier attempt's answer: its action's headers while that create still holds the volume (a volume
        // whose create is over answers as it is, with its own Location only, as GET would).
        AcceptedAction<Volume> Created(Volume earlier) => new(StatusCodes.Status201Created, earlier,
            earlier is { LockedFor: ActionType.Create, PendingDropletId: null, LockedBy: { } earlierAction }
                ? starter.Headers(request.HttpContext, workflows, earlierAction, ResourceAction.InstanceIdFor(earlierAction), Volume.Location(earlier.Id))
                : new ActionHeaders(Volume.Location(earlier.Id), null, null));
    }

    public static FieldErrors Validate(CreateVolumeRequest body, CatalogOptions catalog)
    {
        var errors = new FieldErrors();
        void Add(string field, string message) => errors.Add(field, message);

        if (string.IsNullOrEmpty(body.Name))
            Add("name", "name is required.");
        else if (body.Name.Length > 64)
            Add("name", "name must be at most 64 characters.");
        else if (!NamePattern().IsMatch(body.Name))
            Add("name", $"name {FieldErrors.Quote(body.Name)} is invalid: use lowercase letters, digits and hyphens, starting with a letter and ending with a letter or digit.");

        if (body.SizeGigabytes is not { } size)
            Add("size_gigabytes", "size_gigabytes is required.");
        else if (size is < MinSize or > MaxSize)
            Add("size_gigabytes", $"size_gigabytes must be from {MinSize} to {MaxSize}; got {size}.");

        if (string.IsNullOrEmpty(body.Region))
            Add("region", "region is required.");
        else if (!catalog.Regions.TryGetValue(body.Region, out var region))
            Add("region", $"unknown region {FieldErrors.Quote(body.Region)}.");
        else if (!region.Available)
            Add("region", $"region '{body.Region}' is not available.");

        if (body.Description is { Length: > MaxDescription })
            Add("description", $"description must be at most {MaxDescription} characters.");
        else if (body.Description is { } description && Text.Refusal("description", description) is { } refusal)
            Add("description", refusal);
        if (body.ProjectId is not null && !Projects.IsValid(body.ProjectId))
            Add("project_id", $"project_id {FieldErrors.Quote(body.ProjectId)} is invalid: {Projects.Rule}.");
        return errors;
    }

    [GeneratedRegex(@"^[a-z]([a-z0-9-]{0,62}[a-z0-9])?\z")]
    private static partial Regex NamePattern();
}
