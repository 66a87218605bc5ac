using System.Collections.Concurrent;
using Azure;
using Azure.Data.Tables;
using Droplets.Droplets;

namespace Droplets.Actions;

// Action records in Table Storage: `actions` (PartitionKey = droplet id, RowKey = action id) so a
// droplet's history is a partition query, and `actionids` (action id → droplet id, project) for
// GET /actions/{id}. Like droplets, the index never changes and is cached.
public sealed class ActionStore(TableServiceClient service, StoreOptions options)
{
    readonly TableClient actions = service.GetTableClient(options.TablePrefix + "actions");
    readonly TableClient ids = service.GetTableClient(options.TablePrefix + "actionids");
    readonly ConcurrentDictionary<string, string> dropletOf = new(StringComparer.Ordinal);

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await actions.CreateIfNotExistsAsync(cancellationToken);
        await ids.CreateIfNotExistsAsync(cancellationToken);
    }

    public async Task AddAsync(DropletAction action, CancellationToken cancellationToken)
    {
        await ids.UpsertEntityAsync(new TableEntity(action.Id, "") { ["DropletId"] = action.ResourceId }, TableUpdateMode.Replace, cancellationToken);
        await actions.UpsertEntityAsync(ActionEntity.From(action), TableUpdateMode.Replace, cancellationToken);
    }

    public async Task<DropletAction?> GetAsync(string actionId, CancellationToken cancellationToken)
    {
        if (!dropletOf.TryGetValue(actionId, out var dropletId))
        {
            var index = await ids.GetEntityIfExistsAsync<TableEntity>(actionId, "", cancellationToken: cancellationToken);
            if (!index.HasValue)
                return null;
            dropletId = index.Value!.GetString("DropletId");
            dropletOf[actionId] = dropletId;
        }
        return await GetAsync(dropletId, actionId, cancellationToken);
    }

    public async Task<DropletAction?> GetAsync(string dropletId, string actionId, CancellationToken cancellationToken)
    {
        var response = await actions.GetEntityIfExistsAsync<ActionEntity>(dropletId, actionId, cancellationToken: cancellationToken);
        return response.HasValue ? response.Value!.ToAction() : null;
    }

    // Newest first.
    public async Task<IReadOnlyList<DropletAction>> ListAsync(string dropletId, CancellationToken cancellationToken)
    {
        var list = new List<DropletAction>();
        await foreach (var entity in actions.QueryAsync<ActionEntity>(e => e.PartitionKey == dropletId, cancellationToken: cancellationToken))
            list.Add(entity.ToAction());
        return list.OrderByDescending(a => a.StartedAt).ThenByDescending(a => a.Id, StringComparer.Ordinal).ToList();
    }

    // Finishing is idempotent: a replayed completion of an already finished action changes nothing.
    public async Task CompleteAsync(string dropletId, string actionId, ActionStatus status, DropletError? error, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var response = await actions.GetEntityIfExistsAsync<ActionEntity>(dropletId, actionId, cancellationToken: cancellationToken);
        if (!response.HasValue || response.Value!.Status != nameof(ActionStatus.InProgress))
            return;
        var entity = response.Value;
        entity.Status = status.ToString();
        entity.CompletedAt = at;
        entity.Progress = 100;
        entity.ErrorCode = error?.Code;
        entity.ErrorMessage = error?.Message;
        try
        {
            await actions.UpdateEntityAsync(entity, entity.ETag, TableUpdateMode.Replace, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            // Completed concurrently by a replay of the same step: the first writer's answer stands.
        }
    }

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

        public static ActionEntity From(DropletAction a) => new()
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

        public DropletAction ToAction() => new()
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
            Error = ErrorCode is null ? null : new DropletError(ErrorCode, ErrorMessage ?? ""),
            CreatedBy = CreatedBy,
        };
    }
}
