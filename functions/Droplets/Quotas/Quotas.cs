using System.Text.Json.Serialization;
using Droplets.Actions;
using Droplets.Auth;
using Droplets.Catalog;
using Droplets.Droplets;
using Droplets.Http;
using Droplets.Volumes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace Droplets.Quotas;

// What one project may hold at once. Memory in MiB, as plans give it; public IPs are one per droplet.
public sealed class QuotaLimits
{
    public int Droplets { get; init; } = 25;
    public int Vcpus { get; init; } = 50;
    public int MemoryMib { get; init; } = 100 * 1024;
    public int DiskGib { get; init; } = 2500;
    public int PublicIps { get; init; } = 25;
    public int Volumes { get; init; } = 25;
    public int VolumeGib { get; init; } = 4000;
}

// A project's own limits: each one it names replaces the default.
public sealed class QuotaOverride
{
    public int? Droplets { get; init; }
    public int? Vcpus { get; init; }
    public int? MemoryMib { get; init; }
    public int? DiskGib { get; init; }
    public int? PublicIps { get; init; }
    public int? Volumes { get; init; }
    public int? VolumeGib { get; init; }
}

// Quotas:Defaults:<limit>, and Quotas:Projects:<project id>:<limit> for a project's own.
public sealed class QuotaOptions
{
    public QuotaLimits Defaults { get; init; } = new();
    public Dictionary<string, QuotaOverride> Projects { get; init; } = new(StringComparer.Ordinal);

    public QuotaLimits For(string projectId)
    {
        if (!Projects.TryGetValue(projectId, out var own))
            return Defaults;
        return new QuotaLimits
        {
            Droplets = own.Droplets ?? Defaults.Droplets,
            Vcpus = own.Vcpus ?? Defaults.Vcpus,
            MemoryMib = own.MemoryMib ?? Defaults.MemoryMib,
            DiskGib = own.DiskGib ?? Defaults.DiskGib,
            PublicIps = own.PublicIps ?? Defaults.PublicIps,
            Volumes = own.Volumes ?? Defaults.Volumes,
            VolumeGib = own.VolumeGib ?? Defaults.VolumeGib,
        };
    }

    internal bool IsValid() =>
        Projects.Keys.All(global::Droplets.Droplets.Projects.IsValid)
        && Projects.Keys.Select(For).Prepend(Defaults)
            .All(l => new[] { l.Droplets, l.Vcpus, l.MemoryMib, l.DiskGib, l.PublicIps, l.Volumes, l.VolumeGib }.All(v => v >= 0));
}

// What a project holds, counted from its records: a droplet or volume counts from the moment it is recorded until its
// record is gone (in error or being deleted, it still holds its resources); one being resized counts at the larger of
// its two sizes until the resize ends.
public sealed record QuotaUsage(int Droplets, int Vcpus, int MemoryMib, int DiskGib, int PublicIps, int Volumes, int VolumeGib)
{
    public static QuotaUsage Of(IReadOnlyCollection<Droplet> droplets, IReadOnlyCollection<Volume> volumes, IReadOnlyDictionary<string, Plan> plans)
    {
        var sizes = droplets.Select(d => Size(d, plans)).ToList();
        return new(droplets.Count, sizes.Sum(s => s.Vcpus), sizes.Sum(s => s.MemoryMib), sizes.Sum(s => s.DiskGib), droplets.Count,
            volumes.Count, volumes.Sum(v => Math.Max(v.SizeGigabytes, v.PendingSize ?? 0)));
    }

    static (int Vcpus, int MemoryMib, int DiskGib) Size(Droplet d, IReadOnlyDictionary<string, Plan> plans) =>
        d is { LockedFor: ActionType.Resize, LockedWith: { } next } && plans.TryGetValue(next, out var plan)
            ? (Math.Max(d.Vcpus, plan.Vcpus), Math.Max(d.Memory, plan.MemoryMib), Math.Max(d.Disk, plan.DiskGib))
            : (d.Vcpus, d.Memory, d.Disk);
}

