using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Droplets.Tests.Infrastructure;

namespace Droplets.Tests.Volumes;

// Volumes end to end through the standalone host: the resource, its claim in the region's cluster, and its
// lifecycle (create, resize, delete). Attach and detach are in VolumeAttachTests.
public abstract class VolumeTests(DropletsWorld world)
{
    public sealed class OnStandalone(DropletsWorld<StandaloneKind> world) : VolumeTests(world), IClassFixture<DropletsWorld<StandaloneKind>>;

    public sealed class OnFunctions(DropletsWorld<FunctionsKind> world) : VolumeTests(world), IClassFixture<DropletsWorld<FunctionsKind>>;

    readonly ApiHost host = world.Host;

    static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal(code, problem.GetProperty("code").GetString());
        return problem;
    }

    [Fact]
    public async Task Create_answers_201_creating_and_the_volume_becomes_available_with_a_blank_data_volume()
    {
        var project = Repository.UniqueName("p");

        var response = await host.Client.PostAsJsonAsync("api/v1/volumes",
            new { name = "pg-data", size_gigabytes = 10, region = "nyc1", description = "database", project_id = project });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = await response.Content.ReadFromJsonAsync<JsonElement>();
        var id = created.GetProperty("id").GetString()!;
        Assert.Matches("^vol_[0-9a-f]{12}$", id);
        Assert.Equal($"/api/v1/volumes/{id}", response.Headers.Location?.ToString());
        Assert.Equal(("pg-data", 10, "nyc1", "database", project), (created.GetProperty("name").GetString(), created.GetProperty("size_gigabytes").GetInt32(),
            created.GetProperty("region").GetString(), created.GetProperty("description").GetString(), created.GetProperty("project_id").GetString()));
        Assert.Equal("creating", created.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, created.GetProperty("droplet_id").ValueKind);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", created.GetProperty("created_at").GetString());
        var actionId = response.Headers.GetValues("Operation-Location").Single().Split('/')[^1];

        var available = await host.WaitForVolumeAsync(id, "available");
        Assert.False(available.TryGetProperty("error", out _));
        var action = await host.WaitForActionAsync(actionId);
        Assert.Equal(("create", "completed", id, "volume"), (action.GetProperty("type").GetString(), action.GetProperty("status").GetString(),
            action.GetProperty("resource_id").GetString(), action.GetProperty("resource_type").GetString()));

        var dv = world.Nyc1.Get("datavolumes", KubeNames.Namespace(project), KubeNames.Object(id))!;
        Assert.Equal(id, dv["metadata"]!["labels"]!["droplets.dev/volume-id"]!.GetValue<string>());
        Assert.Equal(project, dv["metadata"]!["labels"]!["droplets.dev/project-id"]!.GetValue<string>());
        Assert.NotNull(dv["spec"]!["source"]!["blank"]);
        Assert.Equal("ReadWriteOnce", dv["spec"]!["storage"]!["accessModes"]![0]!.GetValue<string>());
        Assert.Equal("Filesystem", dv["spec"]!["storage"]!["volumeMode"]!.GetValue<string>());
        Assert.Equal("10Gi", dv["spec"]!["storage"]!["resources"]!["requests"]!["storage"]!.GetValue<string>());
        var claim = world.Nyc1.Get("persistentvolumeclaims", KubeNames.Namespace(project), KubeNames.Object(id))!;
        Assert.Equal("Bound", claim["status"]!["phase"]!.GetValue<string>());
        Assert.Equal("ReadWriteOnce", claim["spec"]!["accessModes"]![0]!.GetValue<string>());

        var history = await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/volumes/{id}/actions");
        Assert.Equal(["create"], history.EnumerateArray().Select(a => a.GetProperty("type").GetString()));
    }

    public static TheoryData<string, string, string?> InvalidBodies => new()
    {
        { """{"size_gigabytes":10,"region":"nyc1"}""", "validation_failed", "name" },
        { """{"name":"Data","size_gigabytes":10,"region":"nyc1"}""", "validation_failed", "name" },
        { """{"name":"1data","size_gigabytes":10,"region":"nyc1"}""", "validation_failed", "name" },
        { """{"name":"data-","size_gigabytes":10,"region":"nyc1"}""", "validation_failed", "name" },
        { "{\"name\":\"" + new string('a', 65) + "\",\"size_gigabytes\":10,\"region\":\"nyc1\"}", "validation_failed", "name" },
        { """{"name":"data","region":"nyc1"}""", "validation_failed", "size_gigabytes" },
        { """{"name":"data","size_gigabytes":0,"region":"nyc1"}""", "validation_failed", "size_gigabytes" },
        { """{"name":"data","size_gigabytes":16385,"region":"nyc1"}""", "validation_failed", "size_gigabytes" },
        { """{"name":"data","size_gigabytes":10}""", "validation_failed", "region" },
        { """{"name":"data","size_gigabytes":10,"region":"mars1"}""", "validation_failed", "region" },
        { "{\"name\":\"data\",\"size_gigabytes\":10,\"region\":\"nyc1\",\"description\":\"" + new string('d', 1025) + "\"}", "validation_failed", "description" },
        { """{"name":"data","size_gigabytes":10,"region":"nyc1","project_id":"Proj-A"}""", "validation_failed", "project_id" },
        { """{"name":"data","size_gigabytes":1.5,"region":"nyc1"}""", "invalid_json", null },
        { """{"name":"data","size_gigabytes":"10","region":"nyc1"}""", "invalid_json", null },
        { """{"name":"data","size_gigabytes":10,"region":"nyc1","filesystem_type":"ext4"}""", "invalid_json", null },
        { "", "invalid_json", null },
    };

    [Theory]
    [MemberData(nameof(InvalidBodies))]
    public async Task Invalid_create_is_refused_and_creates_nothing(string body, string code, string? field)
    {
        var project = Repository.UniqueName("p");
        var withProject = body.StartsWith('{') && !body.Contains("project_id", StringComparison.Ordinal) ? body.Insert(1, $"\"project_id\":\"{project}\",") : body;

        var response = await host.Client.PostAsync("api/v1/volumes", Json(withProject));

        var problem = await AssertProblemAsync(response, field is null ? HttpStatusCode.BadRequest : HttpStatusCode.UnprocessableEntity, code);
        if (field is not null)
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"errors should name {field}: {problem}");
        Assert.Equal(0, (await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/volumes?project_id={project}")).GetArrayLength());
        Assert.Empty(world.Nyc1.List("datavolumes", KubeNames.Namespace(project)));
    }

    [Fact]
    public async Task A_project_the_token_does_not_hold_is_403_and_its_volumes_are_404()
    {
        var mine = Repository.UniqueName("p");
        var theirs = Repository.UniqueName("p");
        var foreign = await host.AvailableVolumeAsync(theirs);
        var token = await TokenAsync([mine], "write");
        using var client = host.ClientWith(token);

        await AssertProblemAsync(await client.PostAsJsonAsync("api/v1/volumes", new { name = "x", size_gigabytes = 1, region = "nyc1", project_id = theirs }),
            HttpStatusCode.Forbidden, "forbidden");
        var missing = await AssertProblemAsync(await client.GetAsync("api/v1/volumes/vol_000000000000"), HttpStatusCode.NotFound, "not_found");
        var hidden = await AssertProblemAsync(await client.GetAsync($"api/v1/volumes/{foreign}"), HttpStatusCode.NotFound, "not_found");
        Assert.Equal(missing.GetProperty("detail").GetString()!.Replace("vol_000000000000", foreign, StringComparison.Ordinal), hidden.GetProperty("detail").GetString());
        await AssertProblemAsync(await client.DeleteAsync($"api/v1/volumes/{foreign}"), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await client.PostAsJsonAsync($"api/v1/volumes/{foreign}/actions", new { type = "resize", size_gigabytes = 20 }), HttpStatusCode.NotFound, "not_found");
        Assert.Equal(0, (await client.GetFromJsonAsync<JsonElement>($"api/v1/volumes?project_id={theirs}")).GetArrayLength());
        Assert.DoesNotContain((await client.GetFromJsonAsync<JsonElement>("api/v1/volumes")).EnumerateArray(), v => v.GetProperty("id").GetString() == foreign);
        Assert.Equal("available", (await host.GetVolumeAsync(foreign)).GetProperty("status").GetString());

        using var reader = host.ClientWith(await TokenAsync([mine], "read"));
        await AssertProblemAsync(await reader.PostAsJsonAsync("api/v1/volumes", new { name = "x", size_gigabytes = 1, region = "nyc1", project_id = mine }),
            HttpStatusCode.Forbidden, "forbidden");
    }

    async Task<string> TokenAsync(string[] projects, string scope)
    {
        var response = await host.Client.PostAsJsonAsync("api/v1/tokens", new { name = "t", project_ids = projects, scope });
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    [Fact]
    public async Task List_is_a_bare_array_filtered_by_project_and_region_and_paged()
    {
        var project = Repository.UniqueName("p");
        var nyc = await host.CreateAsync(project, region: "nyc1");
        var ams = await host.CreateAsync(project, region: "ams3");
        var other = await host.CreateAsync(Repository.UniqueName("p"));

        var all = await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/volumes?project_id={project}");
        Assert.Equal(JsonValueKind.Array, all.ValueKind);
        Assert.Equal(new[] { nyc, ams }.Select(v => v.GetProperty("id").GetString()).Order(), all.EnumerateArray().Select(v => v.GetProperty("id").GetString()).Order());
        var inAms = await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/volumes?project_id={project}&region=ams3");
        Assert.Equal(ams.GetProperty("id").GetString(), Assert.Single(inAms.EnumerateArray()).GetProperty("id").GetString());
        Assert.Contains((await host.Client.GetFromJsonAsync<JsonElement>("api/v1/volumes")).EnumerateArray(), v => v.GetProperty("id").GetString() == other.GetProperty("id").GetString());

        var first = await host.Client.GetAsync($"api/v1/volumes?project_id={project}&per_page=1");
        var next = first.Headers.GetValues("Link").Single();
        Assert.EndsWith("rel=\"next\"", next);
        var second = await host.Client.GetFromJsonAsync<JsonElement>(next[1..next.IndexOf('>', StringComparison.Ordinal)].TrimStart('/'));
        Assert.Single(second.EnumerateArray());
        Assert.NotEqual((await first.Content.ReadFromJsonAsync<JsonElement>())[0].GetProperty("id").GetString(), second[0].GetProperty("id").GetString());
        await AssertProblemAsync(await host.Client.GetAsync("api/v1/volumes?per_page=0"), HttpStatusCode.BadRequest, "invalid_query");
    }

    [Fact]
    public async Task Resize_grows_the_claim_and_records_the_new_size_only_when_it_shows()
    {
        var project = Repository.UniqueName("p");
        var id = await host.AvailableVolumeAsync(project);

        var done = await host.CompleteVolumeActionAsync(id, new { type = "resize", size_gigabytes = 25 });

        Assert.Equal(("resize", "completed", "volume"), (done.GetProperty("type").GetString(), done.GetProperty("status").GetString(), done.GetProperty("resource_type").GetString()));
        var volume = await host.GetVolumeAsync(id);
        Assert.Equal(25, volume.GetProperty("size_gigabytes").GetInt32());
        Assert.Equal("available", volume.GetProperty("status").GetString());
        var claim = world.Nyc1.Get("persistentvolumeclaims", KubeNames.Namespace(project), KubeNames.Object(id))!;
        Assert.Equal("25Gi", claim["spec"]!["resources"]!["requests"]!["storage"]!.GetValue<string>());
        Assert.Equal("25Gi", claim["status"]!["capacity"]!["storage"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("""{"type":"resize","size_gigabytes":10}""", "size_gigabytes")]
    [InlineData("""{"type":"resize","size_gigabytes":5}""", "size_gigabytes")]
    [InlineData("""{"type":"resize","size_gigabytes":16385}""", "size_gigabytes")]
    [InlineData("""{"type":"resize"}""", "size_gigabytes")]
    [InlineData("""{"type":"resize","size_gigabytes":20,"droplet_id":"dpl_000000000000"}""", "droplet_id")]
    [InlineData("""{"type":"attach"}""", "droplet_id")]
    [InlineData("""{"type":"attach","droplet_id":"dpl_000000000000"}""", "droplet_id")]
    [InlineData("""{"type":"attach","droplet_id":"nope"}""", "droplet_id")]
    [InlineData("""{"type":"detach","size_gigabytes":20}""", "size_gigabytes")]
    [InlineData("""{"type":"snapshot"}""", "type")]
    [InlineData("""{}""", "type")]
    public async Task Invalid_volume_actions_are_422_naming_the_field_and_change_nothing(string body, string field)
    {
        var id = await host.AvailableVolumeAsync(Repository.UniqueName("p"));

        var problem = await AssertProblemAsync(await host.Client.PostAsync($"api/v1/volumes/{id}/actions", Json(body)), HttpStatusCode.UnprocessableEntity, "validation_failed");

        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
        if (field == "type")
            Assert.Contains("attach, detach, resize", problem.GetProperty("detail").GetString());
        var volume = await host.GetVolumeAsync(id);
        Assert.Equal((10, "available", false), (volume.GetProperty("size_gigabytes").GetInt32(), volume.GetProperty("status").GetString(), volume.GetProperty("locked").GetBoolean()));
        Assert.Equal(1, (await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/volumes/{id}/actions")).GetArrayLength());
        await AssertProblemAsync(await host.Client.PostAsync($"api/v1/volumes/{id}/actions", Json("""{"type":"resize","size":20}""")), HttpStatusCode.BadRequest, "invalid_json");
    }

    [Fact]
    public async Task Delete_removes_the_claim_and_the_record_and_keeps_the_action()
    {
        var project = Repository.UniqueName("p");
        var id = await host.AvailableVolumeAsync(project);

        var response = await host.Client.DeleteAsync($"api/v1/volumes/{id}");

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var action = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("delete", action.GetProperty("type").GetString());
        Assert.Equal("completed", (await host.WaitForActionAsync(action.GetProperty("id").GetString()!)).GetProperty("status").GetString());
        await AssertProblemAsync(await host.Client.GetAsync($"api/v1/volumes/{id}"), HttpStatusCode.NotFound, "not_found");
        Assert.Null(world.Nyc1.Get("datavolumes", KubeNames.Namespace(project), KubeNames.Object(id)));
        Assert.Null(world.Nyc1.Get("persistentvolumeclaims", KubeNames.Namespace(project), KubeNames.Object(id)));
        Assert.Equal(["delete", "create"], (await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/volumes/{id}/actions")).EnumerateArray().Select(a => a.GetProperty("type").GetString()));
        await AssertProblemAsync(await host.Client.DeleteAsync($"api/v1/volumes/{id}"), HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Idempotency_key_replays_a_create_and_an_action_without_doing_them_twice()
    {
        var project = Repository.UniqueName("p");
        var key = Guid.NewGuid().ToString();
        async Task<HttpResponseMessage> CreateAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/volumes")
            {
                Content = JsonContent.Create(new { name = "keyed", size_gigabytes = 2, region = "nyc1", project_id = project }),
            };
            request.Headers.Add("Idempotency-Key", key);
            return await host.Client.SendAsync(request);
        }

        var first = await CreateAsync();
        var again = await CreateAsync();

        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        Assert.Equal("true", again.Headers.GetValues("Idempotent-Replayed").Single());
        var id = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        Assert.Equal(id, (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString());
        Assert.Equal(first.Headers.Location, again.Headers.Location);
        Assert.Equal(first.Headers.GetValues("Operation-Location"), again.Headers.GetValues("Operation-Location"));
        Assert.Single((await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/volumes?project_id={project}")).EnumerateArray());
        await host.WaitForVolumeAsync(id, "available");

        var actionKey = Guid.NewGuid().ToString();
        async Task<HttpResponseMessage> ResizeAsync(int size)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"api/v1/volumes/{id}/actions") { Content = JsonContent.Create(new { type = "resize", size_gigabytes = size }) };
            request.Headers.Add("Idempotency-Key", actionKey);
            return await host.Client.SendAsync(request);
        }
        var resize = await ResizeAsync(4);
        var replay = await ResizeAsync(4);
        Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
        Assert.Equal((await resize.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString(),
            (await replay.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString());
        await AssertProblemAsync(await ResizeAsync(6), HttpStatusCode.UnprocessableEntity, "idempotency_key_reused");
        await host.WaitForVolumeAsync(id, "available");
        Assert.Equal(2, (await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/volumes/{id}/actions")).GetArrayLength());
    }
}
