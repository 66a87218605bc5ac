using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.Options;

namespace Droplets.Catalog;

// What a droplet can be built from: plans, images and regions. Defaults ship in catalog.json;
// any key can be overridden by ordinary settings (e.g. Catalog__Regions__nyc1__Endpoint).
public sealed class CatalogOptions
{
    public Dictionary<string, Plan> Plans { get; init; } = new(StringComparer.Ordinal);
    public Dictionary<string, Image> Images { get; init; } = new(StringComparer.Ordinal);
    public Dictionary<string, Region> Regions { get; init; } = new(StringComparer.Ordinal);
}

public sealed class Plan
{
    public int Vcpus { get; init; }
    public int MemoryMib { get; init; }
    public int DiskGib { get; init; }
    public decimal? PriceMonthly { get; init; }
    public decimal? PriceHourly { get; init; }
}

public sealed class Image
{
    public string Source { get; init; } = "";
    public string Distribution { get; init; } = "";
    public string Version { get; init; } = "";
    public string? Name { get; init; }
}

public sealed class Region
{
    public string Name { get; init; } = "";

    // The API server URL of the region's cluster, a kubeconfig context name, or InCluster: the cluster this process runs
    // in, as its pod's ServiceAccount (its projected token is re-read as the kubelet rotates it).
    public string? Endpoint { get; init; }
    public string? KubeconfigContext { get; init; }
    public bool InCluster { get; init; }

    // Optional bearer token for Endpoint (a secret setting; Key Vault reference in Azure).
    public string? Token { get; init; }
    public bool SkipTlsVerify { get; init; }

    // Base URL of the Prometheus that scrapes the region's virt-handlers (GET /droplets/{id}/metrics).
    public Uri? Prometheus { get; init; }

    public bool Available => InCluster || !string.IsNullOrWhiteSpace(Endpoint) || !string.IsNullOrWhiteSpace(KubeconfigContext);
}

// Every droplet's VM sets memory.maxGuest (the largest plan's memory, so that resizes hotplug), and with it KubeVirt's VM
// webhook applies ValidateLiveUpdateMemory (pkg/liveupdate/memory/memory.go): guest memory of at least 1Gi, guest and
// maxGuest aligned to 2Mi. A plan that breaks them would have every create refused, so the host refuses to start instead.
// The largest plan is every VM's maxGuest, so it is aligned and at least every guest once each plan is.
internal sealed class CatalogValidation : IValidateOptions<CatalogOptions>
{
    public ValidateOptionsResult Validate(string? name, CatalogOptions options)
    {
        var failures = options.Plans.SelectMany(p => PlanProblems(p.Key, p.Value)).ToList();
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    static IEnumerable<string> PlanProblems(string id, Plan plan)
    {
        if (plan.MemoryMib < 1024)
        {
            yield return $"Catalog:Plans:{id}:MemoryMib is {plan.MemoryMib}; KubeVirt's memory hotplug needs at least 1024 (1Gi) of guest memory.";
        }
        if (plan.MemoryMib % 2 != 0)
        {
            yield return $"Catalog:Plans:{id}:MemoryMib is {plan.MemoryMib}; KubeVirt's memory hotplug needs guest memory aligned to 2 MiB (an even number).";
        }
    }
}

public static class CatalogConfiguration
{
    // catalog.json goes first, so every other source (settings, environment) overrides it.
    public static IConfigurationBuilder AddDropletsCatalog(this IConfigurationBuilder configuration)
    {
        var source = new JsonConfigurationSource { Path = Path.Combine(AppContext.BaseDirectory, "catalog.json"), Optional = false };
        source.ResolveFileProvider();
        configuration.Sources.Insert(0, source);
        return configuration;
    }
}