// Which limit a request would pass: its quota, what the project holds, and what the request asked for.
public sealed record QuotaRefusal(string Limit, int Quota, int Usage, int Requested)
{
    public ProblemHttpResult Problem(string projectId) =>
        Problems.Create(StatusCodes.Status403Forbidden, "quota_exceeded", "Quota exceeded",
            $"Project '{projectId}' may hold {Quota} {Limit.Replace('_', ' ')}; it holds {Usage} and this needs {Requested} more. Delete something, or ask for a higher quota.",
            new Dictionary<string, object?> { ["limit"] = Limit, ["quota"] = Quota, ["usage"] = Usage, ["requested"] = Requested });
}

public static class QuotaRules
{
    // Why one more droplet on this plan does not fit, or null: the first limit it would pass.
    public static QuotaRefusal? RefuseDroplet(QuotaLimits limits, IReadOnlyCollection<Droplet> current, Plan plan, IReadOnlyDictionary<string, Plan> plans)
    {
        var usage = QuotaUsage.Of(current, [], plans);
        return Past("droplets", limits.Droplets, usage.Droplets, 1)
            ?? Past("public_ips", limits.PublicIps, usage.PublicIps, 1)
            ?? Past("vcpus", limits.Vcpus, usage.Vcpus, plan.Vcpus)
            ?? Past("memory_mib", limits.MemoryMib, usage.MemoryMib, plan.MemoryMib)
            ?? Past("disk_gib", limits.DiskGib, usage.DiskGib, plan.DiskGib);
    }

    // Why `droplet` may not grow to `plan`: only what it grows by is asked for (a smaller plan always fits).
    public static QuotaRefusal? RefuseResize(QuotaLimits limits, IReadOnlyCollection<Droplet> current, Droplet droplet, Plan plan, IReadOnlyDictionary<string, Plan> plans)
    {
        var usage = QuotaUsage.Of(current, [], plans);
        return Past("vcpus", limits.Vcpus, usage.Vcpus, Math.Max(0, plan.Vcpus - droplet.Vcpus))
            ?? Past("memory_mib", limits.MemoryMib, usage.MemoryMib, Math.Max(0, plan.MemoryMib - droplet.Memory))
            ?? Past("disk_gib", limits.DiskGib, usage.DiskGib, Math.Max(0, plan.DiskGib - droplet.Disk));
    }

    public static QuotaRefusal? RefuseVolume(QuotaLimits limits, IReadOnlyCollection<Volume> current, int sizeGib) =>
        Past("volumes", limits.Volumes, current.Count, 1) ?? RefuseVolumeGib(limits, current, sizeGib);

    // A volume growing by `moreGib`, or a new one of that size.
    public static QuotaRefusal? RefuseVolumeGib(QuotaLimits limits, IReadOnlyCollection<Volume> current, int moreGib) =>
        Past("volume_gib", limits.VolumeGib, QuotaUsage.Of([], current, new Dictionary<string, Plan>()).VolumeGib, moreGib);

    static QuotaRefusal? Past(string limit, int quota, int usage, int requested) =>
        requested == 0 || usage + requested <= quota ? null : new QuotaRefusal(limit, quota, usage, requested);
}

public sealed record UsageView(
    [property: JsonPropertyName("project_id")] string ProjectId,
    [property: JsonPropertyName("limits")] QuotaLimits Limits,
    [property: JsonPropertyName("usage")] QuotaUsage Usage);

public static class QuotaApi
{
    public static IEndpointRouteBuilder MapQuotaEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/v1/projects").MapGet("{projectId}/usage", GetUsageAsync);
        return app;
    }

    // Any token of the project, read or write. Another project's usage is a 404, as its droplets are.
    public static async Task<Results<Ok<UsageView>, ProblemHttpResult>> GetUsageAsync(
        string projectId, HttpContext context, DropletStore droplets, VolumeStore volumes, IOptions<QuotaOptions> quotas, IOptions<CatalogOptions> catalog,
        CancellationToken cancellationToken)
    {
        if (!Projects.IsValid(projectId) || !context.Caller().CanSee(projectId))
            return Problems.Create(StatusCodes.Status404NotFound, "not_found", "Not Found", $"No project '{FieldErrors.Quote(projectId)}' for this token.");
        var usage = QuotaUsage.Of(await droplets.OfProjectAsync(projectId, cancellationToken), await volumes.OfProjectAsync(projectId, cancellationToken), catalog.Value.Plans);
        return TypedResults.Ok(new UsageView(projectId, quotas.Value.For(projectId), usage));
    }
}
