using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Tests.Infrastructure;

namespace Droplets.Tests.Actions;

// Power actions, delete and the action resource, end to end through the standalone host.
public abstract class ActionTests(DropletsWorld world)
{
    public sealed class OnStandalone(DropletsWorld<StandaloneKind> world) : ActionTests(world), IClassFixture<DropletsWorld<StandaloneKind>>;

    public sealed class OnFunctions(DropletsWorld<FunctionsKind> world) : ActionTests(world), IClassFixture<DropletsWorld<FunctionsKind>>;

    readonly ApiHost host = world.Host;

    async Task<string> RunningDropletAsync(string? project = null)
    {
        var id = (await host.CreateDropletAsync(new { name = "node", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project ?? Repository.UniqueName("p") }))
            .GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(id, "running");
        return id;
    }

    async Task<(HttpResponseMessage Response, JsonElement Body)> ActAsync(string id, string type)
    {
        var response = await host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type });
        return (response, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    Task<JsonElement> WaitForActionAsync(string actionId) =>
        Eventually.HoldsAsync(() => host.Client.GetFromJsonAsync<JsonElement>($"api/v1/actions/{actionId}"),
            a => a.GetProperty("status").GetString() != "in-progress", TimeSpan.FromSeconds(60), $"action {actionId} to finish");

    [Fact]
    public async Task Power_off_power_on_and_reboot_can_be_followed_to_completed()
    {
        var id = await RunningDropletAsync();
        var vmName = id.Replace('_', '-');

        var (off, offAction) = await ActAsync(id, "power_off");
        Assert.Equal(HttpStatusCode.Accepted, off.StatusCode);
        Assert.Equal("power_off", offAction.GetProperty("type").GetString());
        Assert.Equal("in-progress", offAction.GetProperty("status").GetString());
        Assert.Equal(id, offAction.GetProperty("resource_id").GetString());
        Assert.Equal("nyc1", offAction.GetProperty("region").GetString());
        var offId = offAction.GetProperty("id").GetString()!;
        Assert.Equal($"/api/v1/actions/{offId}", off.Headers.GetValues("Operation-Location").Single());
        var stopping = await host.GetDropletAsync(id);
        Assert.Contains(stopping.GetProperty("status").GetString(), new[] { "stopping", "stopped" });

        var offDone = await WaitForActionAsync(offId);
        Assert.Equal("completed", offDone.GetProperty("status").GetString());
        Assert.Equal(100, offDone.GetProperty("progress").GetInt32());
        Assert.Equal(JsonValueKind.String, offDone.GetProperty("completed_at").ValueKind);
        var stopped = await host.GetDropletAsync(id);
        Assert.Equal("stopped", stopped.GetProperty("status").GetString());
        Assert.False(stopped.GetProperty("locked").GetBoolean());
        Assert.Equal("Halted", world.Nyc1.Get("virtualmachines", KubeNames.Namespace(stopped.GetProperty("project_id").GetString()!), vmName)!["spec"]!["runStrategy"]!.GetValue<string>());

        var (_, onAction) = await ActAsync(id, "power_on");
        Assert.Equal("completed", (await WaitForActionAsync(onAction.GetProperty("id").GetString()!)).GetProperty("status").GetString());
        Assert.Equal("running", (await host.GetDropletAsync(id)).GetProperty("status").GetString());

        var ns = KubeNames.Namespace(stopped.GetProperty("project_id").GetString()!);
        var vmiBefore = world.Nyc1.Get("virtualmachineinstances", ns, vmName)!["metadata"]!["uid"]!.GetValue<string>();
        var (_, rebootAction) = await ActAsync(id, "reboot");
        Assert.Equal("completed", (await WaitForActionAsync(rebootAction.GetProperty("id").GetString()!)).GetProperty("status").GetString());
        var rebooted = await host.GetDropletAsync(id);
        Assert.Equal("running", rebooted.GetProperty("status").GetString());
        Assert.NotEqual(vmiBefore, world.Nyc1.Get("virtualmachineinstances", ns, vmName)!["metadata"]!["uid"]!.GetValue<string>());

        // The history, newest first: reboot, power_on, power_off, create.
        var history = await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets/{id}/actions");
        Assert.Equal(["reboot", "power_on", "power_off", "create"], history.EnumerateArray().Select(a => a.GetProperty("type").GetString()));
        Assert.All(history.EnumerateArray(), a => Assert.Equal("completed", a.GetProperty("status").GetString()));
    }

    [Fact]
    public async Task Create_answers_with_its_action()
    {
        var response = await host.Client.PostAsJsonAsync("api/v1/droplets", new { name = "tracked", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = Repository.UniqueName("p") });
        var location = response.Headers.GetValues("Operation-Location").Single();
        var actionId = location.Split('/')[^1];

        var done = await WaitForActionAsync(actionId);

        Assert.Equal("create", done.GetProperty("type").GetString());
        Assert.Equal("completed", done.GetProperty("status").GetString());
        Assert.Equal((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString(), done.GetProperty("resource_id").GetString());
    }

    [Fact]
    public async Task Actions_that_make_no_sense_now_are_409_conflict_stating_the_status()
    {
        var id = await RunningDropletAsync();

        var (onWhileRunning, problem) = await ActAsync(id, "power_on");
        Assert.Equal(HttpStatusCode.Conflict, onWhileRunning.StatusCode);
        Assert.Equal("conflict", problem.GetProperty("code").GetString());
        Assert.Contains("is running", problem.GetProperty("detail").GetString());

        var (_, off) = await ActAsync(id, "power_off");
        await WaitForActionAsync(off.GetProperty("id").GetString()!);
        var (rebootWhileStopped, rebootProblem) = await ActAsync(id, "reboot");
        Assert.Equal(HttpStatusCode.Conflict, rebootWhileStopped.StatusCode);
        Assert.Contains("is stopped", rebootProblem.GetProperty("detail").GetString());
    }

    // error is not a dead end: KubeVirt decides what a power action can do. An unschedulable VM can be stopped (no VMI,
    // so KubeVirt reports Stopped), and starting it again meets the same refusal of the scheduler.
    [Fact]
    public async Task A_droplet_in_error_can_be_powered_off_and_on_again()
    {
        var id = (await host.CreateDropletAsync(new { name = "huge", image = "ubuntu-22-04", plan_id = "s-8vcpu-16gb", region = "ams3", project_id = Repository.UniqueName("p") }))
            .GetProperty("id").GetString()!;
        Assert.Equal("unschedulable", (await host.WaitForStatusAsync(id, "error")).GetProperty("error").GetProperty("code").GetString());

        var (off, offAction) = await ActAsync(id, "power_off");
        Assert.Equal(HttpStatusCode.Accepted, off.StatusCode);
        var offDone = await WaitForActionAsync(offAction.GetProperty("id").GetString()!);
        Assert.True(offDone.GetProperty("status").GetString() == "completed", offDone.ToString());
        var stopped = await host.GetDropletAsync(id);
        Assert.Equal("stopped", stopped.GetProperty("status").GetString());
        Assert.False(stopped.TryGetProperty("error", out _));

        var (_, onAction) = await ActAsync(id, "power_on");
        var on = await WaitForActionAsync(onAction.GetProperty("id").GetString()!);
        Assert.Equal("errored", on.GetProperty("status").GetString());
        Assert.Equal("unschedulable", on.GetProperty("error").GetProperty("code").GetString());
        var again = await host.GetDropletAsync(id);
        Assert.Equal("error", again.GetProperty("status").GetString());
        Assert.False(again.GetProperty("locked").GetBoolean());
    }

    [Fact]
    public async Task A_second_action_while_one_runs_is_409_locked_naming_it()
    {
        var id = await RunningDropletAsync();

        var (_, reboot) = await ActAsync(id, "reboot");
        var (second, problem) = await ActAsync(id, "power_off");

        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Equal("locked", problem.GetProperty("code").GetString());
        Assert.Contains(reboot.GetProperty("id").GetString()!, problem.GetProperty("detail").GetString());
        await WaitForActionAsync(reboot.GetProperty("id").GetString()!);
    }

    [Fact]
    public async Task Of_twenty_concurrent_actions_exactly_one_is_accepted()
    {
        var id = await RunningDropletAsync();

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => ActAsync(id, i % 2 == 0 ? "power_off" : "reboot")));

        var accepted = answers.Where(a => a.Response.StatusCode == HttpStatusCode.Accepted).ToList();
        Assert.Single(accepted);
        Assert.All(answers.Where(a => a.Response.StatusCode != HttpStatusCode.Accepted), a =>
        {
            Assert.Equal(HttpStatusCode.Conflict, a.Response.StatusCode);
            Assert.Contains(a.Body.GetProperty("code").GetString(), new[] { "locked", "conflict" });
        });
        var done = await WaitForActionAsync(accepted[0].Body.GetProperty("id").GetString()!);
        Assert.Equal("completed", done.GetProperty("status").GetString());
        var expected = accepted[0].Body.GetProperty("type").GetString() == "power_off" ? "stopped" : "running";
        var droplet = await host.GetDropletAsync(id);
        Assert.Equal(expected, droplet.GetProperty("status").GetString());
        Assert.False(droplet.GetProperty("locked").GetBoolean());
        Assert.Equal(2, (await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets/{id}/actions")).GetArrayLength());
    }

    [Theory]
    [InlineData("""{"type":"explode"}""")]
    [InlineData("""{"type":"delete"}""")]
    [InlineData("""{}""")]
    public async Task Unknown_action_type_is_422_listing_the_valid_ones(string body)
    {
        var id = await RunningDropletAsync();

        var response = await host.Client.PostAsync($"api/v1/droplets/{id}/actions", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var detail = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString();
        Assert.Contains("reboot, power_off, power_on", detail);
        Assert.Equal(1, (await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets/{id}/actions")).GetArrayLength());
    }

    [Fact]
    public async Task Delete_removes_the_machine_and_the_record_and_keeps_the_action()
    {
        var project = Repository.UniqueName("p");
        var id = await RunningDropletAsync(project);
        var ns = KubeNames.Namespace(project);
        var vmName = id.Replace('_', '-');

        var response = await host.Client.DeleteAsync($"api/v1/droplets/{id}");
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var action = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("delete", action.GetProperty("type").GetString());

        var done = await WaitForActionAsync(action.GetProperty("id").GetString()!);
        Assert.Equal("completed", done.GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync($"api/v1/droplets/{id}")).StatusCode);
        Assert.Null(world.Nyc1.Get("virtualmachines", ns, vmName));
        Assert.Null(world.Nyc1.Get("virtualmachineinstances", ns, vmName));
        Assert.Null(world.Nyc1.Get("services", ns, vmName + "-public"));
        Assert.DoesNotContain(world.Nyc1.List("datavolumes", ns), dv => dv["metadata"]!["name"]!.GetValue<string>().StartsWith(vmName, StringComparison.Ordinal));
        Assert.Equal(["delete", "create"], (await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets/{id}/actions")).EnumerateArray().Select(a => a.GetProperty("type").GetString()));
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.DeleteAsync($"api/v1/droplets/{id}")).StatusCode);
    }

    [Fact]
    public async Task Unknown_action_and_foreign_droplet_are_404()
    {
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("api/v1/actions/act_000000000000")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("api/v1/actions/nope")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await ActAsync("dpl_000000000000", "reboot")).Response.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("api/v1/droplets/dpl_000000000000/actions")).StatusCode);
    }
}
