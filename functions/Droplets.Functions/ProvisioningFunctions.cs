using Droplets.Actions;
using Droplets.KubeVirt;
using Droplets.Provisioning;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace Droplets.Functions;

// The provisioning workflow under the same names the standalone host registers (Workflows.AddDropletWorkflows).
sealed class ProvisioningFunctions(ProvisioningActivities activities, ActionRecovery recovery)
{
    [Function(ProvisionDroplet.Name)]
    public static Task<ProvisionResult> Provision([OrchestrationTrigger] TaskOrchestrationContext context) =>
        ProvisionDroplet.RunAsync(context, context.GetInput<ProvisionInput>()!);

    [Function(ProvisionDroplet.CreateVirtualMachine)]
    public Task CreateVirtualMachine([ActivityTrigger] DropletRef droplet, CancellationToken cancellationToken) =>
        activities.CreateVirtualMachineAsync(droplet, cancellationToken);

    [Function(ProvisionDroplet.ObserveVirtualMachine)]
    public Task<VmObservation> ObserveVirtualMachine([ActivityTrigger] ObserveInput input, CancellationToken cancellationToken) =>
        activities.ObserveVirtualMachineAsync(input, cancellationToken);

    [Function(ProvisionDroplet.RecordProvisioning)]
    public Task RecordProvisioning([ActivityTrigger] ProvisionResult result, CancellationToken cancellationToken) =>
        activities.RecordProvisioningAsync(result, cancellationToken);

    // Functions has no DurableTaskClient in the container, only the [DurableClient] binding. The schedule is the
    // app setting Recovery:Schedule, an NCRONTAB expression: Flex Consumption runs timers only on cron schedules
    // (a TimeSpan such as Recovery:Interval works on App Service plans alone).
    [Function("RecoverActions")]
    public Task RecoverProvisioning([TimerTrigger("%Recovery:Schedule%")] TimerInfo timer, [DurableClient] DurableTaskClient workflows, CancellationToken cancellationToken) =>
        recovery.RunOnceAsync(workflows, cancellationToken);
}
