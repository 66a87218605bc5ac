using System.Text;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using Droplets.Quotas;

namespace Droplets.Droplets;

// Droplet records in Azure Table Storage, in the shape every record kind shares (OwnedTable): `droplets`
// partitioned by project, and the id → project index `dropletids`.
// The index entry also holds the droplet's boot inputs (DropletBoot), which are just as immutable: written in the same
// insert that claims the id, read once by the provisioning activity, never by GET or listings (which read ProjectId
// only), and gone with the entry. User data may be 64 KiB of UTF-8, more than one string property holds (32K UTF-16
// characters), so both parts are stored as UTF-8 bytes in binary properties of at most 32 KiB each (UserData0,
// UserData1, …; SshKeys0, … holding a JSON array); the largest entry stays well under the 1 MiB entity limit.
// Each tag of a droplet has a companion row (OwnedTable) in its project's partition, "~t~" + tag + "~" + id, so that
// `tag_name` lists a page at the cost of the page. Tags never change after the create.
public sealed class DropletStore(TableServiceClient service, StoreOptions options)
{
    readonly OwnedTable<Droplet, DropletEntity> table = new(service, options, "droplets", "ProjectId", DropletEntity.From, e => e.ToDroplet(),
        d => d.Tags.Select(tag => TagPrefix(tag) + d.Id));

