using Droplets.Actions;
using Droplets.Auth;
using Droplets.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Droplets.Volumes;

// A droplet created with volume_ids: each volume must exist (for this caller), be in the droplet's project,
// region and namespace, and be available; it is then held by the droplet's create action (ETag-guarded, so of two
// creates naming the same volume exactly one gets it) before the droplet is written. Provisioning attaches
// them (see DropletMapping) and records them attached when it ends; if the create dies before the droplet
// is written, ActionRecovery drops the reservation.
public static class VolumeReservations
{
    public static async Task<ProblemHttpResult?> ReserveAsync(
        VolumeStore volumes, Caller caller, IReadOnlyList<string> ids, string projectId, string ns, string region, string dropletId, string actionId,
        CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        foreach (var id in ids)
        {
            var volume = await volumes.GetAsync(id, cancellationToken);
            if (volume is null || !caller.CanSee(volume.ProjectId))
                errors.Add($"volume '{id}' does not exist.");
            else if (volume.ProjectId != projectId)
                errors.Add($"volume '{id}' is in project '{volume.ProjectId}', not in the droplet's project '{projectId}'.");
            else if (volume.Region != region)
                errors.Add($"volume '{id}' is in region '{volume.Region}', not in the droplet's region '{region}'.");
            else if (volume.Namespace != ns)
                errors.Add(VolumeRules.NamespaceMismatch(id, volume.Namespace, ns));
            else if (volume.Status is VolumeStatus.Creating or VolumeStatus.Error)
                errors.Add($"volume '{id}' is {VolumeRules.Name(volume.Status)}; only an available volume can be attached.");
        }
        if (errors.Count > 0)
            return Problems.Validation(new Dictionary<string, string[]> { ["volume_ids"] = [.. errors] });

        var taken = new List<string>();
        foreach (var id in ids)
        {
            Refusal? refusal = null;
            var mine = false;
            var found = await volumes.UpdateAsync(projectId, id, current =>
            {
                // Held or attached by this very droplet: an earlier attempt of the same request (Idempotency-Key).
                mine = current.PendingDropletId == dropletId || current.DropletId == dropletId;
                refusal = mine ? null : VolumeRules.VolumeRefusal(ActionType.Attach, current, null, null);
                return mine || refusal is not null ? null : current with { LockedBy = actionId, LockedFor = ActionType.Create, PendingDropletId = dropletId };
            }, cancellationToken);
            refusal ??= found is null ? new Refusal("validation_failed", $"volume '{id}' does not exist.") : null;
            if (refusal is not null)
            {
                await ReleaseAsync(volumes, projectId, taken, actionId, cancellationToken);
                return refusal.Code == "validation_failed"
                    ? Problems.Validation(new Dictionary<string, string[]> { ["volume_ids"] = [refusal.Message] })
                    : Problems.Create(StatusCodes.Status409Conflict, refusal.Code, refusal.Code == "locked" ? "Volume is locked" : "Not possible now", refusal.Message);
            }
            if (!mine)
                taken.Add(id);
        }
        return null;
    }

    // Undoes this create's reservations (only those its action holds).
    public static async Task ReleaseAsync(VolumeStore volumes, string projectId, IEnumerable<string> ids, string actionId, CancellationToken cancellationToken)
    {
        foreach (var id in ids)
        {
            var found = await volumes.UpdateAsync(projectId, id, current => current.LockedBy != actionId ? null
                : current with { LockedBy = null, LockedFor = null, PendingDropletId = null }, cancellationToken);
        }
    }

    // Provisioning has ended (running or error): the reserved volumes are the droplet's, attached in its VM spec.
    public static async Task SettleAsync(VolumeStore volumes, string projectId, IEnumerable<string> ids, string dropletId, CancellationToken cancellationToken)
    {
        foreach (var id in ids)
        {
            var found = await volumes.UpdateAsync(projectId, id, current => current.LockedFor != ActionType.Create || current.PendingDropletId != dropletId ? null
                : current with { Status = VolumeStatus.Attached, DropletId = dropletId, Error = null, LockedBy = null, LockedFor = null, PendingDropletId = null },
                cancellationToken);
        }
    }
}
