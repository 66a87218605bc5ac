using Droplets;
using Droplets.Catalog;
using Droplets.Http;
using Droplets.VncConsole;

// The console gateway alone: redeems console tickets minted by the API (same storage, same
// Console__SigningKey) and relays VNC to the regions' clusters (same Catalog__Regions__* settings).
var builder = WebApplication.CreateBuilder(args);
builder.Configuration.AddDropletsCatalog();
builder.Services.AddDroplets(builder.Configuration);
builder.Services.AddConsoleGateway();

var app = builder.Build();
app.UseDropletsHttp();
app.UseWebSockets();
app.MapGet("/healthz", () => "ok");
app.MapConsoleGateway();
app.Run();
