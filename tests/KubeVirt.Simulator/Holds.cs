using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace KubeVirt.Simulator;

// Holds the answer to one request: the request is carried out (forwarded to the API server, or answered as virt-api
// answers it), then its answer is kept back until Release. A test acts at that exact step: it kills the client while
// the write it made has taken effect and its answer has not arrived, the hardest moment for a client to resume from.
// The hold takes the nth request `match` accepts (requests refused by the fault injection are not counted).
public sealed class RequestHold
{
    readonly Func<AuditEntry, bool> match;
    readonly TaskCompletionSource<AuditEntry> reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly TaskCompletionSource released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    int remaining;

    internal RequestHold(Func<AuditEntry, bool> match, int nth)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nth, 1);
        this.match = match;
        remaining = nth;
    }

    // The request held, once it has been carried out.
    public Task<AuditEntry> Reached => reached.Task;

    public void Release() => released.TrySetResult();

    // True for the one request this hold takes.
    internal bool Takes(AuditEntry entry) => match(entry) && Interlocked.Decrement(ref remaining) == 0;

    internal async Task HoldAsync(HttpContext context, AuditEntry entry, RequestDelegate next)
    {
        var response = context.Features.Get<IHttpResponseBodyFeature>()!;
        using var buffer = new MemoryStream();
        context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(buffer));
        try
        {
            await next(context);
        }
        finally
        {
            context.Features.Set(response);
        }
        reached.TrySetResult(entry);
        await released.Task.WaitAsync(context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
        if (context.RequestAborted.IsCancellationRequested)
            return;
        buffer.Position = 0;
        await buffer.CopyToAsync(context.Response.Body, context.RequestAborted);
    }
}

internal sealed class RequestHolds
{
    readonly Lock gate = new();
    readonly List<RequestHold> holds = [];

    public RequestHold Add(Func<AuditEntry, bool> match, int nth)
    {
        var hold = new RequestHold(match, nth);
        lock (gate)
            holds.Add(hold);
        return hold;
    }

    public RequestHold? Taking(AuditEntry entry)
    {
        lock (gate)
        {
            var hold = holds.FirstOrDefault(h => h.Takes(entry));
            if (hold is not null)
                holds.Remove(hold);
            return hold;
        }
    }
}

internal static class HoldMiddleware
{
    public static void UseHolds(this WebApplication app, RequestHolds holds) =>
        app.Use(async (context, next) =>
        {
            if (AuditLog.Parse(context.Request) is { } entry && holds.Taking(entry) is { } hold)
                await hold.HoldAsync(context, entry, next);
            else
                await next(context);
        });
}
