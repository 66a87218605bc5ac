using Microsoft.DurableTask;

namespace Droplets.Provisioning;

// How every workflow retries its activities and paces its polling of KubeVirt.
public static class WorkflowPolicy
{
    // Transient cluster or storage errors: 6 attempts, 1 s doubling to 30 s.
    public static readonly TaskOptions Retry = TaskOptions.FromRetryPolicy(new RetryPolicy(
        maxNumberOfAttempts: 6, firstRetryInterval: TimeSpan.FromSeconds(1), backoffCoefficient: 2, maxRetryInterval: TimeSpan.FromSeconds(30)));

    // Durable timers between observations: 2 s doubling to 30 s (Azurite timers have ~1 s resolution).
    public static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(2);
    static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    public static TimeSpan Next(TimeSpan backoff) => backoff * 2 < MaxBackoff ? backoff * 2 : MaxBackoff;
}
