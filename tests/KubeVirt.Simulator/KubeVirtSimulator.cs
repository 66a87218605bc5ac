using System.Text.Json.Nodes;
using KubeVirt.Simulator.Cluster;
using KubeVirt.Simulator.Controllers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace KubeVirt.Simulator;

// A cluster with KubeVirt, CDI and a LoadBalancer provider: a real kube-apiserver (KubeApiServer) with KubeVirt's
// and CDI's CRDs, and the simulator as KubeVirt's controllers (a client of that API server) and as virt-api. Its
// address (BaseAddress, plain HTTP on loopback) is the cluster's URL for clients: virt-api's subresources are
// answered here, after the API server's own authorization check; everything else goes to the API server untouched
// (a path-routing front, as an aggregated API would be routed), through the admin knobs' latency and errors.
public sealed class KubeVirtSimulator : IAsyncDisposable
{
    readonly WebApplication app;
    readonly Store store;
    readonly ControllerLoop controllers;
    readonly ClusterPool.Lease cluster;
    readonly FaultCount faults;
    readonly RequestHolds holds;

    KubeVirtSimulator(WebApplication app, ClusterPool.Lease cluster, Store store, ControllerLoop controllers, SimulatorOptions options, Uri baseAddress, AuditLog audit, FaultCount faults, RequestHolds holds)
    {
        Audit = audit;
        this.faults = faults;
        this.holds = holds;
        this.app = app;
        this.cluster = cluster;
        this.store = store;
        this.controllers = controllers;
        Options = options;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }
    public SimulatorOptions Options { get; }
    public AuditLog Audit { get; }

    // Holds the answer to the nth request `match` accepts (see RequestHold).
    public RequestHold Hold(Func<AuditEntry, bool> match, int nth = 1) => holds.Add(match, nth);

    // How many requests the fault injection (ErrorRate) has refused so far.
    public long InjectedFaults => faults.Value;

    // The API server itself (https, its own CA) and a token that may do anything there (system:masters).
    public Uri ApiServer => cluster.Server.BaseAddress;
    public string AdminToken => cluster.Server.AdminToken;
    public string CertificateAuthorityPem => cluster.Server.CertificateAuthority.ExportCertificatePem();

    public static async Task<KubeVirtSimulator> StartAsync(SimulatorOptions? options = null, string url = "http://127.0.0.1:0", CancellationToken cancellationToken = default)
    {
        options ??= new SimulatorOptions();
        var cluster = await ClusterPool.RentAsync(cancellationToken);
        var server = cluster.Server;
        try
        {
            var store = await Store.StartAsync(server, cancellationToken);

            // No configuration file watching: tests run many simulators in one process (inotify instances are few).
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
            builder.WebHost.UseUrls(url);
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Services.AddHttpForwarder();
            var app = builder.Build();

            var events = new EventRecorder(store);
            var subresources = new Subresources(store, options, app.Lifetime.ApplicationStopping);
            var stats = new DomainStats(store);
            var audit = new AuditLog();
            var requests = new RequestCounts();
            var faults = new FaultCount();
            app.UseAudit(audit, requests);
            app.UseWebSockets();
            app.UseFaultInjection(options, faults);
            var holds = new RequestHolds();
            app.UseHolds(holds);
            app.MapAdmin(options);
            app.MapMetrics(stats, requests);
            new VirtApi(subresources, server).Map(app);
            app.MapForwarder("/{**path}", server.BaseAddress.ToString(), ForwarderRequestConfig.Empty, HttpTransformer.Default,
                new HttpMessageInvoker(KubeApiServer.Handler()));

            var controllers = new ControllerLoop(store, options, events, stats, app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("KubeVirt.Simulator.Controllers"));
            await app.StartAsync(cancellationToken);
            controllers.Start();

            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new KubeVirtSimulator(app, cluster, store, controllers, options, new Uri(address.TrimEnd('/') + "/"), audit, faults, holds);
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    // The API server killed (SIGKILL) and started again on the same address, over the same etcd data; meanwhile the front
    // answers 502 and every watch through it is cut. The simulator's controllers list and watch again by themselves.
    public Task KillApiServerAsync() => cluster.Server.KillProcessAsync();

    public Task StartApiServerAsync(CancellationToken cancellationToken = default) => cluster.Server.StartProcessAsync(cancellationToken);

    // etcd compacted to its current revision (see KubeApiServer.CompactEtcdAsync).
    public Task<long> CompactEtcdAsync(CancellationToken cancellationToken = default) => cluster.Server.CompactEtcdAsync(cancellationToken);

    // What the simulator's informers hold (eventually what the API server has), cloned.
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
        await store.DisposeAsync();
        await cluster.DisposeAsync();
    }
}
