using Droplets.Catalog;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Droplets.Tests.Catalog;

// Plans KubeVirt would refuse: every VM sets memory.maxGuest, so its VM webhook applies ValidateLiveUpdateMemory
// (kubevirt pkg/liveupdate/memory/memory.go: guest ≥ 1Gi, guest and maxGuest 2Mi-aligned).
public sealed class CatalogValidationTests
{
    static IOptions<CatalogOptions> Catalog(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddDropletsCatalog().AddInMemoryCollection(settings).Build();
        return new ServiceCollection().AddDroplets(configuration).BuildServiceProvider().GetRequiredService<IOptions<CatalogOptions>>();
    }

    [Fact]
    public void The_shipped_catalog_passes()
    {
        var plans = Catalog([]).Value.Plans;

        Assert.Contains("s-1vcpu-1gb", plans.Keys);
        Assert.All(plans.Values, p => Assert.True(p.MemoryMib >= 1024 && p.MemoryMib % 2 == 0));
    }

    [Theory]
    [InlineData("512", "Catalog:Plans:x-tiny:MemoryMib is 512; KubeVirt's memory hotplug needs at least 1024 (1Gi) of guest memory.")]
    [InlineData("1025", "Catalog:Plans:x-tiny:MemoryMib is 1025; KubeVirt's memory hotplug needs guest memory aligned to 2 MiB (an even number).")]
    public void A_plan_kubevirt_would_refuse_stops_the_host(string memoryMib, string message)
    {
        var catalog = Catalog(new()
        {
            ["Catalog:Plans:x-tiny:Vcpus"] = "1",
            ["Catalog:Plans:x-tiny:MemoryMib"] = memoryMib,
            ["Catalog:Plans:x-tiny:DiskGib"] = "10",
        });

        var failure = Assert.Throws<OptionsValidationException>(() => catalog.Value);
        Assert.Equal([message], failure.Failures);
    }
}
