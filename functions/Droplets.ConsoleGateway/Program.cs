using Droplets;
using Droplets.Catalog;
using Droplets.Http;
using Droplets.VncConsole;

// The console gateway alone: redeems console tickets minted by the API (same storage account, table `consoletickets`
// only; same Console__SigningKey) and relays VNC to the regions' clusters (Catalog__Regions__*, with an identity that may
// only open the VMIs' vnc subresource: infra/k8s/console-gateway.yaml). It reads no other table and creates none.
var builder = WebApplication.CreateBuilder(args);
builder.Configuration.AddDropletsCatalog();
builder.Services.AddConsoleRelay(builder.Configuration);
builder.Services.AddConsoleGateway();

var app = builder.Build();
app.UseDropletsErrors();
app.UseWebSockets();
app.MapGet("/healthz", () => "ok");
app.MapConsoleGateway();
app.Run();
