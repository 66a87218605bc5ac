using Droplets;
using Droplets.Catalog;
using Droplets.Functions;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.Configuration.AddDropletsCatalog();
builder.Services.AddDroplets(builder.Configuration);
builder.UseMiddleware<HttpMiddleware>();

builder.Build().Run();
