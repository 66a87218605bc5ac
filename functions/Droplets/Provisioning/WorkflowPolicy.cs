using System.Net;
using System.Text.RegularExpressions;
using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;

namespace Droplets.Provisioning;

// How every workflow retries its activities and paces its polling of KubeVirt.
public static partial class WorkflowPolicy
{
    // A step that drives or reads the cluster (or takes a lock): a failure is retried, 1 s doubling to 30 s, for as
    // long as the next attempt would still start before the action's deadline. An outage shorter than the deadline is
    // only latency; a longer one fails the step, and the workflow ends the action in its words.
    public static TaskOptions Until(DateTime deadline) => TaskOptions.FromRetryHandler(async retry =>
    {
        var delay = RetryDelay(retry.LastAttemptNumber);
        if (retry.OrchestrationContext.CurrentUtcDateTime + delay >= deadline)
            return false;
        await retry.OrchestrationContext.CreateTimer(delay, CancellationToken.None);
        return true;
    });

    // A workflow's final bookkeeping (record the outcome, release the lock, end the action, roll a change back): it
    // must run, so it is retried until it succeeds, whatever the deadline.
    public static readonly TaskOptions UntilDone = TaskOptions.FromRetryHandler(async retry =>
    {
        await retry.OrchestrationContext.CreateTimer(RetryDelay(retry.LastAttemptNumber), CancellationToken.None);
        return true;
    });

    static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(1);

    // Durable timers between observations that came back at once: 2 s doubling to 30 s (Azurite timers have ~1 s
    // resolution).
    public static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(2);
    static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    // The orchestrator's wait for an observed condition: calls `observe` (given the time left, for an activity that
    // waits within it, Poller) until `done` holds or the deadline has passed. An observation that itself waited at least
    // FirstBackoff is followed by the next one at once: a timer after it would only delay seeing a change the watch
    // reports while the timer runs (seconds, with 30 s boots). One that came back sooner (an activity given little time)
    // is followed by a durable timer, 2 s doubling to 30 s and never past the deadline. Answers the last observation;
    // the caller judges it.
    public static async Task<T> WaitAsync<T>(TaskOrchestrationContext context, DateTime deadline, Func<TimeSpan, Task<T>> observe, Func<T, bool> done)
    {
        var backoff = FirstBackoff;
        while (true)
        {
            var asked = context.CurrentUtcDateTime;
            var remaining = deadline - asked;
            var seen = await observe(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);
            if (done(seen) || context.CurrentUtcDateTime >= deadline)
                return seen;
            if (context.CurrentUtcDateTime - asked >= FirstBackoff)
                continue;
            var delay = backoff < deadline - context.CurrentUtcDateTime ? backoff : deadline - context.CurrentUtcDateTime;
            if (delay > TimeSpan.Zero)
                await context.CreateTimer(delay, CancellationToken.None);
            backoff = Next(backoff);
        }
    }

    // What the caller is told when a step could not drive the region's cluster before the deadline: the kind of failure,
    // never the exception's own text, which names internal endpoints. That text goes to the log.
    public static string ClusterFailure(TaskOrchestrationContext context, TaskFailedException e)
    {
        context.CreateReplaySafeLogger(nameof(WorkflowPolicy)).LogWarning("Step {Step} of {InstanceId} failed until its deadline: {ErrorType}: {ErrorMessage}",
            e.TaskName, context.InstanceId, e.FailureDetails.ErrorType, e.FailureDetails.ErrorMessage);
        return $"The region's cluster could not be driven: {Kind(e.FailureDetails)}.";
    }

    // The first failure of the chain (an activity's exception, as the Functions host wraps it: AggregateException, and
    // its inner ones) whose type tells what happened.
    static string Kind(TaskFailureDetails? failure)
    {
        for (; failure is not null; failure = failure.InnerFailure)
            switch (failure.ErrorType)
            {
                case "k8s.Autorest.HttpOperationException":
                    return StatusOf(failure.ErrorMessage) is { } status ? $"its API server answered {status}" : "its API server refused the request";
                case "System.Net.Http.HttpRequestException" when AnsweredStatus().Match(failure.ErrorMessage) is { Success: true } answered:
                    return $"its API server answered {answered.Groups[1].Value}";
                case "System.Net.Http.HttpRequestException" or "System.Net.Sockets.SocketException" or "System.IO.IOException":
                    return "its API server could not be reached";
                case "System.Threading.Tasks.TaskCanceledException" or "System.TimeoutException" or "System.OperationCanceledException":
                    return "its API server did not answer in time";
            }
        return "an unexpected error (the service's log has it)";
    }

    // An answer rather than a broken connection: HttpClient's "Response status code does not indicate success: 503 (…)",
    // or KubeVirtClient's "KubeVirt stop answered 503: …".
    [GeneratedRegex(@"(?:does not indicate success: |KubeVirt [a-z/]+ answered )([1-5][0-9]{2})\b")]
    private static partial Regex AnsweredStatus();

    // KubernetesClient's "Operation returned an invalid status code 'Unauthorized'" → 401.
    static int? StatusOf(string message)
    {
        var start = message.IndexOf('\'');
        var end = start < 0 ? -1 : message.IndexOf('\'', start + 1);
        return end > start && Enum.TryParse<HttpStatusCode>(message[(start + 1)..end], out var status) ? (int)status : null;
    }

    public static TimeSpan Next(TimeSpan backoff) => backoff * 2 < MaxBackoff ? backoff * 2 : MaxBackoff;

    static TimeSpan RetryDelay(int attempt)
    {
        var delay = FirstRetry;
        for (var i = 1; i < attempt && delay < MaxBackoff; i++)
            delay = Next(delay);
        return delay;
    }
}
