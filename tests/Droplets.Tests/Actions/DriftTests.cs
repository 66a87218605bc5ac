using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Droplets.Tests.Infrastructure;
using Droplets.Tests.Volumes;
using k8s;
using k8s.Models;
using KubeVirt.Simulator;

namespace Droplets.Tests.Actions;

// Drift no action explains, as the reconciler's drift report (Recovery:DriftInterval, 3 s here) finds it: a
// VirtualMachine deleted with kubectl, and a VirtualMachine labelled as a droplet that has no record.
public abstract class DriftTests(DropletsWorld world)
{
    public sealed class OnStandalone(DropletsWorld<StandaloneKind> world) : DriftTests(world), IClassFixture<DropletsWorld<StandaloneKind>>;

    public sealed class OnFunctions(DropletsWorld<FunctionsKind> world) : DriftTests(world), IClassFixture<DropletsWorld<FunctionsKind>>;

    readonly ApiHost host = world.Host;

    // As an operator would, with kubectl: straight to the region's API server as its admin.
    public static async Task DeleteVmBehindTheApiAsync(KubeVirtSimulator region, string project, string id)
    {
        using var admin = TestRegion.Admin(region);
        await admin.CustomObjects.DeleteNamespacedCustomObjectAsync("kubevirt.io", "v1", KubeNames.Namespace(project), "virtualmachines", KubeNames.Object(id));
        await Eventually.HoldsAsync(() => Task.FromResult(region.Vm(project, id)), vm => vm is null, TimeSpan.FromSeconds(30), $"the VirtualMachine of {id} to be gone");
    }

    // The droplet is in error (vm_missing), unlocked, and its events carry the reconciler's warning.
    public static async Task ReportedMissingAsync(ApiHost host, string id)
    {
        var broken = await Eventually.HoldsAsync(() => host.GetDropletAsync(id), d => d.GetProperty("status").GetString() == "error",
            TimeSpan.FromSeconds(60), $"droplet {id} to be in error");
        Assert.Equal("vm_missing", broken.GetProperty("error").GetProperty("code").GetString());
        Assert.False(broken.GetProperty("locked").GetBoolean());
        var events = await host.Client.GetFromJsonAsync<JsonElement[]>($"api/v1/droplets/{id}/events");
        var warning = Assert.Single(events!, e => e.GetProperty("reason").GetString() == "VirtualMachineMissing");
        Assert.Equal("Warning", warning.GetProperty("type").GetString());
        Assert.Equal("kubernetes", warning.GetProperty("origin").GetString());
        Assert.Equal(broken.GetProperty("error").GetProperty("message").GetString(), warning.GetProperty("message").GetString());
    }

    [Fact]
    public async Task A_droplet_whose_virtual_machine_was_deleted_outside_the_api_is_in_error_with_a_warning_and_can_be_deleted()
    {
        var project = Repository.UniqueName("p");
        var id = await host.RunningDropletAsync(project);
        var other = await host.RunningDropletAsync(project);

        await DeleteVmBehindTheApiAsync(world.Nyc1, project, id);
        await ReportedMissingAsync(host, id);
        // Reported once, however many sweeps see it.
        var events = await host.Client.GetFromJsonAsync<JsonElement[]>($"api/v1/droplets/{id}/events");
        Assert.Single(events!, e => e.GetProperty("reason").GetString() == "VirtualMachineMissing");
        // The droplet beside it is untouched.
        Assert.Equal("running", (await host.GetDropletAsync(other)).GetProperty("status").GetString());

        var delete = await host.Client.DeleteAsync($"api/v1/droplets/{id}");
        Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        var done = await host.WaitForActionAsync((await delete.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
        Assert.True(done.GetProperty("status").GetString() == "completed", done.ToString());
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync($"api/v1/droplets/{id}")).StatusCode);
    }

    [Fact]
    public async Task A_virtual_machine_labelled_as_a_droplet_without_a_record_is_left_alone_and_reported()
    {
        var project = Repository.UniqueName("p");
        var id = await host.RunningDropletAsync(project);
        var ns = KubeNames.Namespace(project);
        var stray = "dpl_" + Guid.NewGuid().ToString("N")[..12];
        var name = KubeNames.Object(stray);

        // A copy of a droplet's VM, halted and without disks, labelled as a droplet the API never made.
        var vm = world.Nyc1.Vm(project, id)!.DeepClone().AsObject();
        vm["metadata"] = new JsonObject
        {
            ["name"] = name,
            ["namespace"] = ns,
            ["labels"] = new JsonObject { ["droplets.dev/droplet-id"] = stray, ["droplets.dev/project-id"] = project },
        };
        vm.Remove("status");
        var spec = vm["spec"]!.AsObject();
        spec.Remove("dataVolumeTemplates");
        spec["runStrategy"] = "Halted";
        var template = spec["template"]!["spec"]!.AsObject();
        template.Remove("volumes");
        template["domain"]!["devices"]!["disks"] = new JsonArray();
        template["domain"]!["devices"]!.AsObject().Remove("interfaces");
        template.Remove("networks");
        using var admin = TestRegion.Admin(world.Nyc1);
        await admin.CustomObjects.CreateNamespacedCustomObjectAsync(vm, "kubevirt.io", "v1", ns, "virtualmachines");

        var warning = await Eventually.HoldsAsync(
            async () => (await admin.CoreV1.ListNamespacedEventAsync(ns, fieldSelector: $"involvedObject.kind=VirtualMachine,involvedObject.name={name}")).Items,
            items => items.Any(e => e.Reason == "DropletMissing"), TimeSpan.FromSeconds(60), $"a DropletMissing event on {name}");
        var missing = warning.Single(e => e.Reason == "DropletMissing");
        Assert.Equal("Warning", missing.Type);
        Assert.Contains(stray, missing.Message);
        Assert.Equal("droplets", missing.Source.Component);
        // Left alone: still there, and the API knows nothing of it.
        Assert.NotNull(world.Nyc1.Vm(project, stray));
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync($"api/v1/droplets/{stray}")).StatusCode);
        Assert.Equal("running", (await host.GetDropletAsync(id)).GetProperty("status").GetString());
    }
}
