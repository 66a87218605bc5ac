using Azure.Data.Tables;
using Droplets.Actions;
using Droplets.Auth;
using Droplets.Catalog;
using Droplets.Droplets;
using Droplets.Events;
using Droplets.Metrics;
using Droplets.VncConsole;
using Droplets.Http;
using Droplets.KubeVirt;
using Droplets.Quotas;
using Droplets.Provisioning;
using Droplets.SshKeys;
using Droplets.Volumes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Droplets;

// Everything the product needs in a container, for both hosts. Setting names are the same everywhere:
// AzureWebJobsStorage, Catalog:*, Provisioning:*, Recovery:*, Droplets:TablePrefix.
public static class Extensions
{
    public static IServiceCollection AddDroplets(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddConsoleRelay(configuration);
        services.Configure<ProvisioningOptions>(configuration.GetSection("Provisioning"));
        services.Configure<RecoveryOptions>(configuration.GetSection("Recovery"));
        services.Configure<ActionOptions>(configuration.GetSection("Actions"));
        services.Configure<MetricsOptions>(configuration.GetSection("Metrics"));
        services.AddOptions<AuthOptions>().Bind(configuration.GetSection("Auth"))
            .Validate(o => string.IsNullOrEmpty(o.AdminToken) || o.AdminToken.Length >= 32, "Auth:AdminToken must be at least 32 characters.")
            .ValidateOnStart();
        services.AddOptions<NamespaceOptions>().Bind(configuration.GetSection("Namespaces"))
            .Validate(o => TenantNamespaces.IsValidPrefix(o.Prefix), TenantNamespaces.PrefixRule)
            .ValidateOnStart();
        services.AddSingleton<TenantNamespaces>();
        services.AddOptions<Quotas.QuotaOptions>().Bind(configuration.GetSection("Quotas"))
            .Validate(o => o.IsValid(), "Quotas: every limit must be 0 or more, and each Quotas:Projects key a project id.")
            .ValidateOnStart();
        services.AddSingleton<DropletStore>();
        services.AddSingleton<SshKeyStore>();
        services.AddSingleton<VolumeStore>();
        services.AddSingleton<TokenStore>();
        services.AddSingleton<Authenticator>();
        services.AddSingleton<RateLimiter>();
        services.AddSingleton<ApiGate>();
        services.AddSingleton<PrometheusClient>();
        services.AddSingleton<Poller>();
        services.AddHostedService<ClusterWatches>();
        services.AddSingleton<ProvisioningActivities>();
        services.AddSingleton<ActionStore>();
        services.AddSingleton<ActionStarter>();
        services.AddSingleton<Idempotency>();
        services.AddSingleton<Idempotency.Filter>();
        services.AddSingleton<ActionActivities>();
        services.AddSingleton<ResizeActivities>();
        services.AddSingleton<RebuildActivities>();
        services.AddSingleton<VolumeActivities>();
        services.AddSingleton<ActionRecovery>();
        services.AddSingleton<DriftReport>();
        services.AddHostedService<StoreInitializer>();
        return services;
    }

    // What the console gateway needs, and no more: the regions' Kubernetes clients (for the VMIs' vnc subresource), the
    // console tickets (table `consoletickets`) and the HTTP conventions. The API adds the rest; Droplets.ConsoleGateway
    // runs on this alone, so it holds no other table's client and creates no table.
    public static IServiceCollection AddConsoleRelay(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<CatalogOptions>().Bind(configuration.GetSection("Catalog")).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CatalogOptions>, CatalogValidation>();
        services.AddOptions<ConsoleOptions>().Bind(configuration.GetSection("Console"))
            .Validate(o => string.IsNullOrEmpty(o.SigningKey) || o.SigningKey.Length >= 32, "Console:SigningKey must be at least 32 characters.")
            .ValidateOnStart();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(_ => Storage.Tables(configuration));
        services.AddSingleton(new StoreOptions { TablePrefix = configuration["Droplets:TablePrefix"] ?? "" });
        services.AddSingleton<KubeVirtClients>();
        services.AddSingleton<ConsoleTickets>();
        services.AddSingleton<ConsoleSessions>();

        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.DictionaryKeyPolicy = null;
            o.SerializerOptions.Converters.Add(new UtcTimestampConverter());
        });
        services.AddProblemDetails(o => o.CustomizeProblemDetails = c =>
        {
            c.ProblemDetails.Extensions.TryAdd("code", Problems.CodeFor(c.ProblemDetails.Status ?? c.HttpContext.Response.StatusCode));
            c.ProblemDetails.Extensions["request_id"] = c.HttpContext.TraceIdentifier;
            c.ProblemDetails.Extensions.Remove("traceId");
        });
        return services;
    }

    // Every /api/v1 route, for hosts with ASP.NET Core routing.
    public static IEndpointRouteBuilder MapDropletsApi(this IEndpointRouteBuilder app) => app
        .MapDropletEndpoints()
        .MapActionEndpoints()
        .MapVolumeEndpoints()
        .MapEventEndpoints()
        .MapMetricsEndpoints()
        .MapConsoleEndpoints()
        .MapSshKeyEndpoints()
        .MapCatalogEndpoints()
        .MapTokenEndpoints()
        .MapQuotaEndpoints();

    public static string StorageConnectionString(IConfiguration configuration) =>
        configuration["AzureWebJobsStorage"] is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException("Set AzureWebJobsStorage to a storage connection string (UseDevelopmentStorage=true for Azurite).");
}
