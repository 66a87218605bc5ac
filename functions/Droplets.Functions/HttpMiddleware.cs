using Droplets.Auth;
using Droplets.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Middleware;
using Microsoft.Extensions.Logging;

namespace Droplets.Functions;

// The Functions counterpart of UseDropletsHttp and the idempotency filter: request ids, ApiGate
// (functions are Anonymous at the host so that this one mechanism decides), Idempotency-Key, and a
// problem+json 500 for an unhandled error instead of the host's bare one. Non-HTTP invocations have
// no HttpContext.
sealed class HttpMiddleware(ApiGate gate, Idempotency idempotency, ILogger<HttpMiddleware> log) : IFunctionsWorkerMiddleware
{
    public async Task Invoke(FunctionContext context, FunctionExecutionDelegate next)
    {
        if (context.GetHttpContext() is not { } http)
        {
            await next(context);
            return;
        }
        RequestId.Apply(http);
        try
        {
            if (await gate.AllowAsync(http))
                await RunAsync(context, http, next);
        }
        catch (Exception e) when (!http.Response.HasStarted)
        {
            log.LogError(e, "Unhandled error in {Function}", context.FunctionDefinition.Name);
            var problem = Problems.Create(StatusCodes.Status500InternalServerError, "internal_error", "Internal error", "The request failed unexpectedly.");
            problem.ProblemDetails.Extensions["request_id"] = http.TraceIdentifier;
            await problem.ExecuteAsync(http);
        }
    }

    // The function's IResult is executed by the ASP.NET Core integration after this middleware returns,
    // so the answer can be recorded (or replaced by a replay) here.
    async Task RunAsync(FunctionContext context, HttpContext http, FunctionExecutionDelegate next)
    {
        var (ticket, answer) = await idempotency.BeginAsync(http);
        if (answer is not null)
        {
            await answer.ExecuteAsync(http);
            return;
        }
        await next(context);
        if (ticket is not null && context.GetInvocationResult().Value is IResult result)
            await idempotency.CompleteAsync(ticket, http, result);
    }
}
