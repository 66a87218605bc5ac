using System.Text;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;

namespace Droplets.Droplets;

// Droplet records in Azure Table Storage.
// - `droplets`: PartitionKey = project id, RowKey = droplet id. Listing a project is a partition query.
// - `dropletids`: PartitionKey = droplet id, RowKey = "". Get-by-id needs the project; ids stay opaque
//   (they do not encode the project), so this small immutable index answers it. Its entries never
//   change, so they are cached in memory and a warm GET is a single point read.
//   The entry also holds the droplet's boot inputs (DropletBoot), which are just as immutable: written in
//   the same insert that claims the id, read once by the provisioning activity, never by GET or listings
//   (which select ProjectId only), and gone with the entry. User data may be 64 KiB of UTF-8, more than one
//   string property holds (32K UTF-16 characters), so both parts are stored as UTF-8 bytes in binary
//   properties of at most 32 KiB each (UserData0, UserData1, …; SshKeys0, … holding a JSON array); the
//   largest entry stays well under the 1 MiB entity limit.
// Every update is ETag-conditional (read, change, replace if unchanged; retry on 412).
public sealed class DropletStore(TableServiceClient service, StoreOptions options)
{
    readonly TableClient droplets = service.GetTableClient(options.TablePrefix + "droplets");
    readonly TableClient ids = service.GetTableClient(options.TablePrefix + "dropletids");
    readonly ProjectIndex index = new(service.GetTableClient(options.TablePrefix + "dropletids"));

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await droplets.CreateIfNotExistsAsync(cancellationToken);
        await ids.CreateIfNotExistsAsync(cancellationToken);
    }

    // Writes the index entry, then the record. A crash in between leaves an index entry pointing at
    // nothing, which reads as 404: harmless, and the id is never reused.
    public Task<bool> TryAddAsync(Droplet droplet, CancellationToken cancellationToken) => TryAddAsync(droplet, DropletBoot.None, cancellationToken);

    public async Task<bool> TryAddAsync(Droplet droplet, DropletBoot boot, CancellationToken cancellationToken)
    {
        var row = new TableEntity(droplet.Id, "") { ["ProjectId"] = droplet.ProjectId };
        if (boot.SshKeys.Count > 0)
            WriteChunks(row, "SshKeys", JsonSerializer.SerializeToUtf8Bytes(boot.SshKeys, Unescaped));
        if (boot.UserData is { Length: > 0 } userData)
            WriteChunks(row, "UserData", Encoding.UTF8.GetBytes(userData));
        try
        {
            await ids.AddEntityAsync(row, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            return false;
        }
        await droplets.AddEntityAsync(DropletEntity.From(droplet), cancellationToken);
        index.Remember(droplet.Id, droplet.ProjectId);
        return true;
    }

    // Droplets created before boot inputs were stored have none: they boot with their hostname only.
    public async Task<DropletBoot> GetBootAsync(string id, CancellationToken cancellationToken)
    {
        var response = await ids.GetEntityIfExistsAsync<TableEntity>(id, "", cancellationToken: cancellationToken);
        if (!response.HasValue)
            return DropletBoot.None;
        var keys = ReadChunks(response.Value!, "SshKeys");
        var userData = ReadChunks(response.Value!, "UserData");
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

    public async Task<Droplet?> GetAsync(string id, CancellationToken cancellationToken) =>
        (await GetEntityAsync(id, cancellationToken))?.ToDroplet();

    public async Task<Droplet?> GetAsync(string projectId, string id, CancellationToken cancellationToken)
    {
        var response = await droplets.GetEntityIfExistsAsync<DropletEntity>(projectId, id, cancellationToken: cancellationToken);
        return response.HasValue ? response.Value!.ToDroplet() : null;
    }

    // Read-modify-write with optimistic concurrency. `change` returns null to leave the record as it is.
    public async Task<Droplet?> UpdateAsync(string projectId, string id, Func<Droplet, Droplet?> change, CancellationToken cancellationToken) =>
        (await droplets.UpdateAsync<DropletEntity>(projectId, id,
            current => change(current.ToDroplet()) is { } changed ? DropletEntity.From(changed with { UpdatedAt = DateTimeOffset.UtcNow }) : null,
            cancellationToken))?.ToDroplet();

    // `projects` null means every project. Several projects are read in key order as one listing.
    public async Task<DropletPage> ListAsync(IReadOnlyCollection<string>? projects, string? tag, int perPage, ListCursor? after, CancellationToken cancellationToken)
    {
        if (projects is { Count: 0 })
            return new DropletPage([], null);
        var rows = droplets.QueryAsync<DropletEntity>(Http.Listing.StoreFilter(projects, after), maxPerPage: Math.Min(1000, perPage + 1), cancellationToken: cancellationToken)
            .Select(e => e.ToDroplet())
            .Where(d => tag is null || d.Tags.Contains(tag, StringComparer.Ordinal));
        var (items, next) = await Http.Listing.PageAsync(rows, perPage, d => new ListCursor(d.ProjectId, d.Id), cancellationToken);
        return new DropletPage(items, next);
    }

    // Droplets held by an action whose workflow may never have started (see ActionRecovery).
    public IAsyncEnumerable<Droplet> ListLockedAsync(DateTimeOffset updatedBefore, CancellationToken cancellationToken) =>
        droplets.QueryAsync<DropletEntity>(
                TableClient.CreateQueryFilter($"LockedBy ne {""} and Timestamp lt {updatedBefore}"),
                cancellationToken: cancellationToken)
            .Select(e => e.ToDroplet());

    // Droplets left in error with a code (ActionRecovery heals those its actions left without a word from KubeVirt).
    public IAsyncEnumerable<Droplet> ListInErrorAsync(string code, CancellationToken cancellationToken) =>
        droplets.QueryAsync<DropletEntity>(
                TableClient.CreateQueryFilter($"Status eq {nameof(DropletStatus.Error)} and ErrorCode eq {code}"),
                cancellationToken: cancellationToken)
            .Select(e => e.ToDroplet());

    // Every droplet of a region (the drift report compares them with the region's VirtualMachines).
    public IAsyncEnumerable<Droplet> ListInRegionAsync(string region, CancellationToken cancellationToken) =>
        droplets.QueryAsync<DropletEntity>(TableClient.CreateQueryFilter($"Region eq {region}"), cancellationToken: cancellationToken)
            .Select(e => e.ToDroplet());

    // Removes the record, then its index entry; the id is never reused.
    public async Task DeleteAsync(string projectId, string id, CancellationToken cancellationToken)
    {
        await droplets.DeleteEntityAsync(projectId, id, ETag.All, cancellationToken);
        await ids.DeleteEntityAsync(id, "", ETag.All, cancellationToken);
        index.Forget(id);
    }

    async Task<DropletEntity?> GetEntityAsync(string id, CancellationToken cancellationToken)
    {
        var projectId = await index.ProjectOfAsync(id, cancellationToken);
        if (projectId is null)
            return null;
        var response = await droplets.GetEntityIfExistsAsync<DropletEntity>(projectId, id, cancellationToken: cancellationToken);
        return response.HasValue ? response.Value : null;
    }

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
            Error = ErrorCode is null ? null : new DropletError(ErrorCode, ErrorMessage ?? ""),
            CreatedAt = CreatedAt,
            UpdatedAt = UpdatedAt,
            CreatedBy = CreatedBy,
            LockedBy = LockedBy,
            LockedFor = LockedFor is null ? null : Enum.Parse<Actions.ActionType>(LockedFor),
            LockedFrom = LockedFrom is null ? null : Enum.Parse<DropletStatus>(LockedFrom),
            LockedWith = LockedWith ?? PendingPlanId,
        };
    }
}

public sealed class StoreOptions
{
    // Lets tests (and side-by-side deployments) keep their tables apart in one storage account.
    public string TablePrefix { get; init; } = "";
}

public sealed record DropletPage(IReadOnlyList<Droplet> Items, ListCursor? Next);

// Where the next page starts. Opaque to callers: base64url of "project\nid".
public sealed record ListCursor(string ProjectId, string DropletId)
{
    public string Encode() => Convert.ToBase64String(Encoding.UTF8.GetBytes($"{ProjectId}\n{DropletId}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static ListCursor? TryDecode(string token)
    {
        try
        {
            var base64 = token.Replace('-', '+').Replace('_', '/');
            base64 += new string('=', (4 - base64.Length % 4) % 4);
            var parts = Encoding.UTF8.GetString(Convert.FromBase64String(base64)).Split('\n');
            return parts is [{ Length: > 0 } p, { Length: > 0 } d] ? new ListCursor(p, d) : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
