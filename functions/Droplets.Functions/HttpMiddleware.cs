using Droplets.Auth;
using Droplets.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Middleware;
using Microsoft.Extensions.Logging;

namespace Droplets.Functions;

// The Functions counterpart of UseDropletsHttp: request ids, ApiGate (functions are Anonymous at the
// host so that this one mechanism decides), and a problem+json 500 for an unhandled error instead of
// the host's bare one. Non-HTTP invocations have no HttpContext.
sealed class HttpMiddleware(ApiGate gate, ILogger<HttpMiddleware> log) : IFunctionsWorkerMiddleware
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
                await next(context);
        }
        catch (Exception e) when (!http.Response.HasStarted)
        {
            log.LogError(e, "Unhandled error in {Function}", context.FunctionDefinition.Name);
            var problem = Problems.Create(StatusCodes.Status500InternalServerError, "internal_error", "Internal error", "The request failed unexpectedly.");
            problem.ProblemDetails.Extensions["request_id"] = http.TraceIdentifier;
            await problem.ExecuteAsync(http);
        }
    }
}
