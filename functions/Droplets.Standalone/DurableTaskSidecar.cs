using System.Net;
using System.Net.Sockets;
using DurableTask.AzureStorage;
using DurableTask.Core;
using Droplets;
using Droplets.Provisioning;
using Grpc.Net.Client;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Testing.Sidecar.Grpc;
using Microsoft.DurableTask.Worker;

namespace Droplets.Standalone;

// Durable workflows without the Functions host: DurableTask.AzureStorage (the engine and task-hub
// format Durable Functions uses) served in-process over gRPC, with the Durable Task SDK's worker and
// client connected to it. The gRPC endpoint is HTTP/2-only and bound to loopback, apart from the API.
public static class DurableTaskSidecar
{
    public static WebApplicationBuilder AddDurableTaskSidecar(this WebApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var grpcPort = configuration.GetValue("DurableTask:GrpcPort", 0) is > 0 and var port ? port : FreeLoopbackPort();

        // Explicit Kestrel endpoints replace --urls, so the public URLs are carried over here.
        var urls = (configuration["urls"] ?? configuration["ASPNETCORE_URLS"] ?? "http://localhost:7071").Split(';', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < urls.Length; i++)
        {
            configuration[$"Kestrel:Endpoints:Api{i}:Url"] = urls[i];
            configuration[$"Kestrel:Endpoints:Api{i}:Protocols"] = "Http1";
        }
        // Kestrel still logs that it is "overriding" --urls: harmless, every URL above is bound.
        configuration["Kestrel:Endpoints:DurableTask:Url"] = $"http://127.0.0.1:{grpcPort}";
        configuration["Kestrel:Endpoints:DurableTask:Protocols"] = "Http2";

        var settings = new AzureStorageOrchestrationServiceSettings
        {
            TaskHubName = configuration["DurableTask:HubName"] ?? "droplets",
            StorageAccountClientProvider = new StorageAccountClientProvider(Extensions.StorageConnectionString(configuration)),
            // A stable worker id lets a restarted process take its old leases at once instead of
            // waiting for them to expire.
            WorkerId = configuration["DurableTask:WorkerId"] ?? Environment.MachineName,
            // The default idles up to 30 s between queue polls; API users wait on these workflows.
            MaxQueuePollingInterval = configuration.GetValue("DurableTask:MaxQueuePollingInterval", TimeSpan.FromSeconds(1)),
            // A message taken by a process that then dies stays invisible this long before another
            // process picks it up (default 5 min). It must exceed the longest activity
            // (Provisioning:ObserveWait, 20 s); running an activity twice is harmless, they are idempotent.
            WorkItemQueueVisibilityTimeout = configuration.GetValue("DurableTask:VisibilityTimeout", TimeSpan.FromSeconds(45)),
            ControlQueueVisibilityTimeout = configuration.GetValue("DurableTask:VisibilityTimeout", TimeSpan.FromSeconds(45)),
            // Durable Functions' defaults (10 per core) rather than the engine's 10 per process: an activity that waits on
            // KubeVirt holds its slot for up to Provisioning:ObserveWait, so 10 in flight would cap the whole host.
            MaxConcurrentTaskActivityWorkItems = configuration.GetValue("DurableTask:MaxConcurrentActivities", 10 * Environment.ProcessorCount),
            MaxConcurrentTaskOrchestrationWorkItems = configuration.GetValue("DurableTask:MaxConcurrentOrchestrations", 10 * Environment.ProcessorCount),
        };
        var service = new AzureStorageOrchestrationService(settings);
        builder.Services.AddSingleton<IOrchestrationService>(provider => new ActivityRunGuard(service, provider.GetRequiredService<ILogger<ActivityRunGuard>>()));
        builder.Services.AddSingleton<IOrchestrationServiceClient>(service);
        builder.Services.AddHostedService(_ => new TaskHubCreator(service));
        builder.Services.AddSingleton<TaskHubGrpcServer>();
        builder.Services.AddGrpc();

        var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
        builder.Services.AddDurableTaskWorker(worker =>
        {
            worker.AddTasks(registry => registry.AddDropletWorkflows());
            worker.UseGrpc(channel);
        });
        builder.Services.AddDurableTaskClient(client =>
        {
            client.UseGrpc(channel);
            client.RegisterDirectly();
        });
        return builder;
    }

    public static WebApplication MapDurableTaskSidecar(this WebApplication app)
    {
        app.MapGrpcService<TaskHubGrpcServer>().RequireHost($"127.0.0.1:{new Uri(app.Configuration["Kestrel:Endpoints:DurableTask:Url"]!).Port}");
        return app;
    }

    static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    sealed class TaskHubCreator(AzureStorageOrchestrationService service) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => service.CreateIfNotExistsAsync();

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
