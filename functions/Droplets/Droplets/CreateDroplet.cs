using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Droplets.Actions;
using Droplets.Auth;
using Droplets.Catalog;
using Droplets.Http;
using Droplets.Provisioning;
using Droplets.Volumes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Droplets.Droplets;

// Unknown fields are refused rather than ignored: a caller who sends `user_data` today must not
// believe it was applied.
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CreateDropletRequest(
    string? Name,
    string? Image,
    string? PlanId,
    string? Region,
    string? ProjectId,
    IReadOnlyList<string>? SshKeyIds,
    IReadOnlyList<string>? Tags,
    IReadOnlyList<string>? VolumeIds);

public static partial class CreateDroplet
{
    public const int MaxTags = 25;

    public static async Task<Results<Created<Droplet>, ProblemHttpResult>> HandleAsync(
        HttpRequest request,
        DropletStore store,
        VolumeStore volumes,
        ActionStore actions,
        DurableTaskClient workflows,
        IOptions<CatalogOptions> catalog,
        IOptions<ProvisioningOptions> provisioning,
        ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        var (body, problem) = await JsonBody.ReadAsync<CreateDropletRequest>(request, cancellationToken);
        if (problem is not null)
            return problem;

        var errors = Validate(body!, catalog.Value);
        if (errors.Count > 0)
            return Problems.Validation(errors);
        var caller = request.HttpContext.Caller();
        var projectId = body!.ProjectId ?? Projects.Default;
        if (!caller.CanSee(projectId))
            return Problems.Create(StatusCodes.Status403Forbidden, "forbidden", "Forbidden", $"This token may not act on project '{projectId}'.");

        var plan = catalog.Value.Plans[body!.PlanId!];
        var now = DateTimeOffset.UtcNow;
        var actionId = DropletAction.NewId();
        var key = request.Headers[Idempotency.Header].ToString();
        var id = key.Length > 0 ? DropletIds.FromKey(caller.TokenId, key) : DropletIds.New();
        // Volumes are held for the droplet before it is written, so that two creates cannot take the same one.
        var volumeIds = body.VolumeIds ?? [];
        if (volumeIds.Count > 0 && await VolumeReservations.ReserveAsync(volumes, caller, volumeIds, projectId, body.Region!, id, actionId, cancellationToken) is { } refused)
            return refused;
        Droplet droplet;
        while (true)
        {
            droplet = new Droplet
            {
                Id = id,
                ProjectId = projectId,
                Name = body.Name!,
                Image = body.Image!,
                PlanId = body.PlanId!,
                Region = body.Region!,
                Status = DropletStatus.Provisioning,
                Tags = (body.Tags ?? []).Distinct(StringComparer.Ordinal).ToArray(),
                VolumeIds = volumeIds,
                Vcpus = plan.Vcpus,
                Memory = plan.MemoryMib,
                Disk = plan.DiskGib,
                CreatedAt = now,
                UpdatedAt = now,
                CreatedBy = caller.TokenId,
                // The create action holds the droplet until provisioning ends.
                LockedBy = actionId,
                LockedFor = ActionType.Create,
            };
            if (await store.TryAddAsync(droplet, cancellationToken))
                break;
            // Taken: by this caller's own earlier attempt with the same key (answer what it made), or by
            // chance (draw again).
            if (key.Length > 0 && await store.GetAsync(id, cancellationToken) is { } earlier && earlier.CreatedBy == caller.TokenId)
            {
                if (earlier.LockedFor == ActionType.Create && earlier.LockedBy is { } earlierAction)
                    WorkflowLinks.Accepted(request.HttpContext, earlierAction, ProvisionDroplet.InstanceIdFor(earlier.Id));
                return TypedResults.Created($"/api/v1/droplets/{earlier.Id}", earlier);
            }
            id = DropletIds.New();
            if (volumeIds.Count > 0)
            {
                await VolumeReservations.ReleaseAsync(volumes, projectId, volumeIds, actionId, cancellationToken);
                if (await VolumeReservations.ReserveAsync(volumes, caller, volumeIds, projectId, body.Region!, id, actionId, cancellationToken) is { } lost)
                    return lost;
            }
        }
        await actions.AddAsync(new DropletAction
        {
            Id = actionId, Type = ActionType.Create, Status = ActionStatus.InProgress, StartedAt = now,
            ResourceId = droplet.Id, Region = droplet.Region, ProjectId = droplet.ProjectId, CreatedBy = caller.TokenId,
        }, cancellationToken);

        // The record is durable before we answer. If starting the workflow fails (or the process dies
        // right here), ActionRecovery finds the droplet held by its create action without a workflow
        // and starts it; the deterministic instance id makes a double start harmless.
        try
        {
            await ProvisionDroplet.StartAsync(workflows, droplet, provisioning.Value, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            loggers.CreateLogger(typeof(CreateDroplet)).LogWarning(e, "Provisioning of {DropletId} not started; recovery will start it", droplet.Id);
        }

        WorkflowLinks.Accepted(request.HttpContext, actionId, ProvisionDroplet.InstanceIdFor(droplet.Id));
        return TypedResults.Created($"/api/v1/droplets/{droplet.Id}", droplet);
    }

    public static Dictionary<string, string[]> Validate(CreateDropletRequest body, CatalogOptions catalog)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        void Add(string field, string message) => errors[field] = [.. errors.GetValueOrDefault(field, []), message];

        if (string.IsNullOrEmpty(body.Name))
            Add("name", "name is required.");
        else if (body.Name.Length > 63)
            Add("name", "name must be at most 63 characters (a hostname label).");
        else if (!HostnameLabel().IsMatch(body.Name))
            Add("name", $"name '{body.Name}' is not a valid hostname: use letters, digits and hyphens, starting and ending with a letter or digit.");

        CheckSlug("image", body.Image, catalog.Images.ContainsKey, "image");
        CheckSlug("plan_id", body.PlanId, catalog.Plans.ContainsKey, "plan");
        CheckSlug("region", body.Region, catalog.Regions.ContainsKey, "region");
        if (body.Region is not null && catalog.Regions.TryGetValue(body.Region, out var region) && !region.Available)
            Add("region", $"region '{body.Region}' is not available.");

        if (body.ProjectId is not null && !Projects.IsValid(body.ProjectId))
            Add("project_id", $"project_id '{body.ProjectId}' is invalid: {Projects.Rule}.");

        if (body.Tags is { } tags)
        {
            if (tags.Count > MaxTags)
                Add("tags", $"at most {MaxTags} tags are allowed; got {tags.Count}.");
            foreach (var tag in tags)
            {
                if (tag is null || !Tag().IsMatch(tag))
                    Add("tags", $"tag '{tag}' is invalid: use 1-64 letters, digits, '_', ':' or '-'.");
            }
        }

        // SSH keys have no resource yet (a later release). Refuse rather than ignore.
        if (body.SshKeyIds is { Count: > 0 })
            Add("ssh_key_ids", "ssh_key_ids is not supported yet: SSH key resources are not available, so keys cannot be injected. Omit the field or send [].");
        // Volumes are checked against their records when they are reserved (VolumeReservations); here only the shape.
        if (body.VolumeIds is { } volumeIds)
        {
            if (volumeIds.Count > VolumeRules.MaxPerDroplet)
                Add("volume_ids", $"at most {VolumeRules.MaxPerDroplet} volumes can be attached to a droplet; got {volumeIds.Count}.");
            foreach (var volumeId in volumeIds.Where(v => !Volume.IsWellFormedId(v)))
                Add("volume_ids", $"'{volumeId}' is not a volume id (vol_ followed by 12 hex digits).");
            foreach (var twice in volumeIds.Where(Volume.IsWellFormedId).GroupBy(v => v, StringComparer.Ordinal).Where(g => g.Count() > 1))
                Add("volume_ids", $"volume '{twice.Key}' is listed more than once.");
        }

        return errors;

        void CheckSlug(string field, string? value, Func<string, bool> exists, string what)
        {
            if (string.IsNullOrEmpty(value))
                Add(field, $"{field} is required.");
            else if (!exists(value))
                Add(field, $"unknown {what} '{value}'.");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex HostnameLabel();

    [GeneratedRegex("^[A-Za-z0-9_:-]{1,64}$")]
    private static partial Regex Tag();
}
