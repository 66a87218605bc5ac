using Droplets.KubeVirt;
using Microsoft.Extensions.Options;

namespace Droplets.Provisioning;

// The activity side of every wait for KubeVirt (the orchestrator side is WorkflowPolicy.WaitAsync): reads until `done`
// holds or the wait is over — the orchestrator's time left, and at most Provisioning:ObserveWait, the time one activity
// may hold a worker. Answers the last reading; the orchestrator judges it and, if it must wait on, calls again after a
// durable timer.
//
// While the region's watch is in sync, a reading comes from its store and the next one waits for a change of the
// droplet's or volume's objects (`key`), so that a wait costs the API server nothing; what the store says is done is read
// again from the API server before it is answered (the store may lag a write this workflow made). While the watch is
// not in sync, and for objects it does not cover, the API server is polled: Provisioning:ObservePollInterval, doubling
// to 8 times that.
public sealed class Poller(IOptions<ProvisioningOptions> options, TimeProvider time)
{
    public async Task<T> PollAsync<T>(KubeVirtClient cluster, string key, Func<ClusterReads, Task<T>> read, Func<T, bool> done, TimeSpan wait, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var until = time.GetUtcNow() + (wait < settings.ObserveWait ? wait : settings.ObserveWait);
        var interval = settings.ObservePollInterval;
        while (true)
        {
            var changed = cluster.Watch.Changed(key);
            var reads = cluster.Reads(cached: settings.Watch);
            var value = await read(reads);
            // Polled: no watch in sync answered, or the reading needed an object no watch covers.
            var polled = !reads.Cached || reads.WentLive;
            if (done(value) && reads.Cached)
                value = await read(cluster.Reads(cached: false));
            var left = until - time.GetUtcNow();
            if (done(value) || left <= TimeSpan.Zero)
                return value;
            var pause = left;
            if (polled)
            {
                pause = interval < left ? interval : left;
                interval = interval * 2 <= settings.ObservePollInterval * 8 ? interval * 2 : interval;
            }
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            await Task.WhenAny(changed, Task.Delay(pause, time, stop.Token));
            stop.Cancel();
            cancellationToken.ThrowIfCancellationRequested();
        }
    }
}
