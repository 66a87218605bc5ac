using Azure;
using Azure.Data.Tables;
using Droplets.Droplets;

namespace Droplets.SshKeys;

// SSH keys in Azure Table Storage, in the shape every record kind shares (OwnedTable): `sshkeys` partitioned by
// project, and the id → project index `sshkeyids`. Two rows per key in `sshkeys`, written and deleted together in one
// entity-group transaction, so they can never disagree:
//   RowKey = key id ("sk_…"): the key;
//   RowKey = "fp_" + hex SHA-256 of the key blob: the fingerprint claim, holding the key's id.
// A second add of the same key to the project fails on the claim row (409) as a whole, so two concurrent adds cannot
// both win. Key rows sort after "fp_" rows; listings read the "sk_" range only.
public sealed class SshKeyStore(TableServiceClient service, StoreOptions options)
{
    const string KeyRange = SshKeyIds.Prefix;
    const string KeyRangeEnd = "sk`"; // '`' follows '_': every "sk_…" row key sorts below it
    const string ClaimPrefix = "fp_";

    readonly OwnedTable<SshKey, SshKeyEntity> table = new(service, options, "sshkeys", "ProjectId", SshKeyEntity.From, e => e.ToKey());

    public Task InitializeAsync(CancellationToken cancellationToken) => table.InitializeAsync(cancellationToken);

    // Claims the id, then writes the key and its fingerprint claim atomically.
    public async Task<AddResult> AddAsync(SshKey key, CancellationToken cancellationToken)
    {
        if (!await table.ClaimAsync(key.Id, key.ProjectId, cancellationToken))
            return new AddResult(AddOutcome.IdTaken, null);

        var claim = new TableEntity(key.ProjectId, ClaimFor(key)) { ["KeyId"] = key.Id };
        try
        {
            await table.Records.SubmitTransactionAsync(
                [new TableTransactionAction(TableTransactionActionType.Add, SshKeyEntity.From(key)), new TableTransactionAction(TableTransactionActionType.Add, claim)],
                cancellationToken);
        }
        catch (TableTransactionFailedException e) when (e.Status == 409)
        {
            var existing = await table.Records.GetEntityIfExistsAsync<TableEntity>(key.ProjectId, claim.RowKey, ["KeyId"], cancellationToken);
            await table.ForgetAsync(key.Id, CancellationToken.None);
            if (!existing.HasValue)
                throw;
            return new AddResult(AddOutcome.Duplicate, existing.Value!.GetString("KeyId"));
        }
        return new AddResult(AddOutcome.Added, null);
    }

    public Task<SshKey?> GetAsync(string id, CancellationToken cancellationToken) => table.GetAsync(id, cancellationToken);

    // `projects` null means every project. Ordered by project, then id, like droplet listings.
    public async Task<SshKeyPage> ListAsync(IReadOnlyCollection<string>? projects, int perPage, ListCursor? after, CancellationToken cancellationToken)
    {
        var (items, next) = await table.PageAsync(projects, TableClient.CreateQueryFilter($"RowKey ge {KeyRange} and RowKey lt {KeyRangeEnd}"), perPage, after, cancellationToken);
        return new SshKeyPage(items, next);
    }

    // Removes the key and its fingerprint claim together, then the index entry. False: it was already gone.
    public async Task<bool> DeleteAsync(SshKey key, CancellationToken cancellationToken)
    {
        var claim = ClaimFor(key);
        try
        {
            await table.Records.SubmitTransactionAsync(
                [new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(key.ProjectId, key.Id), ETag.All),
                 new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(key.ProjectId, claim), ETag.All)],
                cancellationToken);
        }
        catch (TableTransactionFailedException e) when (e.Status == 404)
        {
            return false;
        }
        await table.ForgetAsync(key.Id, cancellationToken);
        return true;
    }

    // "fp_" + the SHA-256 of the key blob in hex (row keys may not contain '/', which base64 does).
    static string ClaimFor(SshKey key)
    {
        var base64 = key.Fingerprint["SHA256:".Length..];
        return ClaimPrefix + Convert.ToHexStringLower(Convert.FromBase64String(base64 + new string('=', (4 - base64.Length % 4) % 4)));
    }

    sealed class SshKeyEntity : ITableEntity
    {
        public string PartitionKey { get; set; } = "";
        public string RowKey { get; set; } = "";
        public DateTimeOffset? Timestamp { get; set; }
        public ETag ETag { get; set; }

        public string Name { get; set; } = "";
        public string PublicKey { get; set; } = "";
        public string Fingerprint { get; set; } = "";
        public string FingerprintMd5 { get; set; } = "";
        public string Type { get; set; } = "";
        public int Bits { get; set; }
        public string? Comment { get; set; }
        public DateTimeOffset CreatedAt { get; set; }
        public string? CreatedBy { get; set; }

        public static SshKeyEntity From(SshKey k) => new()
        {
            PartitionKey = k.ProjectId,
            RowKey = k.Id,
            Name = k.Name,
            PublicKey = k.PublicKey,
            Fingerprint = k.Fingerprint,
            FingerprintMd5 = k.FingerprintMd5,
            Type = k.Type,
            Bits = k.Bits,
            Comment = k.Comment,
            CreatedAt = k.CreatedAt,
            CreatedBy = k.CreatedBy,
        };

        public SshKey ToKey() => new()
        {
            Id = RowKey,
            ProjectId = PartitionKey,
            Name = Name,
            PublicKey = PublicKey,
            Fingerprint = Fingerprint,
            FingerprintMd5 = FingerprintMd5,
            Type = Type,
            Bits = Bits,
            Comment = Comment,
            CreatedAt = CreatedAt,
            CreatedBy = CreatedBy,
        };
    }
}

public enum AddOutcome { Added, IdTaken, Duplicate }

public sealed record AddResult(AddOutcome Outcome, string? ExistingId);

public sealed record SshKeyPage(IReadOnlyList<SshKey> Items, ListCursor? Next);
