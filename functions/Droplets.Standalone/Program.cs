using Droplets;
using Droplets.Catalog;
using Droplets.Droplets;
using Droplets.Http;
using Droplets.Actions;
using Droplets.Standalone;
using Droplets.VncConsole;

var builder = WebApplication.CreateBuilder(args);
builder.Configuration.AddDropletsCatalog();
builder.Services.AddDroplets(builder.Configuration);
builder.Services.AddConsoleGateway();
builder.AddDurableTaskSidecar();
builder.Services.AddHostedService<ActionRecoveryService>();
builder.Services.AddHostedService<StorageWatchdog>();
builder.Services.AddWorkflowManagement();
// SIGTERM: hosted services and open requests get at most 8 s, inside the usual grace of Kubernetes and systemd. They
// stop together: Kestrel waits for open requests, and one of them is the Durable worker's work-item stream, which
// ends only when the worker stops.
builder.Services.Configure<HostOptions>(options =>
{
    options.ShutdownTimeout = TimeSpan.FromSeconds(8);
    options.ServicesStopConcurrently = true;
});

var app = builder.Build();
app.UseDropletsHttp();
app.UseWebSockets();
app.MapGet("/healthz", () => "ok");
app.MapDropletsApi();
app.MapWorkflowManagement();
app.MapConsoleGateway();
app.MapDurableTaskSidecar();
app.Run();

public partial class Program;
