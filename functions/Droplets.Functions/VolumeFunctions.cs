using Droplets.Actions;
using Droplets.Catalog;
using Droplets.Droplets;
using Droplets.KubeVirt;
using Droplets.Quotas;
using Droplets.Provisioning;
using Droplets.Volumes;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Options;

namespace Droplets.Functions;

// The volume routes and workflows under the same routes and names the standalone host uses.
sealed class VolumeFunctions(
    VolumeStore volumes, DropletStore droplets, ActionStore actions, ActionStarter starter, VolumeActivities activities,
    IOptions<CatalogOptions> catalog, IOptions<ActionOptions> actionOptions, TenantNamespaces namespaces, IOptions<QuotaOptions> quotas)
{
    [Function("ListVolumes")]
    public async Task<IResult> List(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/volumes")] HttpRequest request, CancellationToken cancellationToken) =>
        await VolumesApi.ListAsync(request.HttpContext, volumes, cancellationToken);

    [Function("CreateVolume")]
    public async Task<IResult> Create(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/volumes")] HttpRequest request,
        [DurableClient] DurableTaskClient workflows, CancellationToken cancellationToken) =>
        await CreateVolume.HandleAsync(request, volumes, starter, workflows, catalog, actionOptions, namespaces, quotas, cancellationToken);

    [Function("GetVolume")]
    public async Task<IResult> Get(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/volumes/{id}")] HttpRequest request, string id, CancellationToken cancellationToken) =>
        await VolumesApi.GetAsync(id, request.HttpContext, volumes, cancellationToken);

    [Function("DestroyVolume")]
    public async Task<IResult> Delete(
        [HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = "v1/volumes/{id}")] HttpRequest request, string id,
        [DurableClient] DurableTaskClient workflows, CancellationToken cancellationToken) =>
        await VolumeActionsApi.DeleteAsync(id, request.HttpContext, volumes, droplets, starter, workflows, actionOptions, cancellationToken);

    [Function("PostVolumeAction")]
    public async Task<IResult> PostAction(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/volumes/{id}/actions")] HttpRequest request, string id,
        [DurableClient] DurableTaskClient workflows, CancellationToken cancellationToken) =>
        await VolumeActionsApi.PostAsync(id, request, volumes, droplets, starter, workflows, actionOptions, quotas, cancellationToken);

    [Function("ListVolumeActions")]
    public async Task<IResult> ListActions(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/volumes/{id}/actions")] HttpRequest request, string id,
        [DurableClient] DurableTaskClient workflows, CancellationToken cancellationToken) =>
        await VolumeActionsApi.ListAsync(id, request.HttpContext, actions, workflows, cancellationToken);

    [Function(VolumeWorkflows.ProvisionVolume)]
    public static Task<VolumeOutcome> Provision([OrchestrationTrigger] TaskOrchestrationContext context) =>
        VolumeWorkflows.RunProvisionAsync(context, context.GetInput<VolumeActionInput>()!);

    [Function(VolumeWorkflows.DeleteVolume)]
    public static Task<VolumeOutcome> DeleteWorkflow([OrchestrationTrigger] TaskOrchestrationContext context) =>
        VolumeWorkflows.RunDeleteAsync(context, context.GetInput<VolumeActionInput>()!);

    [Function(VolumeWorkflows.AttachVolume)]
    public static Task<VolumeOutcome> Attach([OrchestrationTrigger] TaskOrchestrationContext context) =>
        VolumeWorkflows.RunAttachAsync(context, context.GetInput<VolumeActionInput>()!);

    [Function(VolumeWorkflows.DetachVolume)]
    public static Task<VolumeOutcome> Detach([OrchestrationTrigger] TaskOrchestrationContext context) =>
        VolumeWorkflows.RunDetachAsync(context, context.GetInput<VolumeActionInput>()!);

    [Function(VolumeWorkflows.ResizeVolume)]
    public static Task<VolumeOutcome> Resize([OrchestrationTrigger] TaskOrchestrationContext context) =>
        VolumeWorkflows.RunResizeAsync(context, context.GetInput<VolumeActionInput>()!);

    [Function(VolumeWorkflows.CreateVolumeClaim)]
    public Task CreateVolumeClaim([ActivityTrigger] VolumeRef volume, CancellationToken cancellationToken) => activities.CreateClaimAsync(volume, cancellationToken);

    [Function(VolumeWorkflows.ObserveVolumeClaim)]
    public Task<VolumeObservation> ObserveVolumeClaim([ActivityTrigger] VolumeObserveInput input, CancellationToken cancellationToken) =>
        activities.ObserveClaimAsync(input, cancellationToken);

    [Function(VolumeWorkflows.DeleteVolumeClaim)]
    public Task DeleteVolumeClaim([ActivityTrigger] VolumeRef volume, CancellationToken cancellationToken) => activities.DeleteClaimAsync(volume, cancellationToken);

    [Function(VolumeWorkflows.ObserveVolumeDeletion)]
    public Task<VolumeObservation> ObserveVolumeDeletion([ActivityTrigger] VolumeObserveInput input, CancellationToken cancellationToken) =>
        activities.ObserveDeletionAsync(input, cancellationToken);

    [Function(VolumeWorkflows.RemoveVolume)]
    public Task RemoveVolume([ActivityTrigger] VolumeOutcome outcome, CancellationToken cancellationToken) => activities.RemoveAsync(outcome, cancellationToken);

    [Function(VolumeWorkflows.TakeDropletForVolume)]
    public Task<string?> TakeDropletForVolume([ActivityTrigger] VolumeActionInput input, CancellationToken cancellationToken) =>
        activities.TakeDropletAsync(input, cancellationToken);

    [Function(VolumeWorkflows.RequestVolumeAttach)]
    public Task<string?> RequestVolumeAttach([ActivityTrigger] VolumeActionInput input, CancellationToken cancellationToken) =>
        activities.RequestAttachAsync(input, cancellationToken);

    [Function(VolumeWorkflows.RequestVolumeDetach)]
    public Task<string?> RequestVolumeDetach([ActivityTrigger] VolumeActionInput input, CancellationToken cancellationToken) =>
        activities.RequestDetachAsync(input, cancellationToken);

    [Function(VolumeWorkflows.ObserveVolumeAttachment)]
    public Task<VolumeObservation> ObserveVolumeAttachment([ActivityTrigger] VolumeObserveInput input, CancellationToken cancellationToken) =>
        activities.ObserveAttachmentAsync(input, cancellationToken);

    [Function(VolumeWorkflows.GrowVolumeClaim)]
    public Task<string?> GrowVolumeClaim([ActivityTrigger] VolumeActionInput input, CancellationToken cancellationToken) =>
        activities.GrowClaimAsync(input, cancellationToken);

    [Function(VolumeWorkflows.FinishVolumeAction)]
    public Task FinishVolumeAction([ActivityTrigger] VolumeOutcome outcome, CancellationToken cancellationToken) => activities.FinishAsync(outcome, cancellationToken);

    [Function(VolumeWorkflows.DetachDropletVolumes)]
    public Task DetachDropletVolumes([ActivityTrigger] DropletRef droplet, CancellationToken cancellationToken) =>
        activities.DetachDropletVolumesAsync(droplet, cancellationToken);
}
