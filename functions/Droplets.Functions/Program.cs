using Droplets;
using Droplets.Actions;
using Droplets.Catalog;
using Droplets.Functions;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.Configuration.AddDropletsCatalog();
builder.Services.AddDroplets(builder.Configuration);
builder.UseMiddleware<HttpMiddleware>();
// Accepted actions link Durable Functions' own status and terminate endpoints of their workflow, without the key.
builder.Services.AddSingleton<WorkflowLinker>((_, workflows, instanceId) =>
    workflows.CreateHttpManagementPayload(instanceId) is { StatusQueryGetUri: { } status, TerminatePostUri: { } terminate }
        ? WorkflowLinks.Header(status, terminate)
        : null);

builder.Build().Run();
