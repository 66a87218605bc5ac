using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Azure.Data.Tables;
using Droplets.Actions;
using Droplets.Droplets;
using Droplets.Tests.Infrastructure;
using Droplets.Tests.Volumes;

namespace Droplets.Tests.Http;

// Every listing is read a page at a time: a droplet's (and a volume's) action history and its events paginate like the
// droplets do, newest first, and `tag_name` is served by the tags' companion rows (DropletStore), across the projects of
// a 20-project token too. Before, a history and its events were read whole on every request, whatever `per_page` said,
// and a tag listing read every droplet of the caller's projects.
public abstract partial class BoundedListingTests(DropletsWorld world)
{
    public sealed class OnStandalone(DropletsWorld<StandaloneKind> world) : BoundedListingTests(world), IClassFixture<DropletsWorld<StandaloneKind>>;

    public sealed class OnFunctions(DropletsWorld<FunctionsKind> world) : BoundedListingTests(world), IClassFixture<DropletsWorld<FunctionsKind>>;

    readonly ApiHost host = world.Host;

    [Fact]
    public async Task A_history_of_250_actions_is_read_in_pages_newest_first()
    {
        var project = Repository.UniqueName("p");
        var id = await host.RunningDropletAsync(project);
        await AddActionsAsync(id, project, 249);

        var (pages, actions) = await WalkAsync(host.Client, $"api/v1/droplets/{id}/actions?per_page=100");

        Assert.Equal([100, 100, 50], pages);
        Assert.Equal(250, actions.Select(a => a.GetProperty("id").GetString()).Distinct().Count());
        var started = actions.Select(a => a.GetProperty("started_at").GetDateTimeOffset()).ToList();
        Assert.Equal(started.OrderDescending(), started);
        Assert.Equal("create", actions[0].GetProperty("type").GetString());
        Assert.Equal(100, (await host.Client.GetFromJsonAsync<JsonElement[]>($"api/v1/droplets/{id}/actions"))!.Length);

        // A volume's history likewise.
        var volume = await host.AvailableVolumeAsync(project);
        await AddActionsAsync(volume, project, 2);
        Assert.Equal([2, 1], (await WalkAsync(host.Client, $"api/v1/volumes/{volume}/actions?per_page=2")).Pages);
    }

    [Theory]
    [InlineData("per_page=0")]
    [InlineData("per_page=1001")]
    [InlineData("page_token=not-a-token")]
    public async Task Bad_history_pages_are_400(string query)
    {
        var project = Repository.UniqueName("p");
        var id = await host.RunningDropletAsync(project);
        foreach (var path in new[] { $"api/v1/droplets/{id}/actions", $"api/v1/droplets/{id}/events" })
            await AssertInvalidQueryAsync(await host.Client.GetAsync($"{path}?{query}"));
    }

    // A page token is bound to the listing that made it: another droplet's is refused.
    [Fact]
    public async Task A_page_token_of_another_droplets_history_is_400()
    {
        var project = Repository.UniqueName("p");
        var (first, second) = (await host.RunningDropletAsync(project), await host.RunningDropletAsync(project));
        await AddActionsAsync(first, project, 2);
        foreach (var path in new[] { "actions", "events" })
        {
            var response = await host.Client.GetAsync($"api/v1/droplets/{first}/{path}?per_page=1");
            var next = NextOf(response)!;
            await AssertInvalidQueryAsync(await host.Client.GetAsync(next.Replace(first, second)));
        }
    }

    [Fact]
    public async Task Events_are_read_in_pages_newest_first_and_the_pages_are_the_whole_listing()
    {
        var project = Repository.UniqueName("p");
        var id = await host.RunningDropletAsync(project);
        await AddActionsAsync(id, project, 120);

        var whole = (await host.Client.GetFromJsonAsync<JsonElement[]>($"api/v1/droplets/{id}/events?limit=1000"))!;
        var (pages, events) = await WalkAsync(host.Client, $"api/v1/droplets/{id}/events?per_page=50");

        Assert.True(whole.Length > 240, $"{whole.Length} events");
        Assert.True(pages.Count >= 5 && pages.SkipLast(1).All(n => n == 50), string.Join(",", pages));
        var lastSeen = events.Select(e => e.GetProperty("last_seen").GetDateTimeOffset()).ToList();
        Assert.Equal(lastSeen.OrderDescending(), lastSeen);
        // The droplet's own events, page after page, are those of the whole listing, in its order (Kubernetes' may change
        // between two reads: a count goes up).
        static IEnumerable<string> Ours(IEnumerable<JsonElement> list) => list
            .Where(e => e.GetProperty("origin").GetString() == "droplets")
            .Select(e => $"{e.GetProperty("action_id").GetString()} {e.GetProperty("reason").GetString()}");
        Assert.Equal(Ours(whole), Ours(events));
        Assert.Equal(events.Count, events.Select(e => e.GetRawText()).Distinct().Count());
    }

