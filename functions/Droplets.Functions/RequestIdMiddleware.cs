using Droplets.Http;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Middleware;

namespace Droplets.Functions;

// The Functions counterpart of UseDropletsHttp's request-id step; non-HTTP invocations have no HttpContext.
sealed class RequestIdMiddleware : IFunctionsWorkerMiddleware
{
    public Task Invoke(FunctionContext context, FunctionExecutionDelegate next)
    {
        if (context.GetHttpContext() is { } http)
            RequestId.Apply(http);
        return next(context);
    }
}
