using Azure;
using Azure.Data.Tables;
using Droplets.Droplets;

namespace Droplets.Actions;

// Action records in Table Storage, in the shape every record kind shares (OwnedTable): `actions` partitioned by the
// resource acted on (a droplet or a volume), so that its history is a partition query, and the id → resource index
// `actionids` behind GET /actions/{id}. The index column is named DropletId, as the first version wrote it; it holds
// volume ids too. Each record has a companion row (OwnedTable) keyed by its start, newest first: "~h~" + the
// milliseconds from its start to the end of year 9999 (15 digits) + "_" + its id, so that a history is read a page at a
// time, newest first, at the cost of the page.
public sealed class ActionStore(TableServiceClient service, StoreOptions options)
{
    const string History = "~h~";

    readonly OwnedTable<ResourceAction, ActionEntity> table = new(service, options, "actions", "DropletId", ActionEntity.From, e => e.ToAction(),
        a => [History + HistoryKey(a.StartedAt, a.Id)]);

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await table.InitializeAsync(cancellationToken);
        await table.BackfillCompanionsAsync("history", cancellationToken);
    }

    static readonly long LastMillisecond = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    // Where the history of actions started at `startedAt` or before begins (with `id` "", before every id).
    static string HistoryKey(DateTimeOffset startedAt, string id) =>
        (LastMillisecond - startedAt.ToUnixTimeMilliseconds()).ToString("D15", System.Globalization.CultureInfo.InvariantCulture) + "_" + id;

    // Written again as it is by the reconciler when a crash came between the index entry and the record.
    public Task AddAsync(ResourceAction action, CancellationToken cancellationToken) => table.PutAsync(action, cancellationToken);

    public Task<ResourceAction?> GetAsync(string actionId, CancellationToken cancellationToken) => table.GetAsync(actionId, cancellationToken);

    public Task<ResourceAction?> GetAsync(string resourceId, string actionId, CancellationToken cancellationToken) =>
        table.GetAsync(resourceId, actionId, cancellationToken);

    // A page of the resource's actions, newest first (by start; of one millisecond, by id), after the cursor, or from the
    // actions started at `startedAtOrBefore` on.
    public Task<(IReadOnlyList<ResourceAction> Items, ListCursor? Next)> PageAsync(
        string resourceId, int perPage, ListCursor? after, CancellationToken cancellationToken, DateTimeOffset? startedAtOrBefore = null) =>
        table.PageByAsync([resourceId], History, startedAtOrBefore is { } at ? HistoryKey(at, "") : null, perPage, after, cancellationToken);

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
