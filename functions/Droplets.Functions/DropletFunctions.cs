using Droplets.Actions;
using Droplets.Catalog;
using Droplets.Droplets;
using Droplets.KubeVirt;
using Droplets.Provisioning;
using Droplets.Quotas;
using Droplets.SshKeys;
using Droplets.Volumes;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Options;

namespace Droplets.Functions;

// Routes are relative to host.json's routePrefix ("api"): the public URLs are /api/v1/droplets...
sealed class DropletFunctions(
    DropletStore store, SshKeyStore sshKeys, VolumeStore volumes, ActionStore actions, ActionStarter starter, IOptions<CatalogOptions> catalog,
    IOptions<ProvisioningOptions> provisioning, IOptions<ActionOptions> actionOptions, TenantNamespaces namespaces, IOptions<QuotaOptions> quotas)
{
    [Function("ListDroplets")]
    public async Task<IResult> List(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/droplets")] HttpRequest request, CancellationToken cancellationToken) =>
        await DropletsApi.ListAsync(request.HttpContext, store, cancellationToken);

    [Function("CreateDroplet")]
    public async Task<IResult> Create(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/droplets")] HttpRequest request,
        [DurableClient] DurableTaskClient workflows, CancellationToken cancellationToken) =>
        await CreateDroplet.HandleAsync(request, store, sshKeys, volumes, starter, workflows, catalog, provisioning, namespaces, quotas, cancellationToken);

    [Function("GetDroplet")]
    public async Task<IResult> Get(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/droplets/{id}")] HttpRequest request, string id, CancellationToken cancellationToken) =>
        await DropletsApi.GetAsync(id, request.HttpContext, store, cancellationToken);

    [Function("DestroyDroplet")]
    public async Task<IResult> Delete(
        [HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = "v1/droplets/{id}")] HttpRequest request, string id,
        [DurableClient] DurableTaskClient workflows, CancellationToken cancellationToken) =>
        await ActionsApi.DeleteAsync(id, request.HttpContext, store, starter, workflows, actionOptions, cancellationToken);

    [Function("PostDropletAction")]
    public async Task<IResult> PostAction(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/droplets/{id}/actions")] HttpRequest request, string id,
        [DurableClient] DurableTaskClient workflows, CancellationToken cancellationToken) =>
        await ActionsApi.PostAsync(id, request, store, starter, workflows, catalog, actionOptions, cancellationToken);

    [Function("ListDropletActions")]
    public async Task<IResult> ListActions(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/droplets/{id}/actions")] HttpRequest request, string id,
        [DurableClient] DurableTaskClient workflows, CancellationToken cancellationToken) =>
        await ActionsApi.ListAsync(id, request.HttpContext, actions, workflows, cancellationToken);

    [Function("GetAction")]
    public async Task<IResult> GetAction(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/actions/{id}")] HttpRequest request, string id,
        [DurableClient] DurableTaskClient workflows, CancellationToken cancellationToken) =>
        await ActionsApi.GetAsync(id, request.HttpContext, actions, workflows, cancellationToken);

    [Function("UpdateDroplet")]
    public async Task<IResult> Resize(
        [HttpTrigger(AuthorizationLevel.Anonymous, "patch", Route = "v1/droplets/{id}")] HttpRequest request, string id,
        [DurableClient] DurableTaskClient workflows, CancellationToken cancellationToken) =>
        await ActionsApi.ResizeAsync(id, request, store, starter, workflows, catalog, actionOptions, quotas, cancellationToken);
}
