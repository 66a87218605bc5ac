using Microsoft.Extensions.Options;

namespace Droplets.Provisioning;

// The activity side of every wait for KubeVirt (the orchestrator side is WorkflowPolicy.WaitAsync): reads every
// Provisioning:ObservePollInterval until `done` holds or the wait is over — the orchestrator's time left, and at most
// Provisioning:ObserveWait, the time one activity may hold a worker. Answers the last reading; the orchestrator
// judges it and, if it must wait on, calls again after a durable timer.
public sealed class Poller(IOptions<ProvisioningOptions> options, TimeProvider time)
{
    public async Task<T> PollAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan wait, CancellationToken cancellationToken)
    {
        var until = time.GetUtcNow() + (wait < options.Value.ObserveWait ? wait : options.Value.ObserveWait);
        while (true)
        {
            var value = await read();
            if (done(value) || time.GetUtcNow() >= until)
                return value;
            await Task.Delay(options.Value.ObservePollInterval, time, cancellationToken);
        }
    }
}
