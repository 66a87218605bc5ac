using System.Text.Json.Serialization;
using Droplets.Actions;
using Droplets.Auth;
using Droplets.Droplets;
using Droplets.Http;
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
public sealed record VolumeActionRequest(string? Type, string? DropletId, int? SizeGigabytes);

// POST /volumes/{id}/actions (attach, detach, resize) and DELETE /volumes/{id}: 202 with the action, like
// droplet actions. An action holds the volume; an attach or detach holds the droplet as well, so that
// nothing else changes its VirtualMachine meanwhile.
public static class VolumeActionsApi
{
    public static async Task<Results<AcceptedAction<ResourceAction>, ProblemHttpResult>> PostAsync(
        string id, HttpRequest request, VolumeStore volumes, DropletStore droplets, ActionStarter starter, DurableTaskClient workflows,
        IOptions<ActionOptions> options, IOptions<QuotaOptions> quotas, CancellationToken cancellationToken)
    {
        var (read, problem) = await JsonBody.ReadAsync<VolumeActionRequest>(request, cancellationToken);
        if (problem is not null)
            return problem;
        var body = read!;
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (VolumeActionRules.Posted.FirstOrDefault(r => VolumeActionRules.Wire(r.Type) == body.Type) is not { Type: var type })
        {
            errors["type"] = [$"type {(body.Type is null ? "is required" : $"{FieldErrors.Quote(body.Type)} is not a volume action")}: use one of {string.Join(", ", VolumeActionRules.Posted.Select(r => VolumeActionRules.Wire(r.Type)))}."];
            return Problems.Validation(errors);
        }
        if (type == ActionType.Attach && string.IsNullOrEmpty(body.DropletId))
            errors["droplet_id"] = ["droplet_id is required to attach a volume."];
        if (type == ActionType.Resize && body.DropletId is not null)
            errors["droplet_id"] = ["droplet_id applies only to attach and detach."];
        if (type == ActionType.Resize && body.SizeGigabytes is not { } size)
            errors["size_gigabytes"] = ["size_gigabytes is required to resize a volume."];
        else if (type == ActionType.Resize && body.SizeGigabytes is < CreateVolume.MinSize or > CreateVolume.MaxSize)
            errors["size_gigabytes"] = [$"size_gigabytes must be from {CreateVolume.MinSize} to {CreateVolume.MaxSize}; got {body.SizeGigabytes}."];
        if (type != ActionType.Resize && body.SizeGigabytes is not null)
            errors["size_gigabytes"] = ["size_gigabytes applies only to resize."];
        if (errors.Count > 0)
            return Problems.Validation(errors);

        var volume = await VolumesApi.FindAsync(id, request.HttpContext, volumes, cancellationToken);
        if (volume is null)
            return VolumesApi.NotFound(id);
        if (type == ActionType.Attach)
        {
            var droplet = DropletIds.IsWellFormed(body.DropletId!) ? await droplets.GetAsync(body.DropletId!, cancellationToken) : null;
            var refusal = droplet is null || !request.HttpContext.Caller().CanSee(droplet.ProjectId)
                ? $"droplet {FieldErrors.Quote(body.DropletId)} does not exist."
                : droplet.Region != volume.Region
                    ? $"droplet '{droplet.Id}' is in region '{droplet.Region}' and the volume in '{volume.Region}'; a volume attaches only to a droplet in its own region."
                    : droplet.ProjectId != volume.ProjectId
                        ? $"droplet '{droplet.Id}' is in project '{droplet.ProjectId}' and the volume in '{volume.ProjectId}'; a volume attaches only to a droplet of its own project."
                        : droplet.Namespace != volume.Namespace
                            ? VolumeRules.NamespaceMismatch(volume.Id, volume.Namespace, droplet.Namespace)
                            : null;
            if (refusal is not null)
                return Problems.Validation(new Dictionary<string, string[]> { ["droplet_id"] = [refusal] });
        }
        return await StartAsync(volume, type, request.HttpContext, volumes, droplets, starter, workflows, options.Value, cancellationToken,
            body.DropletId, body.SizeGigabytes, quotas.Value.For(volume.ProjectId));
    }

    // A volume attached to a droplet is refused (409 naming it); otherwise its DataVolume and claim are deleted,
    // then the record. 202 with the delete action, which stays readable.
    public static async Task<Results<AcceptedAction<ResourceAction>, ProblemHttpResult>> DeleteAsync(
        string id, HttpContext context, VolumeStore volumes, DropletStore droplets, ActionStarter starter, DurableTaskClient workflows,
        IOptions<ActionOptions> options, CancellationToken cancellationToken)
    {
        var volume = await VolumesApi.FindAsync(id, context, volumes, cancellationToken);
        if (volume is null)
            return VolumesApi.NotFound(id);
        return await StartAsync(volume, ActionType.Delete, context, volumes, droplets, starter, workflows, options.Value, cancellationToken, null, null);
    }

