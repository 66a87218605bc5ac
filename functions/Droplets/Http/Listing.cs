using Azure.Data.Tables;
using Droplets.Auth;
using Droplets.Droplets;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Droplets.Http;

// The listing conventions every collection shares: `project_id` filter within the token's projects,
// `per_page` (1–1000, default 100), an opaque `page_token`, and a `Link: <…>; rel="next"` header.
public sealed record Listing(string? ProjectId, IReadOnlyCollection<string>? Projects, int PerPage, ListCursor? After)
{
    public const int DefaultPerPage = 100;
    public const int MaxPerPage = 1000;

    // `Projects` null means every project (a token for all projects, no filter).
    public static (Listing? Listing, ProblemHttpResult? Problem) Read(HttpContext context)
    {
        var query = context.Request.Query;
        var projectId = query["project_id"].ToString() is { Length: > 0 } p ? p : null;

        var perPage = DefaultPerPage;
        if (query["per_page"].ToString() is { Length: > 0 } raw && (!int.TryParse(raw, out perPage) || perPage is < 1 or > MaxPerPage))
            return (null, Problems.BadRequest("invalid_query", $"per_page must be an integer from 1 to {MaxPerPage}."));

        ListCursor? after = null;
        if (query["page_token"].ToString() is { Length: > 0 } token)
        {
            after = ListCursor.TryDecode(token);
            if (after is null || (projectId is not null && after.Owner != projectId))
                return (null, Problems.BadRequest("invalid_query", "page_token is not valid for this listing; use the Link header of the previous page."));
        }

        // A token sees only its projects: a foreign project lists as empty, exactly like one with nothing in it.
        var caller = context.Caller();
        IReadOnlyCollection<string>? projects = projectId is not null
            ? caller.CanSee(projectId) ? [projectId] : []
            : caller.AllProjects ? null : caller.ProjectIds;
        return (new Listing(projectId, projects, perPage, after), null);
    }

    // The same query with the next page's token.
    public static void LinkNext(HttpContext context, ListCursor? next)
    {
        if (next is null)
            return;
        var query = QueryString.Create(context.Request.Query
            .Where(q => q.Key != "page_token")
            .SelectMany(q => q.Value.Select(v => KeyValuePair.Create(q.Key, v)))
            .Append(KeyValuePair.Create("page_token", (string?)next.Encode())));
        context.Response.Headers.Link = $"<{context.Request.PathBase}{context.Request.Path}{query}>; rel=\"next\"";
    }

    // The table filter for a page of a project-partitioned table: the projects asked for, after the cursor.
    public static string? StoreFilter(IReadOnlyCollection<string>? projects, ListCursor? after)
    {
        var inProjects = projects is null ? null : "(" + string.Join(" or ", projects.Select(p => TableClient.CreateQueryFilter($"PartitionKey eq {p}"))) + ")";
        var afterCursor = after is null ? null : projects is { Count: 1 }
            ? TableClient.CreateQueryFilter($"RowKey gt {after.Id}")
            : TableClient.CreateQueryFilter($"(PartitionKey gt {after.Owner} or (PartitionKey eq {after.Owner} and RowKey gt {after.Id}))");
        return (inProjects, afterCursor) switch
        {
            (null, null) => null,
            ({ } p, null) => p,
            (null, { } c) => c,
            ({ } p, { } c) => $"{p} and {c}",
        };
    }

    // One page of rows in key order: one more row than asked for is read, which tells whether a next page
    // exists without a trailing empty page.
    public static async Task<(IReadOnlyList<T> Items, ListCursor? Next)> PageAsync<T>(
        IAsyncEnumerable<T> rows, int perPage, Func<T, ListCursor> cursorOf, CancellationToken cancellationToken)
    {
        var items = new List<T>(perPage + 1);
        await foreach (var row in rows.WithCancellation(cancellationToken))
        {
            items.Add(row);
            if (items.Count > perPage)
                break;
        }
        if (items.Count <= perPage)
            return (items, null);
        items.RemoveAt(perPage);
        return (items, cursorOf(items[^1]));
    }
}
