using System.Collections.Concurrent;
using Azure;
using Azure.Data.Tables;
using Droplets.Http;

namespace Droplets;

// The storage shape every record kind shares. Records are partitioned by their owner (droplets, volumes and SSH keys
// by project, so that listing a project is a partition query; actions by the resource they act on, so that its
// history is one), and found by id through an index table (`<name>ids`: PartitionKey = id, RowKey = "", one column
// naming the owner). Ids stay opaque (they do not encode the owner), so a get by id is an index read then a point
// read; the index read is usually served from memory, since an entry never changes.
// - Adding claims the id in the index first, then writes the record: a crash in between leaves an entry that reads
//   as 404, and the id is never reused. Deleting removes the record, then the entry.
// - Every update is ETag-conditional (Storage.UpdateAsync).
// - A partition may hold one row of its own (RowKey "~", after every id), which no query returns: TryAddWithinAsync
//   writes it with each add, so that adds to one owner that each judged what the owner already has are serialized.
// - A record may have companion rows in its partition (`companions`: their keys, "~" + something, after every id and
//   derived from what never changes in the record): rows of one column naming the record, written in the transaction
//   that writes the record and deleted in the one that deletes it, so they exist exactly while it does. They are the
//   record kind's indexes in another order (a droplet's tags, an action's start time): PageByAsync lists the records in
//   the order of their companions' keys, at the cost of the page.
public sealed class OwnedTable<TRecord, TEntity>(
    TableServiceClient service, StoreOptions options, string name, string ownerColumn, Func<TRecord, TEntity> toEntity, Func<TEntity, TRecord> toRecord,
    Func<TRecord, IEnumerable<string>>? companions = null)
    where TEntity : class, ITableEntity, new()
{
    const int MaxRemembered = 100_000;

    readonly ConcurrentDictionary<string, string> ownerOf = new(StringComparer.Ordinal);

    public TableClient Records { get; } = service.GetTableClient(options.TablePrefix + name);
    public TableClient Ids { get; } = service.GetTableClient(options.TablePrefix + name + "ids");

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await Records.CreateIfNotExistsAsync(cancellationToken);
        await Ids.CreateIfNotExistsAsync(cancellationToken);
    }

    // False when the id is taken. `index` adds columns of the record kind's own to the index entry.
    public async Task<bool> TryAddAsync(TRecord record, CancellationToken cancellationToken, Action<TableEntity>? index = null)
    {
        var entity = toEntity(record);
        if (!await ClaimAsync(entity.RowKey, entity.PartitionKey, cancellationToken, index))
            return false;
        await SubmitAsync(WithCompanions(record, new(TableTransactionActionType.Add, entity), TableTransactionActionType.Add), cancellationToken);
        return true;
    }

    // Adds or replaces both: for records whose ids are drawn fresh and may be written again by the reconciler after
    // a crash between the two writes.
    public async Task PutAsync(TRecord record, CancellationToken cancellationToken)
    {
        var entity = toEntity(record);
        await Ids.UpsertEntityAsync(new TableEntity(entity.RowKey, "") { [ownerColumn] = entity.PartitionKey }, TableUpdateMode.Replace, cancellationToken);
        await SubmitAsync(WithCompanions(record, new(TableTransactionActionType.UpsertReplace, entity), TableTransactionActionType.UpsertReplace), cancellationToken);
        Remember(entity.RowKey, entity.PartitionKey);
    }

    const string CompanionOf = "Id";

    // The record's write and its companions' (`type` each), for one transaction.
    List<TableTransactionAction> WithCompanions(TRecord record, TableTransactionAction write, TableTransactionActionType type) =>
        [write, .. CompanionWrites(record, write.Entity.PartitionKey, write.Entity.RowKey, type)];

    IEnumerable<TableTransactionAction> CompanionWrites(TRecord record, string owner, string id, TableTransactionActionType type) =>
        (companions?.Invoke(record) ?? []).Select(key => new TableTransactionAction(type, new TableEntity(owner, key) { [CompanionOf] = id }, ETag.All));

    // A transaction of one write is sent as that write.
    async Task SubmitAsync(List<TableTransactionAction> writes, CancellationToken cancellationToken)
    {
        switch (writes)
        {
            case [{ ActionType: TableTransactionActionType.Add } add]:
                await Records.AddEntityAsync(add.Entity, cancellationToken);
                break;
            case [{ ActionType: TableTransactionActionType.UpsertReplace } upsert]:
                await Records.UpsertEntityAsync(upsert.Entity, TableUpdateMode.Replace, cancellationToken);
                break;
            default:
                await Records.SubmitTransactionAsync(writes, cancellationToken);
                break;
        }
    }

    // The index entry alone, for a record kind that writes its rows itself (SSH keys write two in one transaction).
    public async Task<bool> ClaimAsync(string id, string owner, CancellationToken cancellationToken, Action<TableEntity>? index = null)
    {
        var entry = new TableEntity(id, "") { [ownerColumn] = owner };
        index?.Invoke(entry);
        try
        {
            await Ids.AddEntityAsync(entry, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            return false;
        }
        Remember(id, owner);
        return true;
    }

    // The index entry with every column (null when there is none).
    public async Task<TableEntity?> GetIndexAsync(string id, CancellationToken cancellationToken)
    {
        var response = await Ids.GetEntityIfExistsAsync<TableEntity>(id, "", cancellationToken: cancellationToken);
        return response.HasValue ? response.Value : null;
    }

    public async Task<TRecord?> GetAsync(string id, CancellationToken cancellationToken) =>
        await OwnerOfAsync(id, cancellationToken) is { } owner ? await GetAsync(owner, id, cancellationToken) : default;

    public async Task<TRecord?> GetAsync(string owner, string id, CancellationToken cancellationToken)
    {
        var response = await Records.GetEntityIfExistsAsync<TEntity>(owner, id, cancellationToken: cancellationToken);
        return response.HasValue ? toRecord(response.Value!) : default;
    }

    // Read-modify-write with optimistic concurrency. `change` returns null to leave the record as it is. Returns the
    // record as it is afterwards, or null when there is none.
    public async Task<TRecord?> UpdateAsync(string owner, string id, Func<TRecord, TRecord?> change, CancellationToken cancellationToken) =>
        await Records.UpdateAsync<TEntity>(owner, id, current => change(toRecord(current)) is { } changed ? toEntity(changed) : null, cancellationToken)
            is { } entity ? toRecord(entity) : default;

    public IAsyncEnumerable<TRecord> QueryAsync(string? filter, CancellationToken cancellationToken) =>
        Records.QueryAsync<TEntity>(RecordsOnly(filter), cancellationToken: cancellationToken).Select(toRecord);

    const string PartitionRow = "~";

    // Every id sorts before "~": the partition row and companions do not.
    static string RecordsOnly(string? filter) =>
        filter is null ? $"RowKey lt '{PartitionRow}'" : $"({filter}) and RowKey lt '{PartitionRow}'";

    // Adds the record unless `refuse`, shown every record its owner has now, answers why not. Race-free: the record
    // and the owner's partition row are written in one transaction conditional on the row as it was read before the
    // records were, so of two adds that each found room, the second finds its transaction refused, reads again and
    // judges again. Deletes need no such care: they only make room. Costs one partition query per attempt.
    // Answers (true, null) when added, (false, null) when the id is taken, (false, why) when refused.
    public async Task<(bool Added, TRefusal? Refusal)> TryAddWithinAsync<TRefusal>(
        TRecord record, Func<IReadOnlyList<TRecord>, TRefusal?> refuse, CancellationToken cancellationToken, Action<TableEntity>? index = null)
        where TRefusal : class
    {
        var entity = toEntity(record);
        if (!await ClaimAsync(entity.RowKey, entity.PartitionKey, cancellationToken, index))
            return (false, null);
        while (true)
        {
            var (row, current) = await OwnerAsync(entity.PartitionKey, cancellationToken);
            if (refuse(current) is { } refusal)
            {
                await ForgetAsync(entity.RowKey, cancellationToken);
                return (false, refusal);
            }
            if (await TrySubmitAsync(WithCompanions(record, new(TableTransactionActionType.Add, entity), TableTransactionActionType.Add), row, cancellationToken))
                return (true, null);
        }
    }

    // UpdateAsync for a change that takes more of what the owner holds (a resize): `change` sees every record of the
    // owner and this one, and the write is serialized with adds and other such changes through the partition row.
    public async Task<TRecord?> UpdateWithinAsync(string owner, string id, Func<IReadOnlyList<TRecord>, TRecord, TRecord?> change, CancellationToken cancellationToken)
    {
        while (true)
        {
            var (row, all) = await OwnerAsync(owner, cancellationToken);
            var response = await Records.GetEntityIfExistsAsync<TEntity>(owner, id, cancellationToken: cancellationToken);
            if (!response.HasValue)
                return default;
            var current = toRecord(response.Value!);
            if (change(all, current) is not { } changed)
                return current;
            var entity = toEntity(changed);
            if (await TrySubmitAsync([new(TableTransactionActionType.UpdateReplace, entity, response.Value!.ETag)], row, cancellationToken))
                return changed;
        }
    }

    // The partition row as it is (its ETag), then every record: read in that order, so a write between the two
    // fails the transaction that follows.
    async Task<(TableEntity? Row, IReadOnlyList<TRecord> Records)> OwnerAsync(string owner, CancellationToken cancellationToken)
    {
        var row = await Records.GetEntityIfExistsAsync<TableEntity>(owner, PartitionRow, cancellationToken: cancellationToken);
        var all = await QueryAsync(TableClient.CreateQueryFilter($"PartitionKey eq {owner}"), cancellationToken).ToListAsync(cancellationToken);
        return (row.HasValue ? row.Value : null, all);
    }

    // The record's write with the partition row's: false when either was written by someone else first (409, 412).
    async Task<bool> TrySubmitAsync(List<TableTransactionAction> writes, TableEntity? row, CancellationToken cancellationToken)
    {
        var written = new TableEntity(writes[0].Entity.PartitionKey, PartitionRow);
        List<TableTransactionAction> actions =
        [
            .. writes,
            row is null ? new(TableTransactionActionType.Add, written) : new(TableTransactionActionType.UpdateReplace, written, row.ETag),
        ];
        try
        {
            await Records.SubmitTransactionAsync(actions, cancellationToken);
            return true;
        }
        catch (TableTransactionFailedException e) when (e.Status is 409 or 412)
        {
            return false;
        }
    }

    // One page of the owners asked for (null: every owner) in key order, narrowed by a table filter. The owners are read in
    // groups (Listing.Filters), one query after another, only until the page is full.
    public async Task<(IReadOnlyList<TRecord> Items, ListCursor? Next)> PageAsync(
        IReadOnlyCollection<string>? owners, string? filter, int perPage, ListCursor? after, CancellationToken cancellationToken)
    {
        var rows = Listing.Filters(owners, after, RecordsOnly(filter)).ToAsyncEnumerable()
            .SelectMany(query => Records.QueryAsync<TEntity>(query, maxPerPage: Math.Min(Listing.MaxPerPage, perPage + 1), cancellationToken: cancellationToken));
        var (items, next) = await Listing.PageAsync(rows, perPage, e => new ListCursor(e.PartitionKey, e.RowKey), cancellationToken);
        return (items.Select(toRecord).ToList(), next);
    }

    // One page of the records whose companions' keys start with `prefix`, in those keys' order, from `prefix + from` on
    // (`from` null: the first). The cursor's id is the key past the prefix. Costs one query for the keys (per group of
    // owners) and a point read per record.
    public async Task<(IReadOnlyList<TRecord> Items, ListCursor? Next)> PageByAsync(
        IReadOnlyCollection<string>? owners, string prefix, string? from, int perPage, ListCursor? after, CancellationToken cancellationToken)
    {
        var range = TableClient.CreateQueryFilter($"RowKey ge {prefix + from} and RowKey lt {prefix + PartitionRow}");
        var rows = Listing.Filters(owners, after, range, prefix).ToAsyncEnumerable()
            .SelectMany(query => Records.QueryAsync<TableEntity>(query, maxPerPage: Math.Min(Listing.MaxPerPage, perPage + 1), select: ["PartitionKey", "RowKey", CompanionOf], cancellationToken: cancellationToken));
        var (keys, next) = await Listing.PageAsync(rows, perPage, e => new ListCursor(e.PartitionKey, e.RowKey[prefix.Length..]), cancellationToken);
        // A record deleted since its companion was read is left out.
        var records = await Task.WhenAll(keys.Select(e => GetAsync(e.PartitionKey, e.GetString(CompanionOf), cancellationToken)));
        return (records.Where(r => r is not null).Select(r => r!).ToList(), next);
    }

    // Writes the companions of every record that has none, and then a row saying so (in partition "~", which no owner
    // has), so that records written before their kind had companions are listed by them too. Costs one read of the
    // table, once per installation; runs again after a crash in it, which is harmless.
    public async Task BackfillCompanionsAsync(string version, CancellationToken cancellationToken)
    {
        if (companions is null || (await Records.GetEntityIfExistsAsync<TableEntity>(PartitionRow, PartitionRow + version, cancellationToken: cancellationToken)).HasValue)
            return;
        await foreach (var entity in Records.QueryAsync<TEntity>(RecordsOnly(null), cancellationToken: cancellationToken))
            if (CompanionWrites(toRecord(entity), entity.PartitionKey, entity.RowKey, TableTransactionActionType.UpsertReplace).ToList() is { Count: > 0 } writes)
                await Records.SubmitTransactionAsync(writes, cancellationToken);
        await Records.UpsertEntityAsync(new TableEntity(PartitionRow, PartitionRow + version), TableUpdateMode.Replace, cancellationToken);
    }

    // The record and its companions in one transaction, then the index entry. A record whose companions are not all
    // there (written before its kind had them) is deleted row by row.
    public async Task DeleteAsync(string owner, string id, CancellationToken cancellationToken)
    {
        if (companions is not null && await GetAsync(owner, id, cancellationToken) is { } record)
        {
            var deletes = WithCompanions(record, new(TableTransactionActionType.Delete, new TableEntity(owner, id), ETag.All), TableTransactionActionType.Delete);
            try
            {
                await Records.SubmitTransactionAsync(deletes, cancellationToken);
            }
            catch (TableTransactionFailedException e) when (e.Status == 404)
            {
                foreach (var delete in deletes)
                    await Records.DeleteEntityAsync(delete.Entity.PartitionKey, delete.Entity.RowKey, ETag.All, cancellationToken);
            }
        }
        else
            await Records.DeleteEntityAsync(owner, id, ETag.All, cancellationToken);
        await ForgetAsync(id, cancellationToken);
    }

    // Removes the index entry only (a claim whose record was never written, or one removed by its kind's own writes).
    public async Task ForgetAsync(string id, CancellationToken cancellationToken)
    {
        await Ids.DeleteEntityAsync(id, "", ETag.All, cancellationToken);
        ownerOf.TryRemove(id, out _);
    }

    async Task<string?> OwnerOfAsync(string id, CancellationToken cancellationToken)
    {
        if (ownerOf.TryGetValue(id, out var cached))
            return cached;
        var response = await Ids.GetEntityIfExistsAsync<TableEntity>(id, "", [ownerColumn], cancellationToken);
        if (!response.HasValue || response.Value!.GetString(ownerColumn) is not { } owner)
            return null;
        Remember(id, owner);
        return owner;
    }

    // Memory is the only concern: start over past a fixed size.
    void Remember(string id, string owner)
    {
        if (ownerOf.Count > MaxRemembered)
            ownerOf.Clear();
        ownerOf[id] = owner;
    }
}

public sealed class StoreOptions
{
    // Lets tests (and side-by-side deployments) keep their tables apart in one storage account.
    public string TablePrefix { get; init; } = "";
}

// Where the next page starts: the last row's keys (owner, id). Opaque to callers: base64url of "owner\nid".
public sealed record ListCursor(string Owner, string Id)
{
    public string Encode() => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{Owner}\n{Id}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    // What Encode makes of a project (or resource) id and a record id: both plain keys, at most 64 of [a-z0-9_]. A token
    // that decodes to anything else was not made here; it is refused, never put into a filter.
    public static ListCursor? TryDecode(string token)
    {
        if (token.Length > 256)
            return null;
        try
        {
            var base64 = token.Replace('-', '+').Replace('_', '/');
            base64 += new string('=', (4 - base64.Length % 4) % 4);
            var parts = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(base64)).Split('\n');
            return parts is [var owner, var id] && IsKey(owner) && IsKey(id) ? new ListCursor(owner, id) : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    static bool IsKey(string part) => part.Length is > 0 and <= 64 && !part.AsSpan().ContainsAnyExcept("abcdefghijklmnopqrstuvwxyz0123456789_");
}
