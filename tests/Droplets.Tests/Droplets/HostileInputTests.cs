using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Droplets.Tests.Infrastructure;

namespace Droplets.Tests.Droplets;

// Each write endpoint gets its worst bodies: the largest it accepts filled with the most array elements, the deepest
// nesting, the longest strings, control characters, trailing line feeds and unpaired surrogates. Every one is a 4xx with
// a bounded answer (at most 20 errors, at most 16 KiB), whatever the size of the mistake. How long each takes is the
// benchmark's (scripts/measure-input.sh), not a test's. Strings that were accepted and stored, or answered 500
// (`"web\n"`, `["prod\n"]`, `"proj_a\n"`), are refused where they enter, and so are listings' filters and forged page
// tokens.
public abstract class HostileInputTests(DropletsWorld world)
{
    public sealed class OnStandalone(DropletsWorld<StandaloneKind> world) : HostileInputTests(world), IClassFixture<DropletsWorld<StandaloneKind>>;

    public sealed class OnFunctions(DropletsWorld<FunctionsKind> world) : HostileInputTests(world), IClassFixture<DropletsWorld<FunctionsKind>>;

    readonly ApiHost host = world.Host;

    // Each write endpoint, its body limit, its string fields and its array fields. The ids are well formed and name
    // nothing: every body here is refused before a record is looked up.
    public static readonly (string Method, string Path, int MaxBytes, string[] Strings, string[] Arrays)[] Endpoints =
    [
        ("POST", "api/v1/droplets", 512 * 1024, ["name", "image", "plan_id", "region", "project_id", "user_data"], ["tags", "ssh_key_ids", "volume_ids"]),
        ("POST", "api/v1/droplets/dpl_000000000000/actions", 64 * 1024, ["type", "image"], []),
        ("PATCH", "api/v1/droplets/dpl_000000000000", 64 * 1024, ["plan_id"], []),
        ("POST", "api/v1/ssh_keys", 64 * 1024, ["name", "public_key", "project_id"], []),
        ("POST", "api/v1/volumes", 64 * 1024, ["name", "region", "description", "project_id"], []),
        ("POST", "api/v1/volumes/vol_000000000000/actions", 64 * 1024, ["type", "droplet_id"], []),
        ("POST", "api/v1/tokens", 64 * 1024, ["name"], ["project_ids"]),
    ];

