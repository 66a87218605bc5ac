using System.Collections.Concurrent;
using Azure.Data.Tables;

namespace Droplets;

// The `<resource>ids` tables: PartitionKey = a resource's id, RowKey = "", ProjectId = its project. Resources
// are partitioned by project, so ids stay opaque and a get by id is an index read then a point read; the
// index read is usually served from memory, since the mapping never changes.
public sealed class ProjectIndex(TableClient ids)
{
    const int MaxRemembered = 100_000;
    readonly ConcurrentDictionary<string, string> projectOf = new(StringComparer.Ordinal);

    public async Task<string?> ProjectOfAsync(string id, CancellationToken cancellationToken)
    {
        if (projectOf.TryGetValue(id, out var cached))
            return cached;
        var response = await ids.GetEntityIfExistsAsync<TableEntity>(id, "", ["ProjectId"], cancellationToken);
        if (!response.HasValue)
            return null;
        var projectId = response.Value!.GetString("ProjectId");
        Remember(id, projectId);
        return projectId;
    }

    // Memory is the only concern: start over past a fixed size.
    public void Remember(string id, string projectId)
    {
        if (projectOf.Count > MaxRemembered)
            projectOf.Clear();
        projectOf[id] = projectId;
    }

    public void Forget(string id) => projectOf.TryRemove(id, out _);
}
