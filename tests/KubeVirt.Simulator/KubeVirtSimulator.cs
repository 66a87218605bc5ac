using System.Text.Json.Nodes;
using KubeVirt.Simulator.Controllers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KubeVirt.Simulator;

// A fake Kubernetes API server with KubeVirt, CDI and a LoadBalancer provider behind it, on a real Kestrel port.
public sealed class KubeVirtSimulator : IAsyncDisposable
{
    readonly WebApplication app;
    readonly Store store;
    readonly ControllerLoop controllers;

    KubeVirtSimulator(WebApplication app, Store store, ControllerLoop controllers, SimulatorOptions options, Uri baseAddress, AuditLog audit)
    {
        Audit = audit;
        this.app = app;
        this.store = store;
        this.controllers = controllers;
        Options = options;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }
    public SimulatorOptions Options { get; }
    public AuditLog Audit { get; }

    public static async Task<KubeVirtSimulator> StartAsync(SimulatorOptions? options = null, string url = "http://127.0.0.1:0", CancellationToken cancellationToken = default)
    {
        options ??= new SimulatorOptions();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(url);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);

        var app = builder.Build();
        var store = new Store();
        foreach (var ns in new[] { "default", "kube-system", "kube-public" })
        {
            var obj = new JsonObject { ["metadata"] = new JsonObject { ["name"] = ns } };
            store.Create(Resources.Namespaces, obj, o => Validation.Admit(Resources.Namespaces, o, store));
        }
        var events = new EventRecorder(store);
        var subresources = new Subresources(store, options, app.Lifetime.ApplicationStopping);
        var stats = new DomainStats(store);

        var audit = new AuditLog();
        app.UseAudit(audit);
        app.UseWebSockets();
        app.UseFaultInjection(options);
        app.MapAdmin(options);
        app.MapMetrics(stats);
        app.MapOpenApi();
        new KubernetesApi(store, subresources).Map(app);

        var controllers = new ControllerLoop(store, options, events, stats, app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("KubeVirt.Simulator.Controllers"));
        await app.StartAsync(cancellationToken);
        controllers.Start();

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new KubeVirtSimulator(app, store, controllers, options, new Uri(address.TrimEnd('/') + "/"), audit);
    }

    public IReadOnlyList<JsonObject> List(string resource, string? @namespace = null) =>
        store.List(Type(resource), @namespace).Items;

    public JsonObject? Get(string resource, string @namespace, string name)
    {
        var type = Type(resource);
        return store.Get(type, type.Namespaced ? @namespace : null, name);
    }

    static ResourceType Type(string resource) =>
        Resources.ByPlural(resource) ?? throw new ArgumentException($"unknown resource '{resource}'", nameof(resource));

    public async ValueTask DisposeAsync()
    {
        await controllers.DisposeAsync();
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
