using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Tests.Infrastructure;

namespace Droplets.Tests.Catalog;

// GET /plans, /images, /regions: catalog.json plus settings, as create validation sees them. This host adds a plan
// and an image through settings (without prices or a name), and a region without a cluster.
public abstract class CatalogTests(CatalogTests.World world)
{
    public sealed class OnStandalone(World<StandaloneKind> world) : CatalogTests(world), IClassFixture<World<StandaloneKind>>;

    public sealed class OnFunctions(World<FunctionsKind> world) : CatalogTests(world), IClassFixture<World<FunctionsKind>>;

    public const string RegionToken = "region-token-that-must-never-show";
    public const string RegionEndpoint = "http://127.0.0.1:9/";

    public sealed class World<TKind>() : World(TKind.Kind) where TKind : IHostKind;

    public class World(HostKind kind) : IAsyncLifetime
    {
        public ApiHost Host { get; private set; } = null!;

        public async Task InitializeAsync() => Host = await ApiHost.StartAsync(kind,
            new Dictionary<string, Uri> { ["nyc1"] = new(RegionEndpoint) },
            new Dictionary<string, string>
            {
                ["Catalog__Regions__nyc1__Token"] = RegionToken,
                ["Catalog__Regions__sfo3__Name"] = "San Francisco 3",
                ["Catalog__Plans__x-tiny__Vcpus"] = "1",
                ["Catalog__Plans__x-tiny__MemoryMib"] = "1024",
                ["Catalog__Plans__x-tiny__DiskGib"] = "10",
                ["Catalog__Images__alpine-3__Source"] = "quay.io/containerdisks/alpine:3",
                ["Catalog__Images__alpine-3__Distribution"] = "Alpine",
                ["Catalog__Images__alpine-3__Version"] = "3",
            });

        public Task DisposeAsync() => Host.DisposeAsync().AsTask();
    }

    readonly ApiHost host = world.Host;

    [Fact]
    public async Task Plans_are_listed_smallest_first_with_prices_where_configured()
    {
        var plans = await host.Client.GetFromJsonAsync<JsonElement>("api/v1/plans");

        Assert.Equal(JsonValueKind.Array, plans.ValueKind);
        Assert.Equal(["x-tiny", "s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-8gb", "s-8vcpu-16gb"],
            plans.EnumerateArray().Select(p => p.GetProperty("id").GetString()));
        var small = plans[1];
        Assert.Equal(["disk", "id", "memory", "price_hourly", "price_monthly", "vcpus"], small.EnumerateObject().Select(p => p.Name).Order());
        Assert.Equal(1, small.GetProperty("vcpus").GetInt32());
        Assert.Equal(1024, small.GetProperty("memory").GetInt32());
        Assert.Equal(25, small.GetProperty("disk").GetInt32());
        Assert.Equal(6m, small.GetProperty("price_monthly").GetDecimal());
        Assert.Equal(0.00893m, small.GetProperty("price_hourly").GetDecimal());
        Assert.Equal(["disk", "id", "memory", "vcpus"], plans[0].EnumerateObject().Select(p => p.Name).Order());
    }

    [Fact]
    public async Task Images_are_listed_by_distribution_without_their_source()
    {
        var images = await host.Client.GetFromJsonAsync<JsonElement>("api/v1/images");

        Assert.Equal(["alpine-3", "debian-12", "fedora-latest", "ubuntu-22-04", "ubuntu-24-04"], images.EnumerateArray().Select(i => i.GetProperty("slug").GetString()));
        var ubuntu = images.EnumerateArray().Single(i => i.GetProperty("slug").GetString() == "ubuntu-22-04");
        Assert.Equal(["distribution", "name", "slug", "version"], ubuntu.EnumerateObject().Select(p => p.Name).Order());
        Assert.Equal("Ubuntu", ubuntu.GetProperty("distribution").GetString());
        Assert.Equal("22.04", ubuntu.GetProperty("version").GetString());
        Assert.Equal("Ubuntu 22.04 LTS", ubuntu.GetProperty("name").GetString());
        Assert.Equal(["distribution", "slug", "version"], images[0].EnumerateObject().Select(p => p.Name).Order());
        Assert.DoesNotContain("quay.io", images.ToString());
    }

    [Fact]
    public async Task Regions_say_whether_they_are_available_and_nothing_about_their_clusters()
    {
        var response = await host.Client.GetAsync("api/v1/regions");
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var regions = JsonDocument.Parse(text).RootElement;
        Assert.Equal(
            [("ams3", "Amsterdam 3", false), ("nyc1", "New York 1", true), ("sfo3", "San Francisco 3", false)],
            regions.EnumerateArray().Select(r => (r.GetProperty("slug").GetString(), r.GetProperty("name").GetString(), r.GetProperty("available").GetBoolean())));
        Assert.All(regions.EnumerateArray(), r => Assert.Equal(["available", "name", "slug"], r.EnumerateObject().Select(p => p.Name).Order()));
        Assert.DoesNotContain(RegionToken, text);
        Assert.DoesNotContain("127.0.0.1", text);
    }

    [Theory]
    [InlineData("api/v1/plans")]
    [InlineData("api/v1/images")]
    [InlineData("api/v1/regions")]
    public async Task The_catalog_needs_a_token_and_a_read_token_is_enough(string path)
    {
        var anonymous = await host.ClientWith(null).GetAsync(path);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("unauthorized", (await anonymous.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());

        var created = await host.Client.PostAsJsonAsync("api/v1/tokens", new { name = "viewer", project_ids = new[] { "proj_a" }, scope = "read" });
        var token = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString();
        Assert.Equal(HttpStatusCode.OK, (await host.ClientWith(token).GetAsync(path)).StatusCode);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await host.Client.PostAsJsonAsync(path, new { })).StatusCode);
    }
}
