using Microsoft.AspNetCore.Builder;

namespace Droplets.Http;

public static class HttpPipeline
{
    // For ASP.NET Core hosts: request ids on every response, problem details for unhandled errors and
    // for the framework's own empty answers (unknown route 404, wrong method 405).
    public static IApplicationBuilder UseDropletsHttp(this IApplicationBuilder app)
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
