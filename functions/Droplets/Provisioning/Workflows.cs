using Microsoft.DurableTask;
using Microsoft.Extensions.DependencyInjection;

namespace Droplets.Provisioning;

// Registers every workflow and activity under the names the Functions app uses too, for hosts that run
// the Durable Task SDK directly (the standalone host and tests).
public static class Workflows
{
    public static DurableTaskRegistry AddDropletWorkflows(this DurableTaskRegistry registry) => registry
        .AddOrchestratorFunc<ProvisionInput, ProvisionResult>(ProvisionDroplet.Name, ProvisionDroplet.RunAsync)
        .AddActivity<ProvisioningActivities, DropletRef, bool>(ProvisionDroplet.CreateVirtualMachine, async (a, input, ct) =>
        {
            await a.CreateVirtualMachineAsync(input, ct);
            return true;
        })
        .AddActivity<ProvisioningActivities, ObserveInput, KubeVirt.VmObservation>(ProvisionDroplet.ObserveVirtualMachine, (a, input, ct) => a.ObserveVirtualMachineAsync(input, ct))
        .AddActivity<ProvisioningActivities, ProvisionResult, bool>(ProvisionDroplet.RecordProvisioning, async (a, input, ct) =>
        {
            await a.RecordProvisioningAsync(input, ct);
            return true;
        });

    static DurableTaskRegistry AddActivity<TService, TIn, TOut>(this DurableTaskRegistry registry, string name, Func<TService, TIn, CancellationToken, Task<TOut>> run)
        where TService : notnull =>
        registry.AddActivity(name, services => new ServiceActivity<TService, TIn, TOut>(services.GetRequiredService<TService>(), run));

    sealed class ServiceActivity<TService, TIn, TOut>(TService service, Func<TService, TIn, CancellationToken, Task<TOut>> run) : TaskActivity<TIn, TOut>
    {
        public override Task<TOut> RunAsync(TaskActivityContext context, TIn input) => run(service, input, CancellationToken.None);
    }
}
