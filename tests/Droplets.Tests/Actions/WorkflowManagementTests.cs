using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Droplets.Tests.Infrastructure;
using Droplets.Tests.Volumes;
using k8s;
using k8s.Models;
using KubeVirt.Simulator;

namespace Droplets.Tests.Actions;

// The Durable management endpoints an accepted operation links (Link: rel="durable-status", rel="durable-terminate"):
// Durable Functions' own on the Functions host (no key needed locally, as with func), the standalone host's copy of
// them behind the admin token. Terminating a workflow ends its action errored and releases the droplet sanely.
public abstract partial class WorkflowManagementTests(WorkflowManagementTests.World world)
{
    public sealed class OnStandalone(World<StandaloneKind> world) : WorkflowManagementTests(world), IClassFixture<World<StandaloneKind>>;

    public sealed class OnFunctions(World<FunctionsKind> world) : WorkflowManagementTests(world), IClassFixture<World<FunctionsKind>>;

    public sealed class World<TKind>() : World(TKind.Kind) where TKind : IHostKind;

    // Boots and stops take long enough for a terminate to land while the workflow waits on KubeVirt.
    public class World(HostKind kind) : IAsyncLifetime
    {
        public KubeVirtSimulator Region { get; private set; } = null!;
        public ApiHost Host { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Region = await TestRegion.StartAsync(new SimulatorOptions
            {
                ImportDelay = TimeSpan.FromMilliseconds(100), BootDelay = TimeSpan.FromSeconds(3), StopDelay = TimeSpan.FromSeconds(3),
            });
            Host = await ApiHost.StartAsync(kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = Region });
        }

