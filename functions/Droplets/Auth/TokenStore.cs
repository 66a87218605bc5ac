using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using Droplets.Droplets;

namespace Droplets.Auth;

// API tokens in Table Storage: PartitionKey = token id, RowKey = "". Holds the SHA-256 of the token,
// never the token itself.
public sealed class TokenStore(TableServiceClient service, StoreOptions options)
{
    readonly TableClient tokens = service.GetTableClient(options.TablePrefix + "tokens");

    public Task InitializeAsync(CancellationToken cancellationToken) => tokens.CreateIfNotExistsAsync(cancellationToken);

    public async Task AddAsync(ApiToken token, byte[] hash, CancellationToken cancellationToken) =>
        await tokens.AddEntityAsync(TokenEntity.From(token, hash), cancellationToken);

    public async Task<(ApiToken Token, byte[] Hash)?> GetAsync(string id, CancellationToken cancellationToken)
    {
        var response = await tokens.GetEntityIfExistsAsync<TokenEntity>(id, "", cancellationToken: cancellationToken);
        return response.HasValue ? (response.Value!.ToToken(), response.Value.Hash) : null;
    }

    public async Task<IReadOnlyList<ApiToken>> ListAsync(CancellationToken cancellationToken)
    {
        var list = new List<ApiToken>();
        await foreach (var entity in tokens.QueryAsync<TokenEntity>(cancellationToken: cancellationToken))
            list.Add(entity.ToToken());
        return list;
    }

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        var response = await tokens.DeleteEntityAsync(id, "", ETag.All, cancellationToken);
        return response.Status != 404;
    }

    public async Task TouchAsync(string id, DateTimeOffset usedAt, CancellationToken cancellationToken)
    {
        var entity = new TableEntity(id, "") { [nameof(TokenEntity.LastUsedAt)] = usedAt };
        try
        {
            await tokens.UpdateEntityAsync(entity, ETag.All, TableUpdateMode.Merge, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            // Revoked meanwhile: nothing to record.
        }
    }

    sealed class TokenEntity : ITableEntity
    {
        public string PartitionKey { get; set; } = "";
        public string RowKey { get; set; } = "";
        public DateTimeOffset? Timestamp { get; set; }
        public ETag ETag { get; set; }

        public string Name { get; set; } = "";
        public string ProjectIds { get; set; } = "[]";
        public string Scope { get; set; } = "";
        public byte[] Hash { get; set; } = [];
        public DateTimeOffset CreatedAt { get; set; }
        public DateTimeOffset? ExpiresAt { get; set; }
        public DateTimeOffset? LastUsedAt { get; set; }

        public static TokenEntity From(ApiToken token, byte[] hash) => new()
        {
            PartitionKey = token.Id,
            Name = token.Name,
            ProjectIds = JsonSerializer.Serialize(token.ProjectIds),
            Scope = token.Scope.ToString(),
            Hash = hash,
            CreatedAt = token.CreatedAt,
            ExpiresAt = token.ExpiresAt,
            LastUsedAt = token.LastUsedAt,
        };

        public ApiToken ToToken() => new()
        {
            Id = PartitionKey,
            Name = Name,
            ProjectIds = JsonSerializer.Deserialize<string[]>(ProjectIds) ?? [],
            Scope = Enum.Parse<TokenScope>(Scope),
            CreatedAt = CreatedAt,
            ExpiresAt = ExpiresAt,
            LastUsedAt = LastUsedAt,
        };
    }
}
