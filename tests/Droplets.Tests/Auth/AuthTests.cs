using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Tests.Infrastructure;
using KubeVirt.Simulator;

namespace Droplets.Tests.Auth;

// Every /api/v1 endpoint refuses anonymous and foreign access. One host per class, logging at Debug,
// so that the last test can check that no secret ever reached a log line.
public abstract class AuthTests(AuthTests.World world)
{
    public sealed class OnStandalone(World<StandaloneKind> world) : AuthTests(world), IClassFixture<World<StandaloneKind>>;

    public sealed class OnFunctions(World<FunctionsKind> world) : AuthTests(world), IClassFixture<World<FunctionsKind>>;

    public sealed class World<TKind>() : World(TKind.Kind) where TKind : IHostKind;

    public class World(HostKind kind) : IAsyncLifetime
    {
        public KubeVirtSimulator Region { get; private set; } = null!;
        public ApiHost Host { get; private set; } = null!;
        public List<string> Secrets { get; } = [];

        public async Task InitializeAsync()
        {
            Region = await TestRegion.StartAsync(new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(100), BootDelay = TimeSpan.FromMilliseconds(100) });
            Host = await ApiHost.StartAsync(kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = Region },
                new Dictionary<string, string> { ["Logging__LogLevel__Default"] = "Debug", ["Auth__CacheTtl"] = "00:00:30" });
            Secrets.Add(Host.AdminToken);
        }

        public async Task DisposeAsync()
        {
            await Host.DisposeAsync();
            await Region.DisposeAsync();
        }
    }

    readonly ApiHost host = world.Host;

    async Task<(string Id, string Token)> CreateTokenAsync(object body)
    {
        var response = await host.Client.PostAsJsonAsync("api/v1/tokens", body);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.Created, json.ToString());
        var token = json.GetProperty("token").GetString()!;
        world.Secrets.Add(token);
        return (json.GetProperty("id").GetString()!, token);
    }

    static object Droplet(string project) => new { name = "web", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project };

    static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(code, JsonDocument.Parse(text).RootElement.GetProperty("code").GetString());
    }

    public static TheoryData<string?> BadCredentials => new()
    {
        null,                                                   // missing
        "Basic dXNlcjpwYXNz",                                   // not bearer
        "Bearer",                                               // empty
        "Bearer dpt_short",                                     // malformed
        "Bearer dpt_0123456789ab_" + new string('A', 43),       // well-formed, unknown
        "Bearer not-the-admin-token-but-long-enough-to-look-like-one",
    };

    [Theory]
    [MemberData(nameof(BadCredentials))]
    public async Task Bad_credentials_are_401_with_a_bearer_challenge(string? authorization)
    {
        foreach (var (method, path) in new[] { ("GET", "api/v1/droplets"), ("POST", "api/v1/droplets"), ("GET", "api/v1/droplets/dpl_000000000000"), ("GET", "api/v1/tokens"), ("DELETE", "api/v1/tokens/x"), ("GET", "api/v1/nothing") })
        {
            var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (authorization is not null)
                request.Headers.TryAddWithoutValidation("Authorization", authorization);

            var response = await host.ClientWith(null).SendAsync(request);

            await AssertProblemAsync(response, HttpStatusCode.Unauthorized, "unauthorized");
            Assert.StartsWith("Bearer", response.Headers.WwwAuthenticate.ToString());
        }
    }

    [Fact]
    public async Task Created_token_is_shown_once_and_listed_without_secret()
    {
        var (id, token) = await CreateTokenAsync(new { name = "ci", project_ids = new[] { "proj_ci" }, scope = "read" });

        Assert.Matches("^dpt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$", token);
        var listed = await host.Client.GetStringAsync("api/v1/tokens");
        Assert.DoesNotContain(token, listed);
        Assert.DoesNotContain(token[(token.LastIndexOf('_') + 1)..], listed);
        Assert.DoesNotContain("hash", listed, StringComparison.OrdinalIgnoreCase);
        var entry = JsonDocument.Parse(listed).RootElement.EnumerateArray().Single(t => t.GetProperty("id").GetString() == id);
        Assert.Equal("ci", entry.GetProperty("name").GetString());
        Assert.Equal("read", entry.GetProperty("scope").GetString());
        Assert.Equal(["proj_ci"], entry.GetProperty("project_ids").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal(JsonValueKind.String, entry.GetProperty("created_at").ValueKind);
        Assert.False(entry.TryGetProperty("token", out _));
    }

    [Fact]
    public async Task Revoked_token_is_refused_on_the_next_request()
    {
        var (id, token) = await CreateTokenAsync(new { name = "short-lived", project_ids = new[] { "*" }, scope = "read" });
        var client = host.ClientWith(token);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/droplets")).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await host.Client.DeleteAsync($"api/v1/tokens/{id}")).StatusCode);

        await AssertProblemAsync(await client.GetAsync("api/v1/droplets"), HttpStatusCode.Unauthorized, "unauthorized");
        await AssertProblemAsync(await host.Client.DeleteAsync($"api/v1/tokens/{id}"), HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Expired_token_is_refused()
    {
        var (_, token) = await CreateTokenAsync(new { name = "expiring", project_ids = new[] { "*" }, scope = "read", expires_at = DateTimeOffset.UtcNow.AddSeconds(2) });
        var client = host.ClientWith(token);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/droplets")).StatusCode);

        var status = await Eventually.HoldsAsync(async () => (await client.GetAsync("api/v1/droplets")).StatusCode,
            s => s != HttpStatusCode.OK, TimeSpan.FromSeconds(15), "the token to expire");

        Assert.Equal(HttpStatusCode.Unauthorized, status);
    }

    [Fact]
    public async Task A_token_sees_only_its_projects()
    {
        var mine = Repository.UniqueName("p");
        var theirs = Repository.UniqueName("p");
        var (_, myToken) = await CreateTokenAsync(new { name = "mine", project_ids = new[] { mine }, scope = "write" });
        var (_, theirToken) = await CreateTokenAsync(new { name = "theirs", project_ids = new[] { theirs }, scope = "write" });
        var me = host.ClientWith(myToken);
        var them = host.ClientWith(theirToken);

        var created = await me.PostAsJsonAsync("api/v1/droplets", Droplet(mine));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        var theirsCreated = await them.PostAsJsonAsync("api/v1/droplets", Droplet(theirs));
        var theirId = (await theirsCreated.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();

        // Reads across projects look exactly like reads of nothing.
        await AssertProblemAsync(await them.GetAsync($"api/v1/droplets/{id}"), HttpStatusCode.NotFound, "not_found");
        var missing = await (await them.GetAsync("api/v1/droplets/dpl_000000000000")).Content.ReadFromJsonAsync<JsonElement>();
        var foreign = await (await them.GetAsync($"api/v1/droplets/{id}")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(missing.GetProperty("title").GetString(), foreign.GetProperty("title").GetString());
        Assert.Equal(0, (await them.GetFromJsonAsync<JsonElement>($"api/v1/droplets?project_id={mine}")).GetArrayLength());

        // Listing without a project is the union of the token's own projects.
        var myList = await me.GetFromJsonAsync<JsonElement>("api/v1/droplets");
        Assert.Equal([id], myList.EnumerateArray().Select(d => d.GetProperty("id").GetString()));
        var theirList = await them.GetFromJsonAsync<JsonElement>("api/v1/droplets?per_page=1000");
        Assert.Equal([theirId], theirList.EnumerateArray().Select(d => d.GetProperty("id").GetString()));

        // Creating in a project the token does not hold is forbidden, and stores nothing.
        await AssertProblemAsync(await them.PostAsJsonAsync("api/v1/droplets", Droplet(mine)), HttpStatusCode.Forbidden, "forbidden");
        await AssertProblemAsync(await them.PostAsJsonAsync("api/v1/droplets", new { name = "web", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1" }),
            HttpStatusCode.Forbidden, "forbidden");
        Assert.Single((await me.GetFromJsonAsync<JsonElement>("api/v1/droplets")).EnumerateArray());
    }

    [Fact]
    public async Task A_read_token_cannot_change_anything()
    {
        var project = Repository.UniqueName("p");
        var (_, token) = await CreateTokenAsync(new { name = "reader", project_ids = new[] { project }, scope = "read" });
        var reader = host.ClientWith(token);

        await AssertProblemAsync(await reader.PostAsJsonAsync("api/v1/droplets", Droplet(project)), HttpStatusCode.Forbidden, "forbidden");
        Assert.Equal(0, (await reader.GetFromJsonAsync<JsonElement>($"api/v1/droplets?project_id={project}")).GetArrayLength());
    }

    [Fact]
    public async Task Only_the_admin_token_manages_tokens()
    {
        var (id, writer) = await CreateTokenAsync(new { name = "writer", project_ids = new[] { "*" }, scope = "write" });
        var client = host.ClientWith(writer);

        await AssertProblemAsync(await client.GetAsync("api/v1/tokens"), HttpStatusCode.Forbidden, "forbidden");
        await AssertProblemAsync(await client.PostAsJsonAsync("api/v1/tokens", new { name = "x", project_ids = new[] { "*" }, scope = "write" }), HttpStatusCode.Forbidden, "forbidden");
        await AssertProblemAsync(await client.DeleteAsync($"api/v1/tokens/{id}"), HttpStatusCode.Forbidden, "forbidden");
    }

    [Theory]
    [InlineData("""{"project_ids":["*"],"scope":"read"}""", "name")]
    [InlineData("""{"name":"x","scope":"read"}""", "project_ids")]
    [InlineData("""{"name":"x","project_ids":["Bad-Project"],"scope":"read"}""", "project_ids")]
    [InlineData("""{"name":"x","project_ids":["*"]}""", "scope")]
    [InlineData("""{"name":"x","project_ids":["*"],"scope":"read","expires_at":"2001-01-01T00:00:00Z"}""", "expires_at")]
    public async Task Invalid_token_requests_are_422(string body, string field)
    {
        var response = await host.Client.PostAsync("api/v1/tokens", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        await AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "validation_failed");
        Assert.True((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty(field, out _));
    }

    [Fact]
    public async Task Droplet_records_which_token_created_it()
    {
        var project = Repository.UniqueName("p");
        var (tokenId, token) = await CreateTokenAsync(new { name = "author", project_ids = new[] { project }, scope = "write" });
        var created = await host.ClientWith(token).PostAsJsonAsync("api/v1/droplets", Droplet(project));
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

        var store = new global::Droplets.Droplets.DropletStore(
            new Azure.Data.Tables.TableServiceClient((await Azurite.SharedAsync()).ConnectionString),
            new global::Droplets.StoreOptions { TablePrefix = host.TablePrefix });
        var record = await store.GetAsync(project, id, CancellationToken.None);

        Assert.Equal(tokenId, record!.CreatedBy);
    }

    // Runs last in this class by name order is not guaranteed, so it checks what every test so far
    // produced; the secrets list grows as tokens are created.
    [Fact]
    public async Task No_secret_appears_in_any_log_line()
    {
        var (_, token) = await CreateTokenAsync(new { name = "logged?", project_ids = new[] { "*" }, scope = "write" });
        await host.ClientWith(token).GetAsync("api/v1/droplets");
        await host.ClientWith(token + "x").GetAsync("api/v1/droplets");

        var output = host.Output;
        Assert.NotEmpty(output);
        foreach (var secret in world.Secrets.ToArray())
        {
            Assert.DoesNotContain(secret, output);
            Assert.DoesNotContain(secret[^20..], output);
        }
    }
}
