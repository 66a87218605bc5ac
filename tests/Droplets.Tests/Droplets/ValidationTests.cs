using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Droplets.Tests.Infrastructure;

namespace Droplets.Tests.Droplets;

// Bad input gets a 4xx problem (RFC 9457) with a stable code and the request id, and changes nothing.
// Its world is its own (class fixtures are per class), so "nothing was stored" can be checked against the whole table.
public abstract class ValidationTests(DropletsWorld world)
{
    public sealed class OnStandalone(DropletsWorld<StandaloneKind> world) : ValidationTests(world), IClassFixture<DropletsWorld<StandaloneKind>>;

    public sealed class OnFunctions(DropletsWorld<FunctionsKind> world) : ValidationTests(world), IClassFixture<DropletsWorld<FunctionsKind>>;

    readonly ApiHost host = world.Host;

    const string Valid = """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1"}""";

    public static TheoryData<string, string, string?> InvalidBodies => new()
    {
        // body, code, field named in `errors` (null: a 400 without per-field errors)
        { """{"image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1"}""", "validation_failed", "name" },
        { """{"name":"","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1"}""", "validation_failed", "name" },
        { """{"name":"web_01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1"}""", "validation_failed", "name" },
        { """{"name":"-web","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1"}""", "validation_failed", "name" },
        { """{"name":"web.example.com","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1"}""", "validation_failed", "name" },
        { "{\"name\":\"" + new string('a', 64) + "\",\"image\":\"ubuntu-22-04\",\"plan_id\":\"s-1vcpu-1gb\",\"region\":\"nyc1\"}", "validation_failed", "name" },
        { """{"name":"web-01","plan_id":"s-1vcpu-1gb","region":"nyc1"}""", "validation_failed", "image" },
        { """{"name":"web-01","image":"windows-11","plan_id":"s-1vcpu-1gb","region":"nyc1"}""", "validation_failed", "image" },
        { """{"name":"web-01","image":"ubuntu-22-04","region":"nyc1"}""", "validation_failed", "plan_id" },
        { """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-99vcpu","region":"nyc1"}""", "validation_failed", "plan_id" },
        { """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb"}""", "validation_failed", "region" },
        { """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"mars1"}""", "validation_failed", "region" },
        { """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1","tags":["ok","bad tag"]}""", "validation_failed", "tags" },
        { """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1","tags":[""]}""", "validation_failed", "tags" },
        { """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1","tags":[null]}""", "validation_failed", "tags" },
        { "{\"name\":\"web-01\",\"image\":\"ubuntu-22-04\",\"plan_id\":\"s-1vcpu-1gb\",\"region\":\"nyc1\",\"tags\":[" + string.Join(',', Enumerable.Range(0, 26).Select(i => $"\"t{i}\"")) + "]}", "validation_failed", "tags" },
        { """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1","project_id":"Proj-A"}""", "validation_failed", "project_id" },
        { """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1","project_id":"system"}""", "validation_failed", "project_id" },
        { """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1","ssh_key_ids":["sk_abc123"]}""", "validation_failed", "ssh_key_ids" },
        { """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1","ssh_key_ids":[null]}""", "validation_failed", "ssh_key_ids" },
        { "{\"name\":\"web-01\",\"image\":\"ubuntu-22-04\",\"plan_id\":\"s-1vcpu-1gb\",\"region\":\"nyc1\",\"ssh_key_ids\":[" + string.Join(',', Enumerable.Range(0, 26).Select(i => $"\"sk_{i:x12}\"")) + "]}", "validation_failed", "ssh_key_ids" },
        { """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1","volume_ids":["vol_1"]}""", "validation_failed", "volume_ids" },
        { """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1","tags":"web"}""", "invalid_json", null },
        { """{"name":42,"image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1"}""", "invalid_json", null },
        { """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1","user_data":42}""", "invalid_json", null },
        { """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1","user_data":["#!/bin/sh"]}""", "invalid_json", null },
        { """{"name":"web-01","image":"ubuntu-22-04","plan_id":"s-1vcpu-1gb","region":"nyc1","userdata":"#!/bin/sh"}""", "invalid_json", null },
        { """{"name":"web-01",""", "invalid_json", null },
        { "[1,2,3]", "invalid_json", null },
        { "null", "invalid_json", null },
        { "", "invalid_json", null },
    };

