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
        if (projectId is not null && !global::Droplets.Droplets.Projects.IsValid(projectId))
            return (null, Problems.BadRequest("invalid_query", $"project_id {FieldErrors.Quote(projectId)} is invalid: {(global::Droplets.Droplets.Projects.Rule)}."));
        var (perPage, after, problem) = ReadPage(context, projectId);
        if (problem is not null)
            return (null, problem);

        // A token sees only its projects: a foreign project lists as empty, exactly like one with nothing in it.
        var caller = context.Caller();
        IReadOnlyCollection<string>? projects = projectId is not null
            ? caller.CanSee(projectId) ? [projectId] : []
            : caller.AllProjects ? null : caller.ProjectIds;
        return (new Listing(projectId, projects, perPage, after), null);
    }

    // `per_page` and `page_token` alone, for a listing of one owner's rows (`owner`; null: any), such as one droplet's
    // history. `per_page` may also be spelled `perPageAlias`.
    public static (int PerPage, ListCursor? After, ProblemHttpResult? Problem) ReadPage(HttpContext context, string? owner, string? perPageAlias = null)
    {
        var query = context.Request.Query;
        var perPage = DefaultPerPage;
        var name = perPageAlias is not null && query[perPageAlias].Count > 0 && query["per_page"].Count == 0 ? perPageAlias : "per_page";
        if (query[name].ToString() is { Length: > 0 } raw && (!int.TryParse(raw, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out perPage) || perPage is < 1 or > MaxPerPage))
            return (0, null, Problems.BadRequest("invalid_query", $"{name} must be an integer from 1 to {MaxPerPage}."));

        ListCursor? after = null;
        if (query["page_token"].ToString() is { Length: > 0 } token)
        {
            after = ListCursor.TryDecode(token);
            if (after is null || (owner is not null && after.Owner != owner))
                return (0, null, Problems.BadRequest("invalid_query", "page_token is not valid for this listing; use the Link header of the previous page."));
        }
        return (perPage, after, null);
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

    // Azure Table Storage takes at most 15 comparisons in one filter (Azurite takes more). A page's owners are queried in
    // groups of OwnersPerQuery, ascending: each group's rows come in key order and every group's keys follow the
    // previous group's, so reading the queries one after another gives the rows in key order. A group's filter has at
    // most 10 owner comparisons, 3 for the cursor and 2 for the caller's own filter.
    public const int OwnersPerQuery = 10;

    // The table filters of a page of a project-partitioned table, in the order to read them: the owners asked for (null:
    // every owner), after the cursor (whose id is the row key past `rowPrefix`), narrowed by `filter` (null: none). No
    // owner asked for: no query at all.
    public static IEnumerable<string?> Filters(IReadOnlyCollection<string>? owners, ListCursor? after, string? filter, string rowPrefix = "")
    {
        var afterKey = rowPrefix + after?.Id;
        if (owners is null)
        {
            yield return And(filter, after is null ? null
                : TableClient.CreateQueryFilter($"(PartitionKey gt {after.Owner} or (PartitionKey eq {after.Owner} and RowKey gt {afterKey}))"));
            yield break;
        }
        var ascending = owners.Where(o => after is null || string.CompareOrdinal(o, after.Owner) >= 0).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        foreach (var group in ascending.Chunk(OwnersPerQuery))
        {
            var inGroup = "(" + string.Join(" or ", group.Select(p => after is not null && p == after.Owner
                ? TableClient.CreateQueryFilter($"(PartitionKey eq {p} and RowKey gt {afterKey})")
                : TableClient.CreateQueryFilter($"PartitionKey eq {p}"))) + ")";
            yield return And(filter, inGroup);
        }
    }

    static string? And(string? filter, string? page) => (filter, page) switch
    {
        (null, null) => null,
        ({ } f, null) => f,
        (null, { } p) => p,
        ({ } f, { } p) => $"({f}) and {p}",
    };

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
