using Microsoft.Extensions.Logging;

namespace KubeVirt.Simulator.Controllers;

// Runs every controller in one background loop: a pass right after any store change, otherwise every 100 ms
// so timed transitions (import, boot, shutdown) fire. A pass over an idle store only reads a few dictionaries.
internal sealed class ControllerLoop : IAsyncDisposable
{
    static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(100);

    readonly Store store;
    readonly Timers timers = new();
    readonly ILogger logger;
    readonly CancellationTokenSource stop = new();
    readonly DataVolumeController dataVolumes;
    readonly VirtualMachineController virtualMachines;
    readonly VirtualMachineInstanceController instances;
    readonly ServiceController services;
    readonly VolumeExpansionController expansion;
    readonly VolumeHotplugController volumeHotplug;
    readonly ClaimProtectionController claimProtection;
    readonly GarbageCollector garbage;
    readonly ControllerManager controllerManager;
    readonly DomainStats stats;
    Task? running;

    public ControllerLoop(Store store, SimulatorOptions options, EventRecorder events, DomainStats stats, ILogger logger)
    {
        this.store = store;
        this.logger = logger;
        dataVolumes = new DataVolumeController(store, options, events, timers);
        virtualMachines = new VirtualMachineController(store, options, events);
        instances = new VirtualMachineInstanceController(store, options, events, timers);
        services = new ServiceController(store, options, events);
        expansion = new VolumeExpansionController(store, options, events, timers);
        volumeHotplug = new VolumeHotplugController(store, options, events, timers);
        claimProtection = new ClaimProtectionController(store);
        garbage = new GarbageCollector(store);
        controllerManager = new ControllerManager(store);
        this.stats = stats;
    }

    public void Start() => running = Task.Run(RunAsync);

    async Task RunAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            Pass(controllerManager.Reconcile);
            Pass(dataVolumes.Reconcile);
            Pass(virtualMachines.Reconcile);
            Pass(instances.Reconcile);
            Pass(volumeHotplug.Reconcile);
            Pass(services.Reconcile);
            Pass(expansion.Reconcile);
            Pass(garbage.Reconcile);
            Pass(stats.Observe);
            Pass(claimProtection.Reconcile);
            timers.Prune(store.AllUids());
            await store.WaitForChangeAsync(Tick, stop.Token);
        }
    }

    void Pass(Action reconcile)
    {
        try
        {
            reconcile();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Controller pass failed");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        if (running is not null)
        {
            try
            {
                await running;
            }
            catch (OperationCanceledException)
            {
            }
        }
        stop.Dispose();
    }

    // Runs one object's sync; a concurrent client write (conflict) or deletion (not found) just waits for the next pass.
    internal static void Safe(Action sync)
    {
        try
        {
            sync();
        }
        catch (ApiException e) when (e.Code is 404 or 409)
        {
        }
    }
}

// Remembers when something started (an import, a boot, a shutdown) per object uid, so delays survive across passes.
internal sealed class Timers
{
    readonly Dictionary<string, DateTime> started = [];
    readonly Dictionary<string, TimeSpan> backoffs = [];

    public DateTime Since(string uid, string what)
    {
        var key = uid + "/" + what;
        if (!started.TryGetValue(key, out var at))
        {
            at = DateTime.UtcNow;
            started[key] = at;
        }
        return at;
    }

    // True when this call started the clock.
    public bool Start(string uid, string what)
    {
        var key = uid + "/" + what;
        if (started.ContainsKey(key))
        {
            return false;
        }
        started[key] = DateTime.UtcNow;
        return true;
    }

    public bool Elapsed(string uid, string what, TimeSpan delay) => DateTime.UtcNow - Since(uid, what) >= delay;

    // An exponential back-off like client-go's flowcontrol.Backoff: each failure restarts the clock and doubles the
    // wait (the first one is `initial`), up to `max`. Returns the wait before the next attempt.
    public TimeSpan Fail(string uid, string what, TimeSpan initial, TimeSpan max)
    {
        var key = uid + "/" + what;
        var wait = backoffs.TryGetValue(key, out var last) ? TimeSpan.FromTicks(Math.Min(last.Ticks * 2, max.Ticks)) : initial;
        backoffs[key] = wait;
        started[key] = DateTime.UtcNow;
        return wait;
    }

    // The current wait of a back-off, or null before its first failure.
    public TimeSpan? Backoff(string uid, string what) => backoffs.TryGetValue(uid + "/" + what, out var wait) ? wait : null;

    public void Forget(string uid, string what)
    {
        started.Remove(uid + "/" + what);
        backoffs.Remove(uid + "/" + what);
    }

    public void Prune(HashSet<string> liveUids)
    {
        foreach (var key in started.Keys.Where(k => !liveUids.Contains(k[..k.IndexOf('/', StringComparison.Ordinal)])).ToList())
        {
            started.Remove(key);
            backoffs.Remove(key);
        }
    }
}
