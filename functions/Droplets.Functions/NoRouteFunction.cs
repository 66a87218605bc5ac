using System.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.Azure.Functions.Worker;

namespace Droplets.Functions;

// The Functions host answers a request that matches no function — an unknown path, or a known route with another
// method — with a bare 404 of its own. Its router ranks routes by precedence and tries a catch-all last, so this
// function gets exactly those requests and answers them as the standalone host's routing does: a 405 problem with
// `Allow` when the path is one of our routes, else a 404 problem. The routes are read from our own [HttpTrigger]s.
static class NoRouteFunction
{
    const string Name = "NoRoute";

    static readonly (TemplateMatcher Route, string[] Methods)[] Routes =
        (from method in typeof(NoRouteFunction).Assembly.GetTypes().SelectMany(t => t.GetMethods())
         where method.GetCustomAttribute<FunctionAttribute>()?.Name is { } name && name != Name
         from parameter in method.GetParameters()
         let trigger = parameter.GetCustomAttribute<HttpTriggerAttribute>()
         where trigger?.Route is not null
         select (new TemplateMatcher(TemplateParser.Parse(trigger.Route!), new RouteValueDictionary()), (trigger.Methods ?? []).Select(m => m.ToUpperInvariant()).ToArray()))
        .ToArray();

    [Function(Name)]
    public static IResult Run([HttpTrigger(AuthorizationLevel.Anonymous, Route = "{*path}")] HttpRequest request, string? path)
    {
        var target = "/" + (path ?? "");
        var allowed = Routes.Where(r => r.Route.TryMatch(target, new RouteValueDictionary())).SelectMany(r => r.Methods).Distinct().ToArray();
        if (allowed.Length == 0)
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound);
        request.HttpContext.Response.Headers.Allow = string.Join(", ", allowed);
        return TypedResults.Problem(statusCode: StatusCodes.Status405MethodNotAllowed);
    }
}
