using Azure;
using Azure.Data.Tables;
using Droplets.Actions;
using Droplets.Droplets;

namespace Droplets.Volumes;

// Volume records in Table Storage, keyed like droplets and for the same reasons:
// - `volumes`: PartitionKey = project id, RowKey = volume id; listing a project is a partition query.
// - `volumeids`: PartitionKey = volume id; the immutable id → project index behind get-by-id, cached.
// Every update is ETag-conditional (read, change, replace if unchanged; retry on 412).
public sealed class VolumeStore(TableServiceClient service, StoreOptions options)
{
    readonly TableClient volumes = service.GetTableClient(options.TablePrefix + "volumes");
    readonly TableClient ids = service.GetTableClient(options.TablePrefix + "volumeids");
    readonly ProjectIndex index = new(service.GetTableClient(options.TablePrefix + "volumeids"));

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await volumes.CreateIfNotExistsAsync(cancellationToken);
        await ids.CreateIfNotExistsAsync(cancellationToken);
    }

    // The index entry, then the record; a crash in between leaves an entry that reads as 404.
    public async Task<bool> TryAddAsync(Volume volume, CancellationToken cancellationToken)
    {
        try
        {
            await ids.AddEntityAsync(new TableEntity(volume.Id, "") { ["ProjectId"] = volume.ProjectId }, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            return false;
        }
        await volumes.AddEntityAsync(VolumeEntity.From(volume), cancellationToken);
        index.Remember(volume.Id, volume.ProjectId);
        return true;
    }

    public async Task<Volume?> GetAsync(string id, CancellationToken cancellationToken) =>
        await index.ProjectOfAsync(id, cancellationToken) is { } projectId ? await GetAsync(projectId, id, cancellationToken) : null;

    public async Task<Volume?> GetAsync(string projectId, string id, CancellationToken cancellationToken)
    {
        var response = await volumes.GetEntityIfExistsAsync<VolumeEntity>(projectId, id, cancellationToken: cancellationToken);
        return response.HasValue ? response.Value!.ToVolume() : null;
    }

    // Read-modify-write with optimistic concurrency. `change` returns null to leave the record as it is.
    public async Task<Volume?> UpdateAsync(string projectId, string id, Func<Volume, Volume?> change, CancellationToken cancellationToken) =>
        (await volumes.UpdateAsync<VolumeEntity>(projectId, id,
            current => change(current.ToVolume()) is { } changed ? VolumeEntity.From(changed with { UpdatedAt = DateTimeOffset.UtcNow }) : null,
            cancellationToken))?.ToVolume();

    // `projects` null means every project; ordered by project, then id, like droplets.
    public async Task<(IReadOnlyList<Volume> Items, ListCursor? Next)> ListAsync(
        IReadOnlyCollection<string>? projects, string? region, int perPage, ListCursor? after, CancellationToken cancellationToken)
    {
        if (projects is { Count: 0 })
            return ([], null);
        var page = Http.Listing.StoreFilter(projects, after);
        var inRegion = region is null ? null : TableClient.CreateQueryFilter($"Region eq {region}");
        var filter = page is not null && inRegion is not null ? $"{page} and {inRegion}" : page ?? inRegion;
        var rows = volumes.QueryAsync<VolumeEntity>(filter, maxPerPage: Math.Min(1000, perPage + 1), cancellationToken: cancellationToken)
            .Select(e => e.ToVolume());
        return await Http.Listing.PageAsync(rows, perPage, v => new ListCursor(v.ProjectId, v.Id), cancellationToken);
    }

    // The volumes attached to (or reserved for) one droplet; a partition query, since both share a project.
    public IAsyncEnumerable<Volume> ListForDropletAsync(string projectId, string dropletId, CancellationToken cancellationToken) =>
        volumes.QueryAsync<VolumeEntity>(
                TableClient.CreateQueryFilter($"PartitionKey eq {projectId} and (DropletId eq {dropletId} or PendingDropletId eq {dropletId})"),
                cancellationToken: cancellationToken)
            .Select(e => e.ToVolume());

    // Volumes held by an action whose workflow may never have started (see ActionRecovery).
    public IAsyncEnumerable<Volume> ListLockedAsync(DateTimeOffset updatedBefore, CancellationToken cancellationToken) =>
        volumes.QueryAsync<VolumeEntity>(TableClient.CreateQueryFilter($"LockedBy ne {""} and Timestamp lt {updatedBefore}"), cancellationToken: cancellationToken)
            .Select(e => e.ToVolume());

    // The record, then its index entry; the id is never reused.
    public async Task DeleteAsync(string projectId, string id, CancellationToken cancellationToken)
    {
        await volumes.DeleteEntityAsync(projectId, id, ETag.All, cancellationToken);
        await ids.DeleteEntityAsync(id, "", ETag.All, cancellationToken);
        index.Forget(id);
    }

    sealed class VolumeEntity : ITableEntity
    {
        public string PartitionKey { get; set; } = "";
        public string RowKey { get; set; } = "";
        public DateTimeOffset? Timestamp { get; set; }
        public ETag ETag { get; set; }

        public string Name { get; set; } = "";
        public int SizeGigabytes { get; set; }
        public string Region { get; set; } = "";
        public string Description { get; set; } = "";
        public string Status { get; set; } = "";
        public string? DropletId { get; set; }
        public string? ErrorCode { get; set; }
        public string? ErrorMessage { get; set; }
        public DateTimeOffset CreatedAt { get; set; }
        public DateTimeOffset UpdatedAt { get; set; }
        public string? CreatedBy { get; set; }
        public string? LockedBy { get; set; }
        public string? LockedFor { get; set; }
        public string? PendingDropletId { get; set; }
        public int? PendingSize { get; set; }

        public static VolumeEntity From(Volume v) => new()
        {
            PartitionKey = v.ProjectId,
            RowKey = v.Id,
            Name = v.Name,
            SizeGigabytes = v.SizeGigabytes,
            Region = v.Region,
            Description = v.Description,
            Status = v.Status.ToString(),
            DropletId = v.DropletId,
            ErrorCode = v.Error?.Code,
            ErrorMessage = v.Error?.Message,
            CreatedAt = v.CreatedAt,
            UpdatedAt = v.UpdatedAt,
            CreatedBy = v.CreatedBy,
            LockedBy = v.LockedBy,
            LockedFor = v.LockedFor?.ToString(),
            PendingDropletId = v.PendingDropletId,
            PendingSize = v.PendingSize,
        };

        public Volume ToVolume() => new()
        {
            Id = RowKey,
            ProjectId = PartitionKey,
            Name = Name,
            SizeGigabytes = SizeGigabytes,
            Region = Region,
            Description = Description,
            Status = Enum.Parse<VolumeStatus>(Status),
            DropletId = DropletId,
            Error = ErrorCode is null ? null : new DropletError(ErrorCode, ErrorMessage ?? ""),
            CreatedAt = CreatedAt,
            UpdatedAt = UpdatedAt,
            CreatedBy = CreatedBy,
            LockedBy = LockedBy,
            LockedFor = LockedFor is null ? null : Enum.Parse<ActionType>(LockedFor),
            PendingDropletId = PendingDropletId,
            PendingSize = PendingSize,
        };
    }
}
