using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Azure.Data.Tables;
using Droplets.Tests.Infrastructure;
using Droplets.Tests.Volumes;

namespace Droplets.Tests.Actions;

public abstract class IdempotencyTests(DropletsWorld world)
{
    public sealed class OnStandalone(DropletsWorld<StandaloneKind> world) : IdempotencyTests(world), IClassFixture<DropletsWorld<StandaloneKind>>;

    public sealed class OnFunctions(DropletsWorld<FunctionsKind> world) : IdempotencyTests(world), IClassFixture<DropletsWorld<FunctionsKind>>;

    readonly ApiHost host = world.Host;

    async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string key, object? body = null)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Add("Idempotency-Key", key);
        if (body is not null)
            request.Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        return await host.Client.SendAsync(request);
    }

    static object Create(string project, string name = "web") => new { name, image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project };

    static async Task<string> IdOf(HttpResponseMessage response) => (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

    [Fact]
    public async Task A_retried_create_answers_the_original_and_makes_one_machine()
    {
        var project = Repository.UniqueName("p");
        var key = Guid.NewGuid().ToString();

        var first = await SendAsync(HttpMethod.Post, "api/v1/droplets", key, Create(project));
        var second = await SendAsync(HttpMethod.Post, "api/v1/droplets", key, Create(project));

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.Equal("true", second.Headers.GetValues("Idempotent-Replayed").Single());
        var id = await IdOf(first);
        Assert.Equal(id, await IdOf(second));
        Assert.Equal(first.Headers.Location, second.Headers.Location);
        Assert.Equal(first.Headers.GetValues("Operation-Location").Single(), second.Headers.GetValues("Operation-Location").Single());
        Assert.Contains("rel=\"durable-status\"", first.Headers.GetValues("Link").Single(), StringComparison.Ordinal);
        Assert.Equal(first.Headers.GetValues("Link").Single(), second.Headers.GetValues("Link").Single());
        await host.WaitForStatusAsync(id, "running");
        Assert.Single(world.Nyc1.List("virtualmachines", KubeNames.Namespace(project)));
        Assert.Single((await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets?project_id={project}")).EnumerateArray());
    }

    [Fact]
    public async Task The_same_key_with_another_request_is_422()
    {
        var project = Repository.UniqueName("p");
        var key = Guid.NewGuid().ToString();
        await SendAsync(HttpMethod.Post, "api/v1/droplets", key, Create(project, "one"));

        var other = await SendAsync(HttpMethod.Post, "api/v1/droplets", key, Create(project, "two"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, other.StatusCode);
        Assert.Equal("idempotency_key_reused", (await other.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Single((await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets?project_id={project}")).EnumerateArray());
    }

    [Fact]
    public async Task Concurrent_creates_with_one_key_make_one_droplet()
    {
        var project = Repository.UniqueName("p");
        var key = Guid.NewGuid().ToString();

        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => SendAsync(HttpMethod.Post, "api/v1/droplets", key, Create(project))));

        Assert.All(answers, a => Assert.Contains(a.StatusCode, new[] { HttpStatusCode.Created, HttpStatusCode.Conflict }));
        Assert.Single((await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets?project_id={project}")).EnumerateArray());
        var ids = new HashSet<string>();
        foreach (var created in answers.Where(a => a.StatusCode == HttpStatusCode.Created))
            ids.Add(await IdOf(created));
        Assert.Single(ids);
    }

    [Fact]
    public async Task A_create_rerun_after_its_record_is_lost_finds_the_first_droplet()
    {
        // The worst case for "never a second machine": the first attempt wrote the droplet, and then its
        // idempotency record is gone (here deleted; in life an attempt that died and was taken over).
        var project = Repository.UniqueName("p");
        var key = Guid.NewGuid().ToString();
        var firstId = await IdOf(await SendAsync(HttpMethod.Post, "api/v1/droplets", key, Create(project)));
        var records = new TableServiceClient((await Azurite.SharedAsync()).ConnectionString).GetTableClient(host.TablePrefix + "idempotency");
        await foreach (var record in records.QueryAsync<TableEntity>())
            await records.DeleteEntityAsync(record.PartitionKey, record.RowKey);

        var again = await SendAsync(HttpMethod.Post, "api/v1/droplets", key, Create(project));

        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        Assert.False(again.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(firstId, await IdOf(again));
        await host.WaitForStatusAsync(firstId, "running");
        Assert.Single(world.Nyc1.List("virtualmachines", KubeNames.Namespace(project)));
    }

    // A replay reproduces the answer's headers exactly, a PATCH's Location included.
    [Fact]
    public async Task A_replayed_resize_answers_the_original_status_body_and_headers()
    {
        var project = Repository.UniqueName("p");
        var id = await IdOf(await host.Client.PostAsJsonAsync("api/v1/droplets", Create(project)));
        await host.WaitForStatusAsync(id, "running");

        var key = Guid.NewGuid().ToString();
        var first = await SendAsync(HttpMethod.Patch, $"api/v1/droplets/{id}", key, new { plan_id = "s-2vcpu-2gb" });
        var replay = await SendAsync(HttpMethod.Patch, $"api/v1/droplets/{id}", key, new { plan_id = "s-2vcpu-2gb" });

        Assert.Equal((HttpStatusCode.Accepted, HttpStatusCode.Accepted), (first.StatusCode, replay.StatusCode));
        Assert.Equal("true", replay.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.NotNull(first.Headers.Location);
        Assert.Equal(first.Headers.Location, replay.Headers.Location);
        Assert.Equal(first.Headers.GetValues("Operation-Location").Single(), replay.Headers.GetValues("Operation-Location").Single());
        Assert.Equal(first.Headers.GetValues("Link").Single(), replay.Headers.GetValues("Link").Single());
        var (answer, replayed) = (await first.Content.ReadFromJsonAsync<JsonElement>(), await replay.Content.ReadFromJsonAsync<JsonElement>());
        Assert.Equal(answer.GetProperty("action").GetProperty("id").GetString(), replayed.GetProperty("action").GetProperty("id").GetString());
        await host.WaitForActionAsync(answer.GetProperty("action").GetProperty("id").GetString()!);
    }

    [Fact]
    public async Task Retried_actions_and_deletes_run_once()
    {
        var project = Repository.UniqueName("p");
        var id = await IdOf(await host.Client.PostAsJsonAsync("api/v1/droplets", Create(project)));
        await host.WaitForStatusAsync(id, "running");

        var rebootKey = Guid.NewGuid().ToString();
        var reboot = await SendAsync(HttpMethod.Post, $"api/v1/droplets/{id}/actions", rebootKey, new { type = "reboot" });
        var rebootAgain = await SendAsync(HttpMethod.Post, $"api/v1/droplets/{id}/actions", rebootKey, new { type = "reboot" });
        Assert.Equal(HttpStatusCode.Accepted, rebootAgain.StatusCode);
        var rebootId = await IdOf(reboot);
        Assert.Equal(rebootId, await IdOf(rebootAgain));
        await Eventually.HoldsAsync(() => host.Client.GetFromJsonAsync<JsonElement>($"api/v1/actions/{rebootId}"),
            a => a.GetProperty("status").GetString() == "completed", TimeSpan.FromSeconds(60), "the reboot");

        var deleteKey = Guid.NewGuid().ToString();
        var delete = await SendAsync(HttpMethod.Delete, $"api/v1/droplets/{id}", deleteKey);
        var deleteAgain = await SendAsync(HttpMethod.Delete, $"api/v1/droplets/{id}", deleteKey);
        Assert.Equal(HttpStatusCode.Accepted, deleteAgain.StatusCode);
        Assert.Equal(await IdOf(delete), await IdOf(deleteAgain));

        var history = await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets/{id}/actions");
        Assert.Equal(["delete", "reboot", "create"], history.EnumerateArray().Select(a => a.GetProperty("type").GetString()));
    }

    [Fact]
    public async Task A_malformed_key_is_400()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/droplets") { Content = JsonContent.Create(Create("proj_default")) };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", new string('k', 300));

        var response = await host.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_idempotency_key", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }
}