    // A tag listing of a 20-project token: the tagged droplets of every project once, in key order (project, then id),
    // page after page; the untagged ones never.
    [Fact]
    public async Task A_tag_lists_its_droplets_across_twenty_projects_in_key_order()
    {
        var projects = Enumerable.Range(0, 20).Select(_ => Repository.UniqueName("p")).ToArray();
        var tag = "blue-" + Repository.UniqueName("t");
        var store = await StoreAsync();
        var expected = new List<(string Project, string Id)>();
        foreach (var (project, i) in projects.Select((p, i) => (p, i)))
        {
            var tagged = i % 4 == 1 ? [] : new[] { Record(project, [tag, "other"]), Record(project, [tag]) };
            foreach (var droplet in tagged.Append(Record(project, ["other"])).Append(Record(project, [])))
                Assert.True(await store.TryAddAsync(droplet, default));
            expected.AddRange(tagged.Select(d => (project, d.Id)));
        }
        var created = await host.Client.PostAsJsonAsync("api/v1/tokens", new { name = "twenty", project_ids = projects, scope = "read" });
        var client = host.ClientWith((await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString());

        var (pages, seen) = await WalkAsync(client, $"api/v1/droplets?tag_name={tag}&per_page=7");

        Assert.Equal(expected.OrderBy(d => d.Project, StringComparer.Ordinal).ThenBy(d => d.Id, StringComparer.Ordinal),
            seen.Select(d => (d.GetProperty("project_id").GetString()!, d.GetProperty("id").GetString()!)));
        Assert.Equal([7, 7, 7, 7, 2], pages);
        Assert.All(seen, d => Assert.Contains(tag, d.GetProperty("tags").EnumerateArray().Select(t => t.GetString())));
        // One project, as the tag's only filter.
        Assert.Equal(2, (await client.GetFromJsonAsync<JsonElement[]>($"api/v1/droplets?tag_name={tag}&project_id={projects[0]}"))!.Length);
    }

    // A deleted droplet leaves its tags' listings with it.
    [Fact]
    public async Task A_deleted_droplet_is_no_longer_listed_by_its_tag()
    {
        var project = Repository.UniqueName("p");
        var tag = "gone-" + Repository.UniqueName("t");
        var id = (await host.CreateDropletAsync(new { name = "web", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project, tags = new[] { tag } }))
            .GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(id, "running");
        Assert.Single((await host.Client.GetFromJsonAsync<JsonElement[]>($"api/v1/droplets?tag_name={tag}"))!);

        var delete = await host.Client.DeleteAsync($"api/v1/droplets/{id}");
        var action = (await delete.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        Assert.Equal("completed", (await host.WaitForActionAsync(action)).GetProperty("status").GetString());

        Assert.Empty((await host.Client.GetFromJsonAsync<JsonElement[]>($"api/v1/droplets?tag_name={tag}"))!);
        var rows = new List<TableEntity>();
        await foreach (var row in (await TableAsync("droplets")).QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {project}")))
            rows.Add(row);
        Assert.DoesNotContain(rows, r => r.RowKey.Contains(id, StringComparison.Ordinal));
    }

    async Task AddActionsAsync(string resourceId, string project, int count)
    {
        var actions = new ActionStore(new TableServiceClient((await Azurite.SharedAsync()).ConnectionString), new StoreOptions { TablePrefix = host.TablePrefix });
        var from = DateTimeOffset.UtcNow.AddDays(-1);
        foreach (var chunk in Enumerable.Range(0, count).Chunk(25))
            await Task.WhenAll(chunk.Select(i => actions.AddAsync(new ResourceAction
            {
                Id = ResourceAction.NewId(),
                Type = ActionType.Reboot,
                Status = ActionStatus.Completed,
                StartedAt = from.AddMinutes(i),
                CompletedAt = from.AddMinutes(i).AddSeconds(20),
                Progress = 100,
                ResourceId = resourceId,
                Region = "nyc1",
                ProjectId = project,
            }, default)));
    }

    async Task<DropletStore> StoreAsync() =>
        new(new TableServiceClient((await Azurite.SharedAsync()).ConnectionString), new StoreOptions { TablePrefix = host.TablePrefix });

    async Task<TableClient> TableAsync(string name) =>
        new TableServiceClient((await Azurite.SharedAsync()).ConnectionString).GetTableClient(host.TablePrefix + name);

    static Droplet Record(string project, string[] tags) => new()
    {
        Id = DropletIds.New(), ProjectId = project, Name = "web", Image = "ubuntu-22-04", PlanId = "s-1vcpu-1gb", Region = "nyc1",
        Status = DropletStatus.Stopped, Tags = tags, Namespace = "droplets-" + project.Replace('_', '-'), CreatedAt = DateTimeOffset.UtcNow,
    };

    // Every page from `first` on, following `Link: rel="next"`: each page's size and every item.
    internal static async Task<(List<int> Pages, List<JsonElement> Items)> WalkAsync(HttpClient client, string first)
    {
        var (pages, items) = (new List<int>(), new List<JsonElement>());
        for (var next = first; next is not null;)
        {
            var response = await client.GetAsync(next);
            Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
            var page = await response.Content.ReadFromJsonAsync<JsonElement[]>();
            pages.Add(page!.Length);
            items.AddRange(page);
            Assert.True(pages.Count < 100, "pages do not end");
            next = NextOf(response);
        }
        return (pages, items);
    }

    static string? NextOf(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Link", out var links) ? NextLink().Match(links.Single()).Groups[1].Value.TrimStart('/') : null;

    [GeneratedRegex("^<([^>]+)>; rel=\"next\"$")]
    private static partial Regex NextLink();

    static async Task AssertInvalidQueryAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("invalid_query", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }
}

// An installation from before the companion rows: its droplets' tags and its actions' history have none, until the next
// start writes them (once: a row in partition "~" says it is done).
public sealed class CompanionBackfillTests
{
    [Theory, BothHosts]
    public async Task Records_written_before_their_companions_are_listed_after_the_next_start(HostKind kind)
    {
        await using var host = await ApiHost.StartAsync(kind, new Dictionary<string, Uri>());
        var tables = new TableServiceClient((await Azurite.SharedAsync()).ConnectionString);
        var options = new StoreOptions { TablePrefix = host.TablePrefix };
        var project = Repository.UniqueName("p");
        var tagged = new Droplet
        {
            Id = DropletIds.New(), ProjectId = project, Name = "web", Image = "ubuntu-22-04", PlanId = "s-1vcpu-1gb", Region = "nyc1",
            Status = DropletStatus.Stopped, Tags = ["old"], Namespace = project, CreatedAt = DateTimeOffset.UtcNow,
        };
        Assert.True(await new DropletStore(tables, options).TryAddAsync(tagged, default));
        await new ActionStore(tables, options).AddAsync(new ResourceAction
        {
            Id = ResourceAction.NewId(), Type = ActionType.Create, Status = ActionStatus.Completed, StartedAt = DateTimeOffset.UtcNow,
            CompletedAt = DateTimeOffset.UtcNow, Progress = 100, ResourceId = tagged.Id, Region = "nyc1", ProjectId = project,
        }, default);
        foreach (var name in new[] { "droplets", "actions" })
        {
            var table = tables.GetTableClient(host.TablePrefix + name);
            await foreach (var row in table.QueryAsync<TableEntity>("RowKey ge '~'"))
                if (row.RowKey != "~")
                    await table.DeleteEntityAsync(row.PartitionKey, row.RowKey);
        }
        var listing = $"api/v1/droplets?project_id={project}&tag_name=old";
        Assert.Empty((await host.Client.GetFromJsonAsync<JsonElement[]>(listing))!);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync($"api/v1/droplets/{tagged.Id}/actions")).StatusCode);

        await host.KillAsync();
        await host.StartAsync();

        Assert.Equal(tagged.Id, Assert.Single((await host.Client.GetFromJsonAsync<JsonElement[]>(listing))!).GetProperty("id").GetString());
        Assert.Single((await host.Client.GetFromJsonAsync<JsonElement[]>($"api/v1/droplets/{tagged.Id}/actions"))!);
    }
}