    // Tags hold no '~' (CreateDroplet.IsTag): one tag's keys never run into another's.
    static string TagPrefix(string tag) => "~t~" + tag + "~";

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await table.InitializeAsync(cancellationToken);
        await table.BackfillCompanionsAsync("tags", cancellationToken);
    }

    public Task<bool> TryAddAsync(Droplet droplet, CancellationToken cancellationToken) => TryAddAsync(droplet, DropletBoot.None, cancellationToken);

    public Task<bool> TryAddAsync(Droplet droplet, DropletBoot boot, CancellationToken cancellationToken) =>
        table.TryAddAsync(droplet, cancellationToken, index => WriteBoot(index, boot));

    // Added unless `refuse`, shown the project's droplets as they are, objects; race-free (OwnedTable.TryAddWithinAsync).
    public Task<(bool Added, QuotaRefusal? Refusal)> TryAddWithinAsync(
        Droplet droplet, DropletBoot boot, Func<IReadOnlyList<Droplet>, QuotaRefusal?> refuse, CancellationToken cancellationToken) =>
        table.TryAddWithinAsync(droplet, refuse, cancellationToken, index => WriteBoot(index, boot));

    public async Task<IReadOnlyList<Droplet>> OfProjectAsync(string projectId, CancellationToken cancellationToken) =>
        await table.QueryAsync(TableClient.CreateQueryFilter($"PartitionKey eq {projectId}"), cancellationToken).ToListAsync(cancellationToken);

    static void WriteBoot(TableEntity index, DropletBoot boot)
    {
        if (boot.SshKeys.Count > 0)
            WriteChunks(index, "SshKeys", JsonSerializer.SerializeToUtf8Bytes(boot.SshKeys, Unescaped));
        if (boot.UserData is { Length: > 0 } userData)
            WriteChunks(index, "UserData", Encoding.UTF8.GetBytes(userData));
    }

    // Droplets created before boot inputs were stored have none: they boot with their hostname only.
    public async Task<DropletBoot> GetBootAsync(string id, CancellationToken cancellationToken)
    {
        if (await table.GetIndexAsync(id, cancellationToken) is not { } entry)
            return DropletBoot.None;
        var keys = ReadChunks(entry, "SshKeys");
        var userData = ReadChunks(entry, "UserData");
        return new DropletBoot(
            keys is null ? [] : JsonSerializer.Deserialize<string[]>(keys) ?? [],
            userData is null ? null : Encoding.UTF8.GetString(userData));
    }

    const int ChunkBytes = 32 * 1024;

    // Stored, never embedded in HTML: no need to escape '+' (every base64 key has them) or non-ASCII comments.
    static readonly JsonSerializerOptions Unescaped = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    static void WriteChunks(TableEntity entity, string name, byte[] bytes)
    {
        for (var (offset, n) = (0, 0); offset < bytes.Length; offset += ChunkBytes, n++)
            entity[$"{name}{n}"] = bytes[offset..Math.Min(bytes.Length, offset + ChunkBytes)];
    }

    static byte[]? ReadChunks(TableEntity entity, string name)
    {
        var chunks = new List<byte[]>();
        while (entity.GetBinary($"{name}{chunks.Count}") is { } chunk)
            chunks.Add(chunk);
        return chunks.Count == 0 ? null : [.. chunks.SelectMany(c => c)];
    }

    public Task<Droplet?> GetAsync(string id, CancellationToken cancellationToken) => table.GetAsync(id, cancellationToken);

    public Task<Droplet?> GetAsync(string projectId, string id, CancellationToken cancellationToken) => table.GetAsync(projectId, id, cancellationToken);

    // Read-modify-write with optimistic concurrency. `change` returns null to leave the record as it is.
    public Task<Droplet?> UpdateAsync(string projectId, string id, Func<Droplet, Droplet?> change, CancellationToken cancellationToken) =>
        table.UpdateAsync(projectId, id, current => change(current) is { } changed ? changed with { UpdatedAt = DateTimeOffset.UtcNow } : null, cancellationToken);

    // UpdateAsync for a change that takes more of the project's quota: serialized with creates (OwnedTable.UpdateWithinAsync).
    public Task<Droplet?> UpdateWithinAsync(string projectId, string id, Func<IReadOnlyList<Droplet>, Droplet, Droplet?> change, CancellationToken cancellationToken) =>
        table.UpdateWithinAsync(projectId, id, (all, current) => change(all, current) is { } changed ? changed with { UpdatedAt = DateTimeOffset.UtcNow } : null, cancellationToken);

    // `projects` null means every project. Several projects are read in key order as one listing.
    public async Task<DropletPage> ListAsync(IReadOnlyCollection<string>? projects, string? tag, int perPage, ListCursor? after, CancellationToken cancellationToken)
    {
        var (items, next) = tag is null
            ? await table.PageAsync(projects, null, perPage, after, cancellationToken)
            : await table.PageByAsync(projects, TagPrefix(tag), null, perPage, after, cancellationToken);
        return new DropletPage(items, next);
    }

    // Droplets held by an action whose workflow may never have started (see ActionRecovery).
    public IAsyncEnumerable<Droplet> ListLockedAsync(DateTimeOffset updatedBefore, CancellationToken cancellationToken) =>
        table.QueryAsync(TableClient.CreateQueryFilter($"LockedBy ne {""} and Timestamp lt {updatedBefore}"), cancellationToken);

    // Droplets left in error with a code (ActionRecovery heals those its actions left without a word from KubeVirt).
    public IAsyncEnumerable<Droplet> ListInErrorAsync(string code, CancellationToken cancellationToken) =>
        table.QueryAsync(TableClient.CreateQueryFilter($"Status eq {nameof(DropletStatus.Error)} and ErrorCode eq {code}"), cancellationToken);

    // Every droplet of a region (the drift report compares them with the region's VirtualMachines).
    public IAsyncEnumerable<Droplet> ListInRegionAsync(string region, CancellationToken cancellationToken) =>
        table.QueryAsync(TableClient.CreateQueryFilter($"Region eq {region}"), cancellationToken);

    // The record, then its index entry; the id is never reused.
    public Task DeleteAsync(string projectId, string id, CancellationToken cancellationToken) => table.DeleteAsync(projectId, id, cancellationToken);

    sealed class DropletEntity : ITableEntity
    {
        public string PartitionKey { get; set; } = "";
        public string RowKey { get; set; } = "";
        public DateTimeOffset? Timestamp { get; set; }
        public ETag ETag { get; set; }

        public string Name { get; set; } = "";
        public string Image { get; set; } = "";
        public string PlanId { get; set; } = "";
        public string Region { get; set; } = "";
        public string Status { get; set; } = "";
        public string? PublicIp { get; set; }
        public string? PrivateIp { get; set; }
        public string Tags { get; set; } = "[]";
        public string SshKeyIds { get; set; } = "[]";
        public string VolumeIds { get; set; } = "[]";
        public int Vcpus { get; set; }
        public int Memory { get; set; }
        public int Disk { get; set; }
        public string? ErrorCode { get; set; }
        public string? ErrorMessage { get; set; }
        public DateTimeOffset CreatedAt { get; set; }
        public DateTimeOffset UpdatedAt { get; set; }
        public string? CreatedBy { get; set; }

        // Null in a record from before namespaces were prefixed: it keeps the namespace it was created in.
        public string? Namespace { get; set; }
        public string? LockedBy { get; set; }
        public string? LockedFor { get; set; }
        public string? LockedFrom { get; set; }
        public string? LockedWith { get; set; }

        // What a resize held before LockedWith (records written by an earlier version); read, never written.
        public string? PendingPlanId { get; set; }

        public static DropletEntity From(Droplet d) => new()
        {
            PartitionKey = d.ProjectId,
            RowKey = d.Id,
            Name = d.Name,
            Image = d.Image,
            PlanId = d.PlanId,
            Region = d.Region,
            Status = d.Status.ToString(),
            PublicIp = d.PublicIp,
            PrivateIp = d.PrivateIp,
            Tags = JsonSerializer.Serialize(d.Tags),
            SshKeyIds = JsonSerializer.Serialize(d.SshKeyIds),
            VolumeIds = JsonSerializer.Serialize(d.VolumeIds),
            Vcpus = d.Vcpus,
            Memory = d.Memory,
            Disk = d.Disk,
            ErrorCode = d.Error?.Code,
            ErrorMessage = d.Error?.Message,
            CreatedAt = d.CreatedAt,
            UpdatedAt = d.UpdatedAt,
            CreatedBy = d.CreatedBy,
            Namespace = d.Namespace,
            LockedBy = d.LockedBy,
            LockedFor = d.LockedFor?.ToString(),
            LockedFrom = d.LockedFrom?.ToString(),
            LockedWith = d.LockedWith,
        };

        public Droplet ToDroplet() => new()
        {
            Id = RowKey,
            ProjectId = PartitionKey,
            Name = Name,
            Image = Image,
            PlanId = PlanId,
            Region = Region,
            Status = Enum.Parse<DropletStatus>(Status),
            PublicIp = PublicIp,
            PrivateIp = PrivateIp,
            Tags = JsonSerializer.Deserialize<string[]>(Tags) ?? [],
            SshKeyIds = JsonSerializer.Deserialize<string[]>(SshKeyIds) ?? [],
            VolumeIds = JsonSerializer.Deserialize<string[]>(VolumeIds) ?? [],
            Vcpus = Vcpus,
            Memory = Memory,
            Disk = Disk,
            Error = ErrorCode is null ? null : new ErrorDetail(ErrorCode, ErrorMessage ?? ""),
            CreatedAt = CreatedAt,
            UpdatedAt = UpdatedAt,
            CreatedBy = CreatedBy,
            Namespace = Namespace ?? KubeVirt.TenantNamespaces.Legacy(PartitionKey),
            LockedBy = LockedBy,
            LockedFor = LockedFor is null ? null : Enum.Parse<Actions.ActionType>(LockedFor),
            LockedFrom = LockedFrom is null ? null : Enum.Parse<DropletStatus>(LockedFrom),
            LockedWith = LockedWith ?? PendingPlanId,
        };
    }
}

public sealed record DropletPage(IReadOnlyList<Droplet> Items, ListCursor? Next);
