using Azure;
using Azure.Data.Tables;
using Droplets.Quotas;
using Droplets.Actions;
using Droplets.Droplets;

namespace Droplets.Volumes;

// Volume records in Table Storage, in the shape every record kind shares (OwnedTable): `volumes` partitioned by
// project, and the id → project index `volumeids`.
public sealed class VolumeStore(TableServiceClient service, StoreOptions options)
{
    readonly OwnedTable<Volume, VolumeEntity> table = new(service, options, "volumes", "ProjectId", VolumeEntity.From, e => e.ToVolume());

    public Task InitializeAsync(CancellationToken cancellationToken) => table.InitializeAsync(cancellationToken);

    public Task<bool> TryAddAsync(Volume volume, CancellationToken cancellationToken) => table.TryAddAsync(volume, cancellationToken);

    // Added unless `refuse`, shown the project's volumes as they are, objects; race-free (OwnedTable.TryAddWithinAsync).
    public Task<(bool Added, QuotaRefusal? Refusal)> TryAddWithinAsync(Volume volume, Func<IReadOnlyList<Volume>, QuotaRefusal?> refuse, CancellationToken cancellationToken) =>
        table.TryAddWithinAsync(volume, refuse, cancellationToken);

    public async Task<IReadOnlyList<Volume>> OfProjectAsync(string projectId, CancellationToken cancellationToken) =>
        await table.QueryAsync(TableClient.CreateQueryFilter($"PartitionKey eq {projectId}"), cancellationToken).ToListAsync(cancellationToken);

    public Task<Volume?> GetAsync(string id, CancellationToken cancellationToken) => table.GetAsync(id, cancellationToken);

    public Task<Volume?> GetAsync(string projectId, string id, CancellationToken cancellationToken) => table.GetAsync(projectId, id, cancellationToken);

    // Read-modify-write with optimistic concurrency. `change` returns null to leave the record as it is.
    public Task<Volume?> UpdateAsync(string projectId, string id, Func<Volume, Volume?> change, CancellationToken cancellationToken) =>
        table.UpdateAsync(projectId, id, current => change(current) is { } changed ? changed with { UpdatedAt = DateTimeOffset.UtcNow } : null, cancellationToken);

    // UpdateAsync for a change that takes more of the project's quota: serialized with creates (OwnedTable.UpdateWithinAsync).
    public Task<Volume?> UpdateWithinAsync(string projectId, string id, Func<IReadOnlyList<Volume>, Volume, Volume?> change, CancellationToken cancellationToken) =>
        table.UpdateWithinAsync(projectId, id, (all, current) => change(all, current) is { } changed ? changed with { UpdatedAt = DateTimeOffset.UtcNow } : null, cancellationToken);

    // `projects` null means every project; ordered by project, then id, like droplets.
    public Task<(IReadOnlyList<Volume> Items, ListCursor? Next)> ListAsync(
        IReadOnlyCollection<string>? projects, string? region, int perPage, ListCursor? after, CancellationToken cancellationToken) =>
        table.PageAsync(projects, region is null ? null : TableClient.CreateQueryFilter($"Region eq {region}"), perPage, after, cancellationToken);

    // The volumes attached to (or reserved for) one droplet; a partition query, since both share a project.
    public IAsyncEnumerable<Volume> ListForDropletAsync(string projectId, string dropletId, CancellationToken cancellationToken) =>
        table.QueryAsync(TableClient.CreateQueryFilter($"PartitionKey eq {projectId} and (DropletId eq {dropletId} or PendingDropletId eq {dropletId})"), cancellationToken);

    // Volumes held by an action whose workflow may never have started (see ActionRecovery).
    public IAsyncEnumerable<Volume> ListLockedAsync(DateTimeOffset updatedBefore, CancellationToken cancellationToken) =>
        table.QueryAsync(TableClient.CreateQueryFilter($"LockedBy ne {""} and Timestamp lt {updatedBefore}"), cancellationToken);

    // The record, then its index entry; the id is never reused.
    public Task DeleteAsync(string projectId, string id, CancellationToken cancellationToken) => table.DeleteAsync(projectId, id, cancellationToken);

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

        // Null in a record from before namespaces were prefixed: it keeps the namespace it was created in.
        public string? Namespace { get; set; }
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
            Namespace = v.Namespace,
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
            Error = ErrorCode is null ? null : new ErrorDetail(ErrorCode, ErrorMessage ?? ""),
            CreatedAt = CreatedAt,
            UpdatedAt = UpdatedAt,
            CreatedBy = CreatedBy,
            Namespace = Namespace ?? KubeVirt.TenantNamespaces.Legacy(PartitionKey),
            LockedBy = LockedBy,
            LockedFor = LockedFor is null ? null : Enum.Parse<ActionType>(LockedFor),
            PendingDropletId = PendingDropletId,
            PendingSize = PendingSize,
        };
    }
}