    [Theory]
    [MemberData(nameof(InvalidBodies))]
    public async Task Invalid_create_is_refused_and_stores_nothing(string body, string code, string? field)
    {
        var before = await CountAsync();

        var response = await host.Client.PostAsync("api/v1/droplets", new StringContent(body, Encoding.UTF8, "application/json"));

        var problem = await AssertProblemAsync(response, field is null ? HttpStatusCode.BadRequest : HttpStatusCode.UnprocessableEntity, code);
        if (field is not null)
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"errors should name {field}: {problem}");
        Assert.Equal(before, await CountAsync());
    }

    // 64 KiB of UTF-8, counted in bytes: 32 Ki "é" (2 bytes each) is the limit, one more is over it.
    [Theory]
    [InlineData("#!/bin/sh\n", 'x', 64 * 1024 - 9)]
    [InlineData("", 'é', 32 * 1024 + 1)]
    public async Task User_data_over_64_KiB_is_refused(string start, char fill, int count)
    {
        var before = await CountAsync();
        var userData = start + new string(fill, count);
        var body = JsonSerializer.Serialize(new { name = "web-01", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", user_data = userData });

        var response = await host.Client.PostAsync("api/v1/droplets", new StringContent(body, Encoding.UTF8, "application/json"));

        var problem = await AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "validation_failed");
        Assert.Contains($"{Encoding.UTF8.GetByteCount(userData)} bytes of UTF-8", problem.GetProperty("errors").GetProperty("user_data")[0].GetString());
        Assert.Equal(before, await CountAsync());
    }

    [Fact]
    public async Task Every_invalid_field_is_reported_at_once()
    {
        var response = await host.Client.PostAsync("api/v1/droplets",
            new StringContent("""{"name":"-","image":"nope","plan_id":"nope","region":"nope"}""", Encoding.UTF8, "application/json"));

        var problem = await AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "validation_failed");
        var fields = problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).Order();
        Assert.Equal(["image", "name", "plan_id", "region"], fields);
        Assert.Contains("'nope'", problem.GetProperty("errors").GetProperty("plan_id")[0].GetString());
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData(null)]
    public async Task Wrong_content_type_is_415(string? contentType)
    {
        var before = await CountAsync();
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(Valid));
        if (contentType is not null)
            content.Headers.ContentType = new(contentType);

        var response = await host.Client.PostAsync("api/v1/droplets", content);

        await AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        Assert.Equal(before, await CountAsync());
    }

    // A create may be up to 512 KiB (64 KiB of user data, JSON-escaped); other bodies up to 64 KiB.
    [Fact]
    public async Task Oversized_body_is_413()
    {
        var before = await CountAsync();
        var huge = Valid.TrimEnd('}') + ",\"padding\":\"" + new string('x', 530_000) + "\"}";

        var response = await host.Client.PostAsync("api/v1/droplets", new StringContent(huge, Encoding.UTF8, "application/json"));

        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
        Assert.Equal(before, await CountAsync());
        var action = await host.Client.PostAsync("api/v1/droplets/dpl_000000000000/actions",
            new StringContent("{\"type\":\"" + new string('x', 70_000) + "\"}", Encoding.UTF8, "application/json"));
        await AssertProblemAsync(action, HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
    }

    [Theory]
    [InlineData("PUT", "api/v1/droplets")]
    [InlineData("DELETE", "api/v1/droplets")]
    [InlineData("POST", "api/v1/droplets/dpl_000000000000")]
    public async Task Wrong_method_is_405(string method, string path)
    {
        var response = await host.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        await AssertProblemAsync(response, HttpStatusCode.MethodNotAllowed, "method_not_allowed");
    }

    [Theory]
    [InlineData("per_page=0")]
    [InlineData("per_page=1001")]
    [InlineData("per_page=ten")]
    [InlineData("page_token=not-a-token")]
    public async Task Invalid_list_parameters_are_400(string query)
    {
        var response = await host.Client.GetAsync($"api/v1/droplets?{query}");

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_query");
    }

    [Fact]
    public async Task Unknown_route_is_404_problem()
    {
        var response = await host.Client.GetAsync("api/v1/nothing-here");

        await AssertProblemAsync(response, HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task A_valid_request_id_is_echoed_and_an_invalid_one_replaced()
    {
        var echoed = new HttpRequestMessage(HttpMethod.Get, "api/v1/droplets?per_page=1");
        echoed.Headers.Add("X-Request-Id", "client-abc.123");
        Assert.Equal("client-abc.123", (await host.Client.SendAsync(echoed)).Headers.GetValues("X-Request-Id").Single());

        var replaced = new HttpRequestMessage(HttpMethod.Get, "api/v1/droplets?per_page=1");
        replaced.Headers.TryAddWithoutValidation("X-Request-Id", "evil\"value with spaces");
        var id = (await host.Client.SendAsync(replaced)).Headers.GetValues("X-Request-Id").Single();
        Assert.Matches("^[0-9a-f]{32}$", id);
    }

    async Task<int> CountAsync() =>
        (await host.Client.GetFromJsonAsync<JsonElement>("api/v1/droplets?per_page=1000")).GetArrayLength();

    static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal(code, problem.GetProperty("code").GetString());
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.Equal(response.Headers.GetValues("X-Request-Id").Single(), problem.GetProperty("request_id").GetString());
        return problem;
    }
}
