using Droplets.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Droplets.Http;

public static class HttpPipeline
{
    // For ASP.NET Core hosts: request ids on every response, problem details for unhandled errors and
    // for the framework's own empty answers (unknown route 404, wrong method 405), then ApiGate.
    public static IApplicationBuilder UseDropletsHttp(this IApplicationBuilder app)
    {
        app.UseDropletsErrors();
        app.Use(async (context, next) =>
        {
            if (await context.RequestServices.GetRequiredService<ApiGate>().AllowAsync(context))
                await next(context);
        });
        return app;
    }

    // Request ids and problem-details answers, without the API's gate (the console gateway checks its tickets itself).
    public static IApplicationBuilder UseDropletsErrors(this IApplicationBuilder app)
    {
        app.Use((context, next) =>
        {
            RequestId.Apply(context);
            return next(context);
        });
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        return app;
    }
}
