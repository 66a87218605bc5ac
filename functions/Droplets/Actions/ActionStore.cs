using Azure;
using Azure.Data.Tables;
using Droplets.Droplets;

namespace Droplets.Actions;

// Action records in Table Storage, in the shape every record kind shares (OwnedTable): `actions` partitioned by the
// resource acted on (a droplet or a volume), so that its history is a partition query, and the id → resource index
// `actionids` behind GET /actions/{id}. The index column is named DropletId, as the first version wrote it; it holds
// volume ids too.
public sealed class ActionStore(TableServiceClient service, StoreOptions options)
{
    readonly OwnedTable<ResourceAction, ActionEntity> table = new(service, options, "actions", "DropletId", ActionEntity.From, e => e.ToAction());

    public Task InitializeAsync(CancellationToken cancellationToken) => table.InitializeAsync(cancellationToken);

    // Written again as it is by the reconciler when a crash came between the index entry and the record.
    public Task AddAsync(ResourceAction action, CancellationToken cancellationToken) => table.PutAsync(action, cancellationToken);

    public Task<ResourceAction?> GetAsync(string actionId, CancellationToken cancellationToken) => table.GetAsync(actionId, cancellationToken);

    public Task<ResourceAction?> GetAsync(string resourceId, string actionId, CancellationToken cancellationToken) =>
        table.GetAsync(resourceId, actionId, cancellationToken);

    // Newest first.
    public async Task<IReadOnlyList<ResourceAction>> ListAsync(string resourceId, CancellationToken cancellationToken)
    {
        var list = await table.QueryAsync(TableClient.CreateQueryFilter($"PartitionKey eq {resourceId}"), cancellationToken).ToListAsync(cancellationToken);
        return list.OrderByDescending(a => a.StartedAt).ThenByDescending(a => a.Id, StringComparer.Ordinal).ToList();
    }

    // Finishing is idempotent: a replayed completion of an already finished action changes nothing, and of two
    // concurrent ones the first writer's answer stands.
    public Task CompleteAsync(string resourceId, string actionId, ActionStatus status, ErrorDetail? error, DateTimeOffset at, CancellationToken cancellationToken) =>
        table.UpdateAsync(resourceId, actionId, current => current.Status != ActionStatus.InProgress ? null
            : current with { Status = status, CompletedAt = at, Progress = 100, Error = error }, cancellationToken);

    sealed class ActionEntity : ITableEntity
    {
        public string PartitionKey { get; set; } = "";
        public string RowKey { get; set; } = "";
        public DateTimeOffset? Timestamp { get; set; }
        public ETag ETag { get; set; }

        public string Type { get; set; } = "";
        public string Status { get; set; } = "";
        public DateTimeOffset StartedAt { get; set; }
        public DateTimeOffset? CompletedAt { get; set; }
        public string Region { get; set; } = "";
        public string ProjectId { get; set; } = "";
        public int Progress { get; set; }
        public string? ErrorCode { get; set; }
        public string? ErrorMessage { get; set; }
        public string? CreatedBy { get; set; }

        public static ActionEntity From(ResourceAction a) => new()
        {
            PartitionKey = a.ResourceId,
            RowKey = a.Id,
            Type = a.Type.ToString(),
            Status = a.Status.ToString(),
            StartedAt = a.StartedAt,
            CompletedAt = a.CompletedAt,
            Region = a.Region,
            ProjectId = a.ProjectId,
            Progress = a.Progress,
            ErrorCode = a.Error?.Code,
            ErrorMessage = a.Error?.Message,
            CreatedBy = a.CreatedBy,
        };

        public ResourceAction ToAction() => new()
        {
            Id = RowKey,
            ResourceId = PartitionKey,
            Type = Enum.Parse<ActionType>(Type),
            Status = Enum.Parse<ActionStatus>(Status),
            StartedAt = StartedAt,
            CompletedAt = CompletedAt,
            Region = Region,
            ProjectId = ProjectId,
            Progress = Progress,
            Error = ErrorCode is null ? null : new ErrorDetail(ErrorCode, ErrorMessage ?? ""),
            CreatedBy = CreatedBy,
        };
    }
}