    // The worst bodies of one endpoint, each with what it is.
    static IEnumerable<(string What, string Body)> WorstBodies((string Method, string Path, int MaxBytes, string[] Strings, string[] Arrays) endpoint)
    {
        var room = endpoint.MaxBytes - 64;
        foreach (var array in endpoint.Arrays)
        {
            yield return ($"{array}: as many empty strings as fit", $"{{\"{array}\":[{string.Join(',', Enumerable.Repeat("\"\"", room / 3))}]}}");
            yield return ($"{array}: as many invalid ids as fit", $"{{\"{array}\":[{string.Join(',', Enumerable.Repeat("\"x\\n\"", room / 6))}]}}");
        }
        foreach (var field in endpoint.Strings)
        {
            yield return ($"{field}: the longest string", $"{{\"{field}\":\"{new string('a', room)}\"}}");
            yield return ($"{field}: control characters", $"{{\"{field}\":\"a\\u0001b\"}}");
            yield return ($"{field}: a trailing line feed", $"{{\"{field}\":\"web\\n\"}}");
            yield return ($"{field}: an unpaired surrogate", $"{{\"{field}\":\"a\\ud800\"}}");
            yield return ($"{field}: the deepest nesting", $"{{\"{field}\":{new string('[', room / 2)}{new string(']', room / 2)}}}");
        }
        yield return ("an unknown field holding the most elements", $"{{\"unknown\":[{string.Join(',', Enumerable.Repeat("0", room / 2))}]}}");
        yield return ("an unknown field with the longest name", $"{{\"{new string('u', room)}\":1}}");
        yield return ("one byte over the limit", $"{{\"name\":\"{new string('a', endpoint.MaxBytes)}\"}}");
    }

    [Fact]
    public async Task Every_write_endpoint_answers_its_worst_bodies_with_a_bounded_4xx()
    {
        var failures = new List<string>();
        foreach (var endpoint in Endpoints)
            foreach (var (what, body) in WorstBodies(endpoint))
            {
                using var request = new HttpRequestMessage(new HttpMethod(endpoint.Method), endpoint.Path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                using var response = await host.Client.SendAsync(request);
                var text = await response.Content.ReadAsStringAsync();
                var status = (int)response.StatusCode;
                var errors = status == 422 ? JsonDocument.Parse(text).RootElement.GetProperty("errors").EnumerateObject().Sum(e => e.Value.GetArrayLength()) : 0;
                if (status is not (400 or 413 or 422) || text.Length > 16 * 1024 || errors > 20 || response.Content.Headers.ContentType?.MediaType != "application/problem+json")
                    failures.Add($"{endpoint.Method} {endpoint.Path}, {what}: {status}, {text.Length} characters, {errors} errors: {text[..Math.Min(text.Length, 300)]}");
            }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    // A 422 names at most 20 errors, and says that there were more.
    [Fact]
    public async Task A_body_full_of_mistakes_reports_twenty_and_counts_the_rest()
    {
        var tags = Enumerable.Range(0, 25).Select(i => $"bad tag {i}").ToArray();
        var volumes = Enumerable.Range(0, 8).Select(i => $"vol_{i}").ToArray();
        var response = await host.Client.PostAsJsonAsync("api/v1/droplets", new { name = "-", image = "nope", plan_id = "nope", region = "nope", tags, volume_ids = volumes });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(20, problem.GetProperty("errors").EnumerateObject().Sum(e => e.Value.GetArrayLength()));
        Assert.EndsWith("(More errors were found: at most 20 are reported at once.)", problem.GetProperty("detail").GetString());
    }

    // What used to be stored (and then answered as it was) or answered 500 further down.
    [Theory]
    [InlineData("name", "\"web\\n\"")]
    [InlineData("tags", "[\"prod\\n\"]")]
    [InlineData("project_id", "\"proj_a\\n\"")]
    [InlineData("project_id", "\"kube\\u0000system\"")]
    [InlineData("user_data", "\"#!/bin/sh\\u0000\"")]
    public async Task A_create_with_a_control_character_or_a_final_line_feed_is_refused_and_stores_nothing(string field, string value)
    {
        var project = Repository.UniqueName("p");
        var fields = new Dictionary<string, string>
        {
            ["name"] = "\"web\"", ["image"] = "\"ubuntu-22-04\"", ["plan_id"] = "\"s-1vcpu-1gb\"", ["region"] = "\"nyc1\"", ["project_id"] = $"\"{project}\"",
            [field] = value,
        };
        var body = "{" + string.Join(',', fields.Select(f => $"\"{f.Key}\":{f.Value}")) + "}";

        var response = await host.Client.PostAsync("api/v1/droplets", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.True((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty(field, out _));
        Assert.Equal(0, (await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets?project_id={project}")).GetArrayLength());
    }

    [Theory]
    [InlineData("api/v1/ssh_keys", "{\"name\":\"laptop\\n\",\"public_key\":\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ8X2Q9burX9kIvdzJ4sIjHVexJ3dsr2WtBvhkzKL7np\"}", "name")]
    [InlineData("api/v1/volumes", "{\"name\":\"data\\n\",\"size_gigabytes\":1,\"region\":\"nyc1\"}", "name")]
    [InlineData("api/v1/volumes", "{\"name\":\"data\",\"size_gigabytes\":1,\"region\":\"nyc1\",\"description\":\"logs\\u0000\"}", "description")]
    [InlineData("api/v1/tokens", "{\"name\":\"ci\\n\",\"project_ids\":[\"proj_a\"],\"scope\":\"read\"}", "name")]
    [InlineData("api/v1/tokens", "{\"name\":\"ci\",\"project_ids\":[\"proj_a\\n\"],\"scope\":\"read\"}", "project_ids")]
    public async Task Other_records_refuse_control_characters_and_final_line_feeds(string path, string body, string field)
    {
        var response = await host.Client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.True((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty(field, out _));
    }

    // JSON text may escape half of a surrogate pair, which no encoding can store; the JSON reader refuses it.
    [Theory]
    [InlineData("api/v1/droplets", "{\"name\":\"web\",\"user_data\":\"#!/bin/sh\\necho \\ud800\"}")]
    [InlineData("api/v1/ssh_keys", "{\"name\":\"laptop\\udc00\",\"public_key\":\"ssh-ed25519 AAAA\"}")]
    [InlineData("api/v1/volumes", "{\"name\":\"data\",\"description\":\"\\ud800x\"}")]
    public async Task An_unpaired_surrogate_is_invalid_json(string path, string body)
    {
        var response = await host.Client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_json", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    // Filters and page tokens reach table filters: anything but what the API itself would send is a 400.
    [Theory]
    [InlineData("api/v1/droplets?project_id=proj_a%0A")]
    [InlineData("api/v1/droplets?project_id=kube-system")]
    [InlineData("api/v1/droplets?tag_name=web%0A")]
    [InlineData("api/v1/droplets?tag_name=a%20b")]
    [InlineData("api/v1/volumes?region=nyc1%00")]
    [InlineData("api/v1/ssh_keys?project_id=%E2%80%8B")]
    public async Task Listing_filters_that_no_record_can_match_are_400(string path)
    {
        var response = await host.Client.GetAsync(path);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_query", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    // A page token decodes to a project and an id; one that decodes to anything else was not made here.
    [Theory]
    [InlineData("proj_a\ndpl_0000000000\u0000")]
    [InlineData("proj_a\n' or PartitionKey ne '")]
    [InlineData("proj_a\ndpl_1\nextra")]
    [InlineData("PROJ_A\ndpl_1")]
    public async Task A_forged_page_token_is_400(string decoded)
    {
        var token = Convert.ToBase64String(Encoding.UTF8.GetBytes(decoded)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

        var response = await host.Client.GetAsync($"api/v1/droplets?page_token={token}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}