    // The volume's actions, newest first; also after the volume is deleted.
    public static async Task<Results<Ok<IReadOnlyList<ResourceAction>>, ProblemHttpResult>> ListAsync(
        string id, HttpContext context, ActionStore actions, DurableTaskClient workflows, CancellationToken cancellationToken) =>
        await ActionsApi.HistoryAsync(id, Volume.IsWellFormedId(id), context, actions, workflows, cancellationToken) ?? VolumesApi.NotFound(id);

    // Takes the volume (ETag-guarded: of concurrent requests exactly one wins), then for attach/detach the
    // droplet (if that is refused, the volume is let go again); then the starter records the action and starts its
    // workflow. A crash after the volume was taken is picked up by ActionRecovery, whose workflow takes the droplet itself.
    static async Task<Results<AcceptedAction<ResourceAction>, ProblemHttpResult>> StartAsync(
        Volume found, ActionType type, HttpContext context, VolumeStore volumes, DropletStore droplets, ActionStarter starter, DurableTaskClient workflows,
        ActionOptions options, CancellationToken cancellationToken, string? dropletId, int? size, QuotaLimits? limits = null)
    {
        var actionId = ResourceAction.NewId();
        Refusal? refusal = null;
        QuotaRefusal? over = null;
        // A resize grows the volume: it sees the project's volumes and is serialized with creates (VolumeStore.UpdateWithinAsync).
        Volume? Take(Volume current, IReadOnlyList<Volume>? project)
        {
            refusal = VolumeRules.VolumeRefusal(type, current, dropletId, size);
            over = refusal is null && project is not null ? QuotaRules.RefuseVolumeGib(limits!, project, Math.Max(0, size!.Value - current.SizeGigabytes)) : null;
            return refusal is not null || over is not null ? null : current with
            {
                LockedBy = actionId,
                LockedFor = type,
                PendingDropletId = type == ActionType.Detach ? current.DropletId : type == ActionType.Attach ? dropletId : null,
                PendingSize = size,
            };
        }
        var taken = type == ActionType.Resize && limits is not null
            ? await volumes.UpdateWithinAsync(found.ProjectId, found.Id, (project, current) => Take(current, project), cancellationToken)
            : await volumes.UpdateAsync(found.ProjectId, found.Id, current => Take(current, null), cancellationToken);
        if (taken is null)
            return VolumesApi.NotFound(found.Id);
        if (refusal is not null)
            return Problem(refusal, "Volume");
        if (over is not null)
            return over.Problem(found.ProjectId);

        if (VolumeActionRules.For(type).HoldsDroplet)
        {
            Refusal? busy = null;
            var held = await droplets.UpdateAsync(taken.ProjectId, taken.PendingDropletId!, current =>
            {
                busy = VolumeRules.DropletRefusal(type, current, actionId);
                return busy is not null ? null : VolumeRules.Hold(current, actionId, type);
            }, cancellationToken);
            busy ??= held is null ? new Refusal("conflict", $"Droplet '{taken.PendingDropletId}' no longer exists.") : null;
            if (busy is not null)
            {
                await volumes.UpdateAsync(taken.ProjectId, taken.Id, current => current.LockedBy != actionId ? null
                    : current with { LockedBy = null, LockedFor = null, PendingDropletId = null, PendingSize = null }, cancellationToken);
                return Problem(busy, "Droplet");
            }
        }

        var action = new ResourceAction
        {
            Id = actionId,
            Type = type,
            Status = ActionStatus.InProgress,
            StartedAt = DateTimeOffset.UtcNow,
            ResourceId = taken.Id,
            Region = taken.Region,
            ProjectId = taken.ProjectId,
            CreatedBy = context.Caller().TokenId,
        };
        var headers = await starter.StartAsync(context, workflows, action, ResourceAction.InstanceIdFor(actionId), ResourceAction.Location(actionId),
            () => VolumeWorkflows.StartAsync(workflows, taken, options.Deadline, cancellationToken), cancellationToken);
        return new AcceptedAction<ResourceAction>(StatusCodes.Status202Accepted, action, headers);
    }

    static ProblemHttpResult Problem(Refusal refusal, string what) => refusal.Code switch
    {
        "locked" => Problems.Create(StatusCodes.Status409Conflict, "locked", $"{what} is locked", refusal.Message),
        "validation_failed" => Problems.Validation(new Dictionary<string, string[]> { ["size_gigabytes"] = [refusal.Message] }),
        _ => Problems.Create(StatusCodes.Status409Conflict, refusal.Code, "Not possible now", refusal.Message),
    };
}
