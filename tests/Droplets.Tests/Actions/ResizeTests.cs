using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Tests.Infrastructure;
using KubeVirt.Simulator;

namespace Droplets.Tests.Actions;

// PATCH /droplets/{id} {"plan_id"}. The catalog gains one test plan, "t-1vcpu-1gb-80": fewer CPUs and
// less memory than s-2vcpu-4gb on the same disk, so that a shrink (which KubeVirt cannot apply live)
// is a valid resize.
public abstract class ResizeTests(ResizeTests.World world)
{
    public sealed class OnStandalone(World<StandaloneKind> world) : ResizeTests(world), IClassFixture<World<StandaloneKind>>;

    public sealed class OnFunctions(World<FunctionsKind> world) : ResizeTests(world), IClassFixture<World<FunctionsKind>>;

    public sealed class World<TKind>() : World(TKind.Kind) where TKind : IHostKind;

    public class World(HostKind kind) : IAsyncLifetime
    {
        public KubeVirtSimulator Region { get; private set; } = null!;
        public ApiHost Host { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Region = await TestRegion.StartAsync(new SimulatorOptions
            {
                ImportDelay = TimeSpan.FromMilliseconds(100), BootDelay = TimeSpan.FromMilliseconds(200),
                HotplugDelay = TimeSpan.FromMilliseconds(300), ExpandDelay = TimeSpan.FromMilliseconds(300),
            });
            Host = await ApiHost.StartAsync(kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = Region }, new Dictionary<string, string>
            {
                ["Catalog__Plans__t-1vcpu-1gb-80__Vcpus"] = "1",
                ["Catalog__Plans__t-1vcpu-1gb-80__MemoryMib"] = "1024",
                ["Catalog__Plans__t-1vcpu-1gb-80__DiskGib"] = "80",
            });
        }

