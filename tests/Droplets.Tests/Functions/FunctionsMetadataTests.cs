using System.Text.Json;
using Droplets.Catalog;
using Droplets.Droplets;
using Droplets.Provisioning;
using Droplets.Standalone;
using Droplets.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.DurableTask;

namespace Droplets.Tests.Functions;

// A cheap check at build time, before the end-to-end suite runs the app on the real Functions host: the
// functions.metadata the Worker SDK writes and the host.json copied next to it. Both hosts must expose the
// same API routes and the same workflow names.
public class FunctionsMetadataTests
{
    static readonly JsonDocumentOptions Lenient = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    [Fact]
    public void Http_functions_expose_exactly_the_standalone_api_routes()
    {
        var prefix = RoutePrefix();
        // NoRoute, the catch-all that answers 404 and 405 as the standalone host's routing does, is no route of the API.
        var functions = HttpTriggers()
            .Where(t => t.GetProperty("route").GetString() != "{*path}")
            .SelectMany(t => Methods(t).Select(m => Route(m, $"{prefix}/{t.GetProperty("route").GetString()}")))
            .ToHashSet();

        Assert.NotEmpty(functions);
        Assert.Equal(Sorted(StandaloneApiRoutes()), Sorted(functions));
    }

    // The host tries HTTP routes in the order of the functions' names (FunctionMetadataManager sorts them, ordinal
    // ignoring case), so the catch-all must come last or it would take the requests of the functions after it.
    [Fact]
    public void The_catch_all_route_is_the_last_function_the_host_tries()
    {
        var names = Bindings().Select(b => b.Function).Distinct().Order(StringComparer.OrdinalIgnoreCase).ToList();
        var catchAll = Bindings().Single(b => b.Binding.GetProperty("type").GetString() == "httpTrigger" && b.Binding.GetProperty("route").GetString() == "{*path}").Function;

        Assert.Equal(catchAll, names[^1]);
    }

    [Fact]
    public void Workflow_functions_match_the_standalone_registrations()
    {
        var registry = new DurableTaskRegistry().AddDropletWorkflows();

        Assert.Contains(ProvisionDroplet.Name, FunctionsTriggeredBy("orchestrationTrigger"));
        Assert.Equal(Sorted(registry.GetOrchestrators().Select(o => o.Key.Name)), Sorted(FunctionsTriggeredBy("orchestrationTrigger")));
        Assert.Equal(Sorted(registry.GetActivities().Select(a => a.Key.Name)), Sorted(FunctionsTriggeredBy("activityTrigger")));
    }

    [Fact]
    public void Http_functions_are_anonymous()
    {
        Assert.All(HttpTriggers(), t => Assert.Equal("anonymous", t.GetProperty("authLevel").GetString(), ignoreCase: true));
    }

    // The same service and route wiring the standalone Program.cs runs, built but never started.
    static HashSet<string> StandaloneApiRoutes()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration["AzureWebJobsStorage"] = "UseDevelopmentStorage=true";
        builder.Configuration.AddDropletsCatalog();
        builder.Services.AddDroplets(builder.Configuration);
        builder.AddDurableTaskSidecar();
        using var app = builder.Build();
        app.MapDropletsApi();

        return ((IEndpointRouteBuilder)app).DataSources
            .SelectMany(source => source.Endpoints)
            .OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["*"]).Select(m => Route(m, e.RoutePattern)))
            .Where(route => route.Contains(" /api/", StringComparison.Ordinal))
            .ToHashSet();
    }

    // "GET /api/v1/droplets/{id}": upper-case method, lower-case literals, parameters by name only
    // (constraints, defaults and optional markers dropped), so both hosts' syntaxes compare equal.
    static string Route(string method, string template) => Route(method, RoutePatternFactory.Parse(template.Trim('/')));

    static string Route(string method, RoutePattern pattern) =>
        method.ToUpperInvariant() + " /" + string.Join('/', pattern.PathSegments.Select(segment => string.Concat(segment.Parts.Select(part => part switch
        {
            RoutePatternLiteralPart literal => literal.Content.ToLowerInvariant(),
            RoutePatternSeparatorPart separator => separator.Content,
            RoutePatternParameterPart parameter => $"{{{parameter.Name}}}",
            _ => throw new NotSupportedException(part.GetType().Name),
        }))));

    static IEnumerable<string> Methods(JsonElement trigger) =>
        trigger.TryGetProperty("methods", out var methods) && methods.ValueKind == JsonValueKind.Array
            ? methods.EnumerateArray().Select(m => m.GetString()!)
            : ["*"];

    // host.json's extensions.http.routePrefix, "api" when unset, as the Functions host reads it.
    static string RoutePrefix()
    {
        using var host = JsonDocument.Parse(File.ReadAllText(Repository.Output("functions/Droplets.Functions", "host.json")), Lenient);
        return host.RootElement.TryGetProperty("extensions", out var extensions)
            && extensions.TryGetProperty("http", out var http)
            && http.TryGetProperty("routePrefix", out var prefix)
                ? prefix.GetString()!.Trim('/')
                : "api";
    }

    static IEnumerable<JsonElement> HttpTriggers() => Bindings().Where(b => b.Binding.GetProperty("type").GetString() == "httpTrigger").Select(b => b.Binding);

    static IEnumerable<string> FunctionsTriggeredBy(string type) => Bindings().Where(b => b.Binding.GetProperty("type").GetString() == type).Select(b => b.Function);

    static IEnumerable<(string Function, JsonElement Binding)> Bindings()
    {
        var path = Repository.Output("functions/Droplets.Functions", "functions.metadata");
        Assert.True(File.Exists(path), $"{path} is missing: build functions/Droplets.Functions first.");
        using var metadata = JsonDocument.Parse(File.ReadAllText(path), Lenient);
        return metadata.RootElement.EnumerateArray()
            .SelectMany(f => f.GetProperty("bindings").EnumerateArray().Select(b => (f.GetProperty("name").GetString()!, b.Clone())))
            .ToList();
    }

    static List<string> Sorted(IEnumerable<string> values) => values.Order(StringComparer.Ordinal).ToList();
}
