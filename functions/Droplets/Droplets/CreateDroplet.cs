using System.Text;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Droplets.Actions;
using Droplets.Auth;
using Droplets.Catalog;
using Droplets.Http;
using Droplets.Provisioning;
using Droplets.SshKeys;
using Droplets.Volumes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Droplets.Droplets;

// Unknown fields are refused rather than ignored: a caller who sends a field we do not apply must not
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
    IReadOnlyList<string>? VolumeIds,
    string? UserData);

public static partial class CreateDroplet
{
    public const int MaxTags = 25;
    public const int MaxSshKeys = 25;
    public const int MaxUserDataBytes = 64 * 1024;

    // 64 KiB of user data may arrive JSON-escaped (\n, \uXXXX), so this body may be larger than others.
    public const int MaxBodyBytes = JsonBody.LargestMaxBytes;

    public static async Task<Results<AcceptedAction<Droplet>, ProblemHttpResult>> HandleAsync(
        HttpRequest request,
        DropletStore store,
        SshKeyStore sshKeys,
        VolumeStore volumes,
        ActionStarter starter,
        DurableTaskClient workflows,
        IOptions<CatalogOptions> catalog,
        IOptions<ProvisioningOptions> provisioning,
        KubeVirt.TenantNamespaces namespaces,
        IOptions<Quotas.QuotaOptions> quotas,
        CancellationToken cancellationToken)
    {
        var (body, problem) = await JsonBody.ReadAsync<CreateDropletRequest>(request, cancellationToken, MaxBodyBytes);
        if (problem is not null)
            return problem;

        var errors = Validate(body!, catalog.Value);
        var caller = request.HttpContext.Caller();
        var projectId = body!.ProjectId ?? Projects.Default;
        var keyIds = (body.SshKeyIds ?? []).Distinct(StringComparer.Ordinal).ToArray();
        IReadOnlyList<SshKey> keys = [];
        // At most MaxSshKeys reads.
        if (keyIds.Length > 0 && !errors.Has("ssh_key_ids") && !errors.Has("project_id"))
        {
            (keys, var keyErrors) = await ResolveKeysAsync(keyIds, projectId, caller, sshKeys, cancellationToken);
            foreach (var keyError in keyErrors)
                errors.Add("ssh_key_ids", keyError);
        }
        if (errors.Any)
            return Problems.Validation(errors);
        if (!caller.CanSee(projectId))
            return Problems.Create(StatusCodes.Status403Forbidden, "forbidden", "Forbidden", $"This token may not act on project '{projectId}'.");

        var plan = catalog.Value.Plans[body!.PlanId!];
        var limits = quotas.Value.For(projectId);
        var now = DateTimeOffset.UtcNow;
        var actionId = ResourceAction.NewId();
        var key = request.Headers[Idempotency.Header].ToString();
        var id = key.Length > 0 ? DropletIds.FromKey(caller.TokenId, key) : DropletIds.New();
        // The keys as they are now, not as they may be when the workflow runs: see DropletBoot.
        var boot = new DropletBoot(keys.Select(k => k.PublicKey).ToArray(), string.IsNullOrEmpty(body.UserData) ? null : body.UserData);
        // Volumes are held for the droplet before it is written, so that two creates cannot take the same one.
        var volumeIds = body.VolumeIds ?? [];
        if (volumeIds.Count > 0 && await VolumeReservations.ReserveAsync(volumes, caller, volumeIds, projectId, namespaces.For(projectId), body.Region!, id, actionId, cancellationToken) is { } refused)
            return refused;
        Droplet droplet;
        while (true)
        {
            droplet = new Droplet
            {
                Id = id,
                ProjectId = projectId,
                Namespace = namespaces.For(projectId),
                Name = body.Name!,
                Image = body.Image!,
                PlanId = body.PlanId!,
                Region = body.Region!,
                Status = ProvisionDroplet.Rule.During,
                Tags = (body.Tags ?? []).Distinct(StringComparer.Ordinal).ToArray(),
                SshKeyIds = keyIds,
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
            var (added, refusal) = await store.TryAddWithinAsync(droplet, boot,
                current => Quotas.QuotaRules.RefuseDroplet(limits, current, plan, catalog.Value.Plans), cancellationToken);
            if (added)
                break;
            if (refusal is not null)
            {
                if (volumeIds.Count > 0)
                    await VolumeReservations.ReleaseAsync(volumes, projectId, volumeIds, actionId, cancellationToken);
                return refusal.Problem(projectId);
            }
            // Taken: by this caller's own earlier attempt with the same key (answer what it made), or by
            // chance (draw again).
            if (key.Length > 0 && await store.GetAsync(id, cancellationToken) is { } earlier && earlier.CreatedBy == caller.TokenId)
                return Created(earlier);
            id = DropletIds.New();
            if (volumeIds.Count > 0)
            {
                await VolumeReservations.ReleaseAsync(volumes, projectId, volumeIds, actionId, cancellationToken);
                if (await VolumeReservations.ReserveAsync(volumes, caller, volumeIds, projectId, namespaces.For(projectId), body.Region!, id, actionId, cancellationToken) is { } lost)
                    return lost;
            }
        }
        // The record is durable before we answer; the workflow's instance id is the droplet's.
        var action = new ResourceAction
        {
            Id = actionId, Type = ActionType.Create, Status = ActionStatus.InProgress, StartedAt = now,
            ResourceId = droplet.Id, Region = droplet.Region, ProjectId = droplet.ProjectId, CreatedBy = caller.TokenId,
        };
        var created = droplet;
        var headers = await starter.StartAsync(request.HttpContext, workflows, action, ProvisionDroplet.Rule.InstanceIdFor(droplet.Id, actionId), Location(droplet.Id),
            () => ActionRules.StartAsync(workflows, created, provisioning.Value.Deadline, cancellationToken), cancellationToken);
        return new AcceptedAction<Droplet>(StatusCodes.Status201Created, droplet, headers);

        // The earlier attempt's answer: its action's headers while that create still holds the droplet.
        AcceptedAction<Droplet> Created(Droplet earlier) => new(StatusCodes.Status201Created, earlier,
            earlier is { LockedFor: ActionType.Create, LockedBy: { } earlierAction }
                ? starter.Headers(request.HttpContext, workflows, earlierAction, ProvisionDroplet.Rule.InstanceIdFor(earlier.Id, earlierAction), Location(earlier.Id))
                : new ActionHeaders(Location(earlier.Id), null, null));
    }

    static string Location(string id) => $"/api/v1/droplets/{id}";

    // Each array is checked on its length before its elements, and elements only while fewer than FieldErrors.Max
    // errors were found: the cost is linear in the body, the answer bounded.
    public static FieldErrors Validate(CreateDropletRequest body, CatalogOptions catalog)
    {
        var errors = new FieldErrors();

        if (string.IsNullOrEmpty(body.Name))
            errors.Add("name", "name is required.");
        else if (body.Name.Length > 63)
            errors.Add("name", "name must be at most 63 characters (a hostname label).");
        else if (!HostnameLabel().IsMatch(body.Name))
            errors.Add("name", $"name {FieldErrors.Quote(body.Name)} is not a valid hostname: use letters, digits and hyphens, starting and ending with a letter or digit.");

        CheckSlug("image", body.Image, catalog.Images.ContainsKey, "image");
        CheckSlug("plan_id", body.PlanId, catalog.Plans.ContainsKey, "plan");
        CheckSlug("region", body.Region, catalog.Regions.ContainsKey, "region");
        if (body.Region is not null && catalog.Regions.TryGetValue(body.Region, out var region) && !region.Available)
            errors.Add("region", $"region '{body.Region}' is not available.");

        if (body.ProjectId is not null && !Projects.IsValid(body.ProjectId))
            errors.Add("project_id", $"project_id {FieldErrors.Quote(body.ProjectId)} is invalid: {Projects.Rule}.");

        if (body.Tags is { Count: > MaxTags } manyTags)
            errors.Add("tags", $"at most {MaxTags} tags are allowed; got {manyTags.Count}.");
        else if (body.Tags is { } tags)
            foreach (var tag in tags)
            {
                if (errors.Full)
                    break;
                if (tag is null || !Tag().IsMatch(tag))
                    errors.Add("tags", $"tag {FieldErrors.Quote(tag)} is invalid: use 1-64 letters, digits, '_', ':' or '-'.");
            }

        if (body.SshKeyIds is { Count: > MaxSshKeys } manyKeys)
            errors.Add("ssh_key_ids", $"at most {MaxSshKeys} SSH keys are allowed; got {manyKeys.Count}.");
        else if (body.SshKeyIds is { } sshKeyIds && sshKeyIds.Any(k => k is null))
            errors.Add("ssh_key_ids", "ssh_key_ids must hold SSH key ids (sk_…), not null.");

        if (body.UserData is { } userData)
        {
            if (Encoding.UTF8.GetByteCount(userData) is var size and > MaxUserDataBytes)
                errors.Add("user_data", $"user_data is {size} bytes of UTF-8; at most {MaxUserDataBytes} (64 KiB) are allowed.");
            else if (Text.Refusal("user_data", userData, multiline: true) is { } refusal)
                errors.Add("user_data", refusal);
        }

        // Volumes are checked against their records when they are reserved (VolumeReservations); here only the shape.
        if (body.VolumeIds is { Count: > VolumeRules.MaxPerDroplet } manyVolumes)
            errors.Add("volume_ids", $"at most {VolumeRules.MaxPerDroplet} volumes can be attached to a droplet; got {manyVolumes.Count}.");
        else if (body.VolumeIds is { } volumeIds)
        {
            foreach (var volumeId in volumeIds.Where(v => !Volume.IsWellFormedId(v)))
                errors.Add("volume_ids", $"{FieldErrors.Quote(volumeId)} is not a volume id (vol_ followed by 12 hex digits).");
            foreach (var twice in volumeIds.Where(Volume.IsWellFormedId).GroupBy(v => v, StringComparer.Ordinal).Where(g => g.Count() > 1))
                errors.Add("volume_ids", $"volume '{twice.Key}' is listed more than once.");
        }

        return errors;

        void CheckSlug(string field, string? value, Func<string, bool> exists, string what)
        {
            if (string.IsNullOrEmpty(value))
                errors.Add(field, $"{field} is required.");
            else if (!exists(value))
                errors.Add(field, $"unknown {what} {FieldErrors.Quote(value)}.");
        }
    }

    // Every id that does not name a key of the droplet's project is reported, all in one answer. A key the token
    // cannot see reads exactly like a missing one; a key of another of the token's projects says where it is.
    static async Task<(IReadOnlyList<SshKey> Keys, string[] Errors)> ResolveKeysAsync(
        string[] ids, string projectId, Caller caller, SshKeyStore store, CancellationToken cancellationToken)
    {
        var found = await Task.WhenAll(ids.Select(id => SshKeyIds.IsWellFormed(id) ? store.GetAsync(id, cancellationToken) : Task.FromResult<SshKey?>(null)));
        var visible = found.Select(k => k is not null && caller.CanSee(k.ProjectId) ? k : null).ToArray();
        var unknown = ids.Where((_, i) => visible[i] is null).ToArray();
        var elsewhere = visible.Where(k => k is not null && k.ProjectId != projectId).ToArray();
        var errors = new List<string>();
        if (unknown.Length > 0)
            errors.Add($"unknown SSH key id{(unknown.Length == 1 ? "" : "s")}: {string.Join(", ", unknown.Select(FieldErrors.Shown))}.");
        errors.AddRange(elsewhere.Select(k => $"SSH key {k!.Id} belongs to project '{k.ProjectId}'; a droplet in project '{projectId}' can use only that project's keys."));
        return (visible.Where(k => k is not null && k.ProjectId == projectId).Select(k => k!).ToArray(), [.. errors]);
    }

    [GeneratedRegex(@"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\z")]
    private static partial Regex HostnameLabel();

    public static bool IsTag(string value) => Tag().IsMatch(value);

    [GeneratedRegex(@"^[A-Za-z0-9_:-]{1,64}\z")]
    private static partial Regex Tag();
}