        public async Task DisposeAsync()
        {
            await Host.DisposeAsync();
            await Region.DisposeAsync();
        }
    }

    readonly ApiHost host = world.Host;

    [GeneratedRegex("<([^>]+)>; rel=\"([^\"]+)\"")]
    private static partial Regex LinkPattern();

    static Dictionary<string, string> Links(HttpResponseMessage response) =>
        LinkPattern().Matches(string.Join(", ", response.Headers.GetValues("Link")))
            .ToDictionary(m => m.Groups[2].Value, m => m.Groups[1].Value);

    async Task<JsonElement> ActionAsync(string id) => await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/actions/{id}");

    [Fact]
    public async Task A_create_links_its_workflow_status_and_a_terminated_create_ends_in_error_and_can_be_deleted()
    {
        var response = await host.Client.PostAsJsonAsync("api/v1/droplets",
            new { name = "terminated", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = Repository.UniqueName("p") });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var actionId = response.Headers.GetValues("Operation-Location").Single().Split('/')[^1];
        var links = Links(response);
        var status = new Uri(links["durable-status"]);
        Assert.Equal($"/runtime/webhooks/durabletask/instances/provision-{id}", status.AbsolutePath);
        Assert.DoesNotContain("code=", links["durable-status"] + links["durable-terminate"], StringComparison.Ordinal);
        Assert.EndsWith("/terminate?reason={text}", links["durable-terminate"], StringComparison.Ordinal);

        var running = await host.Client.GetAsync(status);
        Assert.Equal(HttpStatusCode.Accepted, running.StatusCode);
        var body = await running.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("ProvisionDroplet", body.GetProperty("name").GetString());
        Assert.Equal($"provision-{id}", body.GetProperty("instanceId").GetString());
        Assert.Contains(body.GetProperty("runtimeStatus").GetString(), new[] { "Pending", "Running" });

        var terminate = await host.Client.PostAsync(links["durable-terminate"].Replace("{text}", "operator%20test", StringComparison.Ordinal), null);
        Assert.Equal(HttpStatusCode.Accepted, terminate.StatusCode);

        var terminated = await Eventually.HoldsAsync(async () => await host.Client.GetAsync(status), r => r.StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(30), "the instance to be terminated");
        var ended = await terminated.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Terminated", ended.GetProperty("runtimeStatus").GetString());
        Assert.Equal("operator test", ended.GetProperty("output").GetString());
        Assert.Equal(HttpStatusCode.Gone, (await host.Client.PostAsync(links["durable-terminate"].Replace("{text}", "again", StringComparison.Ordinal), null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync(new Uri(status, "provision-dpl_000000000000"))).StatusCode);

        // The recovery sweep ends what the workflow left held: the create errored, the droplet in error and free.
        var droplet = await Eventually.HoldsAsync(() => host.GetDropletAsync(id), d => !d.GetProperty("locked").GetBoolean(),
            TimeSpan.FromSeconds(30), "the terminated create to release the droplet");
        Assert.Equal("error", droplet.GetProperty("status").GetString());
        Assert.Equal("provisioning_interrupted", droplet.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("terminated (operator test)", droplet.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        // The droplet is released first, then its action is ended (so that "errored" means the droplet is free).
        var action = await Eventually.HoldsAsync(() => ActionAsync(actionId), a => a.GetProperty("status").GetString() != "in-progress",
            TimeSpan.FromSeconds(30), "the terminated create's action to end");
        Assert.Equal("errored", action.GetProperty("status").GetString());
        Assert.Equal("provisioning_interrupted", action.GetProperty("error").GetProperty("code").GetString());

        Assert.Equal(HttpStatusCode.Accepted, (await host.Client.DeleteAsync($"api/v1/droplets/{id}")).StatusCode);
        await Eventually.HoldsAsync(async () => (await host.Client.GetAsync($"api/v1/droplets/{id}")).StatusCode, s => s == HttpStatusCode.NotFound,
            TimeSpan.FromSeconds(60), "the droplet to be deleted");
        Assert.Null(world.Region.Get("virtualmachines", KubeNames.Namespace(droplet.GetProperty("project_id").GetString()!), id.Replace('_', '-')));
    }

    [Fact]
    public async Task A_terminated_reboot_releases_the_droplet_as_kubevirt_leaves_it_and_the_next_action_runs()
    {
        var id = (await host.CreateDropletAsync(new { name = "rebooted", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = Repository.UniqueName("p") }))
            .GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(id, "running");

        var reboot = await host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type = "reboot" });
        Assert.Equal(HttpStatusCode.Accepted, reboot.StatusCode);
        var actionId = (await reboot.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var links = Links(reboot);
        Assert.Equal($"/runtime/webhooks/durabletask/instances/action-{actionId}", new Uri(links["durable-status"]).AbsolutePath);
        Assert.Equal(HttpStatusCode.Accepted, (await host.Client.PostAsync(links["durable-terminate"].Replace("{text}", "stop", StringComparison.Ordinal), null)).StatusCode);

        // KubeVirt goes on restarting the VM (3 s to stop, 3 s to boot); the droplet is released once it is at rest.
        var action = await Eventually.HoldsAsync(() => ActionAsync(actionId), a => a.GetProperty("status").GetString() != "in-progress",
            TimeSpan.FromSeconds(60), "the terminated reboot to be settled");
        Assert.Equal("errored", action.GetProperty("status").GetString());
        Assert.Equal("action_interrupted", action.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("terminated (stop)", action.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        var droplet = await host.GetDropletAsync(id);
        Assert.False(droplet.GetProperty("locked").GetBoolean());
        Assert.Equal("running", droplet.GetProperty("status").GetString());

        var next = await host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type = "power_off" });
        Assert.Equal(HttpStatusCode.Accepted, next.StatusCode);
        await host.WaitForStatusAsync(id, "stopped");
    }

    // A workflow purged (Durable's DELETE on its status URL, after a terminate: only an ended instance can be purged)
    // while its action still holds the droplet: the sweep finds the droplet held by an action without a workflow, as
    // after a crash before the start, and runs the action again under the same instance id. The first run's stop is
    // held unanswered (its step still in flight) until the run again has reached that step: the standalone host's
    // sidecar pairs an activity's answer by instance and task id, so it defers the second until the first is done
    // (ActivityRunGuard, which says so in its log); the Functions host runs both, and the run again completes meanwhile.
    [Fact]
    public async Task A_purged_power_off_is_run_again_while_its_first_run_is_still_in_a_step_and_ends_as_asked()
    {
        var id = (await host.CreateDropletAsync(new { name = "purged", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = Repository.UniqueName("p") }))
            .GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(id, "running");
        var vm = id.Replace('_', '-');
        var stop = world.Region.Hold(e => e.Resource == "virtualmachines" && e.Subresource == "stop" && e.Name == vm, 1);
        // A slow stop keeps the droplet held while the terminated workflow is purged: the sweep settles a terminated
        // workflow only once KubeVirt is at rest.
        var stopDelay = world.Region.Options.StopDelay;
        world.Region.Options.StopDelay = TimeSpan.FromSeconds(12);
        try
        {
            var off = await host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type = "power_off" });
            Assert.Equal(HttpStatusCode.Accepted, off.StatusCode);
            var actionId = (await off.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
            var links = Links(off);
            var status = new Uri(links["durable-status"]);
            await stop.Reached.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(HttpStatusCode.Accepted, (await host.Client.PostAsync(links["durable-terminate"].Replace("{text}", "purge", StringComparison.Ordinal), null)).StatusCode);
            await Eventually.HoldsAsync(async () => await host.Client.GetAsync(status), r => r.StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(30), "the instance to be terminated");

            var purge = await host.Client.DeleteAsync(status);
            Assert.Equal(HttpStatusCode.OK, purge.StatusCode);
            Assert.Equal(1, (await purge.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("instancesDeleted").GetInt32());
            Assert.True((await host.GetDropletAsync(id)).GetProperty("locked").GetBoolean());

            if (host.Kind == HostKind.Standalone)
                await Eventually.HoldsAsync(() => Task.FromResult(host.Output), output => output.Contains($"of {ResourceAction(actionId)} deferred", StringComparison.Ordinal),
                    TimeSpan.FromSeconds(60), "the run again to reach the step its first run is still in");
            else
                await Eventually.HoldsAsync(() => ActionAsync(actionId), a => a.GetProperty("status").GetString() != "in-progress",
                    TimeSpan.FromSeconds(90), "the run again to end while its first run's stop is unanswered");
            stop.Release();

            var action = await Eventually.HoldsAsync(() => ActionAsync(actionId), a => a.GetProperty("status").GetString() != "in-progress",
                TimeSpan.FromSeconds(90), "the purged power_off to be run again and end");
            Assert.True(action.GetProperty("status").GetString() == "completed", action.ToString());
            // Run again under the same instance id, which exists again and completes (just after its last step ends the
            // action).
            var rerun = await Eventually.HoldsAsync(async () => await host.Client.GetAsync(status), r => r.StatusCode == HttpStatusCode.OK,
                TimeSpan.FromSeconds(30), "the workflow run again to complete");
            Assert.Equal("Completed", (await rerun.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("runtimeStatus").GetString());
            var droplet = await host.GetDropletAsync(id);
            Assert.Equal(("stopped", false), (droplet.GetProperty("status").GetString(), droplet.GetProperty("locked").GetBoolean()));
            Assert.Equal("Halted", world.Region.Get("virtualmachines", KubeNames.Namespace(droplet.GetProperty("project_id").GetString()!), vm)!["spec"]!["runStrategy"]!.GetValue<string>());
        }
        finally
        {
            stop.Release();
            world.Region.Options.StopDelay = stopDelay;
        }
        Assert.Equal(HttpStatusCode.Accepted, (await host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type = "power_on" })).StatusCode);
        await host.WaitForStatusAsync(id, "running");
    }

    static string ResourceAction(string actionId) => global::Droplets.Actions.ResourceAction.InstanceIdFor(actionId);

    // A rebuild stopped halfway may have taken the old disk away: the sweep ends it errored with the droplet in error,
    // and another rebuild makes the droplet whole again.
    [Fact]
    public async Task A_terminated_rebuild_leaves_the_droplet_in_error_and_another_rebuild_heals_it()
    {
        var id = (await host.CreateDropletAsync(new { name = "rebuilt", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = Repository.UniqueName("p") }))
            .GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(id, "running");

        var rebuild = await host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type = "rebuild", image = "debian-12" });
        Assert.Equal(HttpStatusCode.Accepted, rebuild.StatusCode);
        var actionId = (await rebuild.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        Assert.Equal(HttpStatusCode.Accepted, (await host.Client.PostAsync(Links(rebuild)["durable-terminate"].Replace("{text}", "halt", StringComparison.Ordinal), null)).StatusCode);

        var action = await Eventually.HoldsAsync(() => ActionAsync(actionId), a => a.GetProperty("status").GetString() != "in-progress",
            TimeSpan.FromSeconds(60), "the terminated rebuild to be settled");
        Assert.Equal("errored", action.GetProperty("status").GetString());
        Assert.Equal("action_interrupted", action.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("terminated (halt) before the new disk was running", action.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        var droplet = await host.GetDropletAsync(id);
        Assert.Equal(("error", false, "ubuntu-22-04"), (droplet.GetProperty("status").GetString(), droplet.GetProperty("locked").GetBoolean(), droplet.GetProperty("image").GetString()));

        var again = await host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type = "rebuild", image = "debian-12" });
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        var done = await host.WaitForActionAsync((await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
        Assert.True(done.GetProperty("status").GetString() == "completed", done.ToString());
        var healed = await host.GetDropletAsync(id);
        Assert.Equal(("running", false, "debian-12"), (healed.GetProperty("status").GetString(), healed.GetProperty("locked").GetBoolean(), healed.GetProperty("image").GetString()));
    }

    // The recovery settles a terminated volume workflow too: the volume is as KubeVirt has it (attached exactly when the
    // VM's template has it), the droplet is free with volume_ids agreeing, and the next volume action runs.
    [Fact]
    public async Task A_terminated_attach_leaves_the_volume_as_kubevirt_has_it_and_frees_the_droplet()
    {
        var project = Repository.UniqueName("p");
        var droplet = await host.RunningDropletAsync(project);
        var volume = await host.AvailableVolumeAsync(project);

        var (attach, accepted) = await host.VolumeActionAsync(volume, new { type = "attach", droplet_id = droplet });
        Assert.Equal(HttpStatusCode.Accepted, attach.StatusCode);
        var actionId = accepted.GetProperty("id").GetString()!;
        Assert.Equal(HttpStatusCode.Accepted, (await host.Client.PostAsync(Links(attach)["durable-terminate"].Replace("{text}", "operator%20test", StringComparison.Ordinal), null)).StatusCode);

        var action = await host.WaitForActionAsync(actionId);
        Assert.Equal("errored", action.GetProperty("status").GetString());
        Assert.Equal("action_interrupted", action.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("terminated (operator test)", action.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);

        var vm = world.Region.Get("virtualmachines", KubeNames.Namespace(project), droplet.Replace('_', '-'))!;
        var inTemplate = vm["spec"]!["template"]!["spec"]!["volumes"]!.AsArray().Any(v => v!["name"]!.GetValue<string>() == volume.Replace('_', '-'));
        var settled = await host.GetVolumeAsync(volume);
        Assert.Equal((inTemplate ? "attached" : "available", false), (settled.GetProperty("status").GetString(), settled.GetProperty("locked").GetBoolean()));
        var held = await host.GetDropletAsync(droplet);
        Assert.False(held.GetProperty("locked").GetBoolean());
        Assert.Equal(inTemplate, held.GetProperty("volume_ids").EnumerateArray().Any(v => v.GetString() == volume));

        var next = await host.CompleteVolumeActionAsync(volume, inTemplate ? new { type = "detach", droplet_id = droplet } : new { type = "attach", droplet_id = droplet });
        Assert.Equal("completed", next.GetProperty("status").GetString());
    }

    // A terminated workflow's step in flight runs to its end: a terminated create's CreateVirtualMachine may make the
    // Service after the delete that follows has deleted it. The delete deletes again whatever is back, so nothing is left.
    [Fact]
    public async Task A_delete_also_removes_what_a_step_still_in_flight_makes_after_it_began()
    {
        var project = Repository.UniqueName("p");
        var id = (await host.CreateDropletAsync(new { name = "late", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project }))
            .GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(id, "running");
        var (ns, vm) = (KubeNames.Namespace(project), id.Replace('_', '-'));
        var service = $"{vm}-public";
        using var admin = TestRegion.Admin(world.Region);
        var original = await admin.CoreV1.ReadNamespacedServiceAsync(service, ns);

        // The VM takes its stop delay to go, the Service goes at once: the Service comes back meanwhile.
        world.Region.Options.StopDelay = TimeSpan.FromSeconds(15);
        try
        {
            Assert.Equal(HttpStatusCode.Accepted, (await host.Client.DeleteAsync($"api/v1/droplets/{id}")).StatusCode);
            await Eventually.HoldsAsync(() => Task.FromResult(world.Region.Get("services", ns, service)), s => s is null, TimeSpan.FromSeconds(30), "the Service to be deleted");
            Assert.NotNull(world.Region.Get("virtualmachines", ns, vm));
            await admin.CoreV1.CreateNamespacedServiceAsync(new V1Service
            {
                Metadata = new V1ObjectMeta { Name = service, Labels = original.Metadata.Labels },
                Spec = new V1ServiceSpec { Type = original.Spec.Type, Selector = original.Spec.Selector, Ports = original.Spec.Ports.Select(p => new V1ServicePort { Name = p.Name, Port = p.Port, TargetPort = p.TargetPort }).ToList() },
            }, ns);
        }
        finally
        {
            world.Region.Options.StopDelay = TimeSpan.FromSeconds(3);
        }

        await Eventually.HoldsAsync(async () => (await host.Client.GetAsync($"api/v1/droplets/{id}")).StatusCode, s => s == HttpStatusCode.NotFound,
            TimeSpan.FromSeconds(60), "the droplet to be deleted");
        Assert.Null(world.Region.Get("services", ns, service));
        Assert.Null(world.Region.Get("virtualmachines", ns, vm));
    }

    [Fact]
    public async Task The_management_routes_are_not_for_api_callers()
    {
        var created = await host.Client.PostAsJsonAsync("api/v1/tokens", new { name = "writer", project_ids = new[] { "*" }, scope = "write" });
        var writer = host.ClientWith((await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString());
        var path = "runtime/webhooks/durabletask/instances/provision-dpl_000000000000";
        switch (host.Kind)
        {
            // Behind the admin token: any other token is 403, none is 401.
            case HostKind.Standalone:
                Assert.Equal(HttpStatusCode.Forbidden, (await writer.GetAsync(path)).StatusCode);
                Assert.Equal(HttpStatusCode.Unauthorized, (await host.ClientWith(null).GetAsync(path)).StatusCode);
                Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync(path)).StatusCode);
                break;
            // Behind the host's durabletask_extension system key. A local `func start` asks for no key (every request
            // is admin there, as in Core Tools); with --enableAuth it does, as Azure always does.
            case HostKind.Functions:
                await using (var keyed = await ApiHost.StartAsync(HostKind.Functions, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = world.Region }, arguments: ["--enableAuth"]))
                {
                    Assert.Equal(HttpStatusCode.Unauthorized, (await keyed.Client.GetAsync(path)).StatusCode);
                    Assert.Equal(HttpStatusCode.Unauthorized, (await keyed.ClientWith(null).GetAsync($"{path}?code={keyed.AdminToken}")).StatusCode);
                    var key = await keyed.SystemKeyAsync("durabletask_extension");
                    Assert.Equal(HttpStatusCode.NotFound, (await keyed.ClientWith(null).GetAsync($"{path}?code={Uri.EscapeDataString(key)}")).StatusCode);
                    // The API's own functions are anonymous to the host: our tokens decide.
                    Assert.Equal(HttpStatusCode.OK, (await keyed.Client.GetAsync("api/v1/regions")).StatusCode);
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(host), host.Kind, null);
        }
    }
}