        public async Task DisposeAsync()
        {
            await Host.DisposeAsync();
            await Region.DisposeAsync();
        }
    }

    readonly ApiHost host = world.Host;

    async Task<(string Id, string Ns)> RunningAsync(string plan)
    {
        var project = Repository.UniqueName("p");
        var id = (await host.CreateDropletAsync(new { name = "sized", image = "ubuntu-22-04", plan_id = plan, region = "nyc1", project_id = project })).GetProperty("id").GetString()!;
        await host.WaitForStatusAsync(id, "running");
        return (id, KubeNames.Namespace(project));
    }

    async Task<JsonElement> ResizeAsync(string id, string plan)
    {
        var response = await host.Client.PatchAsJsonAsync($"api/v1/droplets/{id}", new { plan_id = plan });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, body.ToString());
        Assert.Equal("resizing", body.GetProperty("droplet").GetProperty("status").GetString());
        Assert.Equal("resize", body.GetProperty("action").GetProperty("type").GetString());
        Assert.EndsWith(body.GetProperty("action").GetProperty("id").GetString()!, response.Headers.GetValues("Operation-Location").Single());
        return body.GetProperty("action");
    }

    Task<JsonElement> WaitForActionAsync(JsonElement action) =>
        Eventually.HoldsAsync(() => host.Client.GetFromJsonAsync<JsonElement>($"api/v1/actions/{action.GetProperty("id").GetString()}"),
            a => a.GetProperty("status").GetString() != "in-progress", TimeSpan.FromSeconds(60), "the resize to finish");

    [Fact]
    public async Task Growing_within_the_family_is_live_and_grows_the_disk()
    {
        var (id, ns) = await RunningAsync("s-1vcpu-1gb");
        var vm = id.Replace('_', '-');
        var vmiBefore = world.Region.Get("virtualmachineinstances", ns, vm)!["metadata"]!["uid"]!.GetValue<string>();

        var done = await WaitForActionAsync(await ResizeAsync(id, "s-2vcpu-4gb"));

        Assert.Equal("completed", done.GetProperty("status").GetString());
        var droplet = await host.GetDropletAsync(id);
        Assert.Equal("running", droplet.GetProperty("status").GetString());
        Assert.Equal("s-2vcpu-4gb", droplet.GetProperty("plan_id").GetString());
        Assert.Equal(2, droplet.GetProperty("vcpus").GetInt32());
        Assert.Equal(4096, droplet.GetProperty("memory").GetInt32());
        Assert.Equal(80, droplet.GetProperty("disk").GetInt32());
        Assert.False(droplet.GetProperty("locked").GetBoolean());
        var vmi = world.Region.Get("virtualmachineinstances", ns, vm)!;
        Assert.Equal(vmiBefore, vmi["metadata"]!["uid"]!.GetValue<string>());
        Assert.Equal(2, vmi["status"]!["currentCPUTopology"]!["sockets"]!.GetValue<int>());
        Assert.Equal("80Gi", world.Region.Get("persistentvolumeclaims", ns, vm + "-root")!["status"]!["capacity"]!["storage"]!.GetValue<string>());
    }

    [Fact]
    public async Task Growing_memory_alone_is_live()
    {
        var (id, ns) = await RunningAsync("s-1vcpu-1gb");

        var done = await WaitForActionAsync(await ResizeAsync(id, "s-1vcpu-2gb"));

        Assert.Equal("completed", done.GetProperty("status").GetString());
        var droplet = await host.GetDropletAsync(id);
        Assert.Equal(("running", "s-1vcpu-2gb", 1, 2048, 50), (droplet.GetProperty("status").GetString(), droplet.GetProperty("plan_id").GetString(),
            droplet.GetProperty("vcpus").GetInt32(), droplet.GetProperty("memory").GetInt32(), droplet.GetProperty("disk").GetInt32()));
        Assert.Equal("2048Mi", world.Region.Get("virtualmachineinstances", ns, id.Replace('_', '-'))!["status"]!["memory"]!["guestCurrent"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_change_kubevirt_cannot_apply_live_restarts_the_machine()
    {
        var (id, ns) = await RunningAsync("s-2vcpu-4gb");
        var vm = id.Replace('_', '-');
        var vmiBefore = world.Region.Get("virtualmachineinstances", ns, vm)!["metadata"]!["uid"]!.GetValue<string>();

        var done = await WaitForActionAsync(await ResizeAsync(id, "t-1vcpu-1gb-80"));

        Assert.Equal("completed", done.GetProperty("status").GetString());
        var droplet = await host.GetDropletAsync(id);
        Assert.Equal(("running", "t-1vcpu-1gb-80", 1, 1024), (droplet.GetProperty("status").GetString(), droplet.GetProperty("plan_id").GetString(),
            droplet.GetProperty("vcpus").GetInt32(), droplet.GetProperty("memory").GetInt32()));
        var vmi = world.Region.Get("virtualmachineinstances", ns, vm)!;
        Assert.NotEqual(vmiBefore, vmi["metadata"]!["uid"]!.GetValue<string>());
        Assert.Equal(1, vmi["spec"]!["domain"]!["cpu"]!["sockets"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_stopped_droplet_is_resized_and_stays_stopped()
    {
        var (id, _) = await RunningAsync("s-1vcpu-1gb");
        var off = await (await host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", new { type = "power_off" })).Content.ReadFromJsonAsync<JsonElement>();
        await WaitForActionAsync(off);

        var done = await WaitForActionAsync(await ResizeAsync(id, "s-1vcpu-2gb"));

        Assert.Equal("completed", done.GetProperty("status").GetString());
        var droplet = await host.GetDropletAsync(id);
        Assert.Equal(("stopped", "s-1vcpu-2gb", 2048, 50), (droplet.GetProperty("status").GetString(), droplet.GetProperty("plan_id").GetString(),
            droplet.GetProperty("memory").GetInt32(), droplet.GetProperty("disk").GetInt32()));
    }

    [Theory]
    [InlineData("s-2vcpu-2gb", "already on plan")]
    [InlineData("s-1vcpu-2gb", "disks only grow")]
    [InlineData("s-99", "unknown plan")]
    public async Task Impossible_resizes_are_422_and_change_nothing(string plan, string reason)
    {
        var (id, _) = await RunningAsync("s-2vcpu-2gb");

        var response = await host.Client.PatchAsJsonAsync($"api/v1/droplets/{id}", new { plan_id = plan });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains(reason, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").GetProperty("plan_id")[0].GetString());
        var droplet = await host.GetDropletAsync(id);
        Assert.Equal(("running", "s-2vcpu-2gb", false), (droplet.GetProperty("status").GetString(), droplet.GetProperty("plan_id").GetString(), droplet.GetProperty("locked").GetBoolean()));
        Assert.Single((await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets/{id}/actions")).EnumerateArray());
    }
}
