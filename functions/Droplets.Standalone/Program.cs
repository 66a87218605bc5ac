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
builder.AddDurableTaskSidecar();
builder.Services.AddHostedService<ActionRecoveryService>();
builder.Services.AddWorkflowManagement();

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
