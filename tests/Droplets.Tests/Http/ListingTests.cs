using System.Text.RegularExpressions;
using Droplets;
using Droplets.Http;

namespace Droplets.Tests.Http;

// Azure Table Storage refuses a filter of more than 15 comparisons, which Azurite does not enforce: so this is checked
// on the filters themselves. A token of 20 projects (and of 100, the most a token holds) lists in groups.
public partial class ListingTests
{
    [GeneratedRegex(@"\b(eq|ne|gt|ge|lt|le)\b")]
    private static partial Regex Comparison();

    static readonly string[] Twenty = [.. Enumerable.Range(0, 20).Select(i => $"proj_{i:d2}")];

    [Theory]
    [InlineData(20, false, false)]
    [InlineData(20, true, true)]
    [InlineData(100, true, true)]
    [InlineData(1, true, true)]
    public void No_filter_has_more_than_15_comparisons(int projects, bool withCursor, bool withFilter)
    {
        var owners = Enumerable.Range(0, projects).Select(i => $"proj_{i:d3}").ToArray();
        var after = withCursor ? new ListCursor(owners[0], "dpl_000000000001") : null;
        var filter = withFilter ? "RowKey ge 'sk_' and RowKey lt 'sk`'" : null;

        var filters = Listing.Filters(owners, after, filter).ToList();

        Assert.All(filters, f => Assert.InRange(Comparison().Matches(f!).Count, 1, 15));
        Assert.Equal((projects + Listing.OwnersPerQuery - 1) / Listing.OwnersPerQuery, filters.Count);
    }

    // In ascending order of project, each project in exactly one group; a page after a cursor starts at its project.
    [Fact]
    public void Groups_cover_the_projects_in_key_order_from_the_cursor_on()
    {
        var shuffled = Twenty.Reverse().ToArray();

        var filters = Listing.Filters(shuffled, new ListCursor("proj_05", "dpl_00000000000a"), null).ToList();

        var named = filters.SelectMany(f => Regex.Matches(f!, "PartitionKey eq '([^']+)'").Select(m => m.Groups[1].Value)).ToList();
        Assert.Equal(Twenty[5..], named);
        Assert.Contains("(PartitionKey eq 'proj_05' and RowKey gt 'dpl_00000000000a')", filters[0]);
    }

    [Fact]
    public void No_project_is_no_query() => Assert.Empty(Listing.Filters([], null, null));
}
