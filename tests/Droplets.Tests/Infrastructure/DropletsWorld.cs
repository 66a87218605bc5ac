using KubeVirt.Simulator;

namespace Droplets.Tests.Infrastructure;

// A whole world for end-to-end tests: two simulated regions and an API host of the given kind wired to them.
// nyc1 is healthy; ams3 has small nodes (8 GiB), so a 16 GiB plan cannot be scheduled there.
// In both, the fedora image cannot be pulled.
public abstract class DropletsWorld(HostKind kind) : IAsyncLifetime
{
    public const string FailingImage = "quay.io/containerdisks/fedora:latest";

    public HostKind Kind { get; } = kind;
    public KubeVirtSimulator Nyc1 { get; private set; } = null!;
    public KubeVirtSimulator Ams3 { get; private set; } = null!;
    public ApiHost Host { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Nyc1 = await TestRegion.StartAsync(Options());
        var small = Options();
        small.NodeMemoryMi = 8192;
        Ams3 = await TestRegion.StartAsync(small);
        Host = await ApiHost.StartAsync(Kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = Nyc1, ["ams3"] = Ams3 });
    }

    static SimulatorOptions Options()
    {
        var options = new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(200), BootDelay = TimeSpan.FromMilliseconds(200) };
        options.FailingImages.Add(FailingImage);
        return options;
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        await Nyc1.DisposeAsync();
        await Ams3.DisposeAsync();
    }
}

public sealed class DropletsWorld<TKind>() : DropletsWorld(TKind.Kind) where TKind : IHostKind;
