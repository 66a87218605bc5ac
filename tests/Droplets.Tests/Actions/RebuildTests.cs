using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Droplets.Tests.Infrastructure;
using Droplets.Tests.Volumes;
using k8s;
using static Droplets.Tests.SshKeys.TestKeys;

namespace Droplets.Tests.Actions;

// POST /droplets/{id}/actions {"type":"rebuild","image"}: a fresh root disk from the image, everything else kept.
public abstract class RebuildTests(DropletsWorld world)
{
    public sealed class OnStandalone(DropletsWorld<StandaloneKind> world) : RebuildTests(world), IClassFixture<DropletsWorld<StandaloneKind>>;

    public sealed class OnFunctions(DropletsWorld<FunctionsKind> world) : RebuildTests(world), IClassFixture<DropletsWorld<FunctionsKind>>;

    readonly ApiHost host = world.Host;

    async Task<(HttpResponseMessage Response, JsonElement Body)> RebuildAsync(string id, object body)
    {
        var response = await host.Client.PostAsJsonAsync($"api/v1/droplets/{id}/actions", body);
        return (response, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    async Task<JsonElement> CompleteRebuildAsync(string id, string image)
    {
        var (response, action) = await RebuildAsync(id, new { type = "rebuild", image });
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, action.ToString());
        Assert.Equal("rebuild", action.GetProperty("type").GetString());
        return await host.WaitForActionAsync(action.GetProperty("id").GetString()!);
    }

    JsonObject RootDisk(string project, string id) => world.Nyc1.Get("datavolumes", KubeNames.Namespace(project), KubeNames.Object(id) + "-root")!;

    static string Uid(JsonNode obj) => obj["metadata"]!["uid"]!.GetValue<string>();

    static string UserData(JsonObject vm) => vm["spec"]!["template"]!["spec"]!["volumes"]!.AsArray()
        .Single(v => v!["cloudInitNoCloud"] is not null)!["cloudInitNoCloud"]!["userData"]!.GetValue<string>();

    [Fact]
    public async Task A_rebuild_makes_the_root_disk_again_from_the_new_image_and_keeps_everything_else()
    {
        var project = Repository.UniqueName("p");
        var keyResponse = await host.Client.PostAsJsonAsync("api/v1/ssh_keys", new { name = "k", public_key = Ed25519.Line, project_id = project });
        var key = (await keyResponse.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var volume = await host.AvailableVolumeAsync(project);
        var id = (await host.CreateDropletAsync(new
        {
            name = "rebuilt", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project,
            ssh_key_ids = new[] { key }, user_data = "#cloud-config\nruncmd:\n  - [touch, /etc/rebuilt]\n", volume_ids = new[] { volume },
        })).GetProperty("id").GetString()!;
        var before = await host.WaitForStatusAsync(id, "running");
        var oldDisk = RootDisk(project, id);
        var oldVmi = world.Nyc1.Vmi(project, id)!;
        var userData = UserData(world.Nyc1.Vm(project, id)!);

        // Bad requests change nothing.
        var (missing, missingProblem) = await RebuildAsync(id, new { type = "rebuild" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, missing.StatusCode);
        Assert.Equal("image is required.", missingProblem.GetProperty("errors").GetProperty("image")[0].GetString());
        var (unknown, unknownProblem) = await RebuildAsync(id, new { type = "rebuild", image = "windows-95" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unknown.StatusCode);
        Assert.Equal("unknown image 'windows-95'.", unknownProblem.GetProperty("errors").GetProperty("image")[0].GetString());
        var (typed, _) = await RebuildAsync(id, new { type = "rebuild", image = 7 });
        Assert.Equal(HttpStatusCode.BadRequest, typed.StatusCode);
        var (stray, strayProblem) = await RebuildAsync(id, new { type = "reboot", image = "ubuntu-24-04" });
        Assert.Equal(HttpStatusCode.BadRequest, stray.StatusCode);
        Assert.Equal("Unknown field 'image'.", strayProblem.GetProperty("detail").GetString());
        var unchanged = await host.GetDropletAsync(id);
        Assert.Equal("running", unchanged.GetProperty("status").GetString());
        Assert.False(unchanged.GetProperty("locked").GetBoolean());

        var (accepted, action) = await RebuildAsync(id, new { type = "rebuild", image = "ubuntu-24-04" });
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        Assert.Equal($"/api/v1/actions/{action.GetProperty("id").GetString()}", accepted.Headers.GetValues("Operation-Location").Single());
        Assert.Equal("rebuilding", (await host.GetDropletAsync(id)).GetProperty("status").GetString());
        var done = await host.WaitForActionAsync(action.GetProperty("id").GetString()!);
        Assert.True(done.GetProperty("status").GetString() == "completed", done.ToString());

        var after = await host.GetDropletAsync(id);
        Assert.Equal("running", after.GetProperty("status").GetString());
        Assert.Equal("ubuntu-24-04", after.GetProperty("image").GetString());
        Assert.False(after.GetProperty("locked").GetBoolean());
        foreach (var kept in new[] { "id", "name", "plan_id", "region", "public_ip", "ssh_key_ids", "volume_ids", "vcpus", "memory", "disk", "created_at" })
            Assert.Equal(before.GetProperty(kept).ToString(), after.GetProperty(kept).ToString());

        // A new disk from the new image at the droplet's size, a new VMI booting from it, the same cloud-init and the volume still there.
        var newDisk = RootDisk(project, id);
        Assert.NotEqual(Uid(oldDisk), Uid(newDisk));
        Assert.Equal("docker://quay.io/containerdisks/ubuntu:24.04", newDisk["spec"]!["source"]!["registry"]!["url"]!.GetValue<string>());
        Assert.Equal(oldDisk["spec"]!["storage"]!.ToJsonString(), newDisk["spec"]!["storage"]!.ToJsonString());
        Assert.Equal("Succeeded", newDisk["status"]!["phase"]!.GetValue<string>());
        var vmi = world.Nyc1.Vmi(project, id)!;
        Assert.NotEqual(Uid(oldVmi), Uid(vmi));
        Assert.Equal("Running", vmi["status"]!["phase"]!.GetValue<string>());
        Assert.Equal(userData, UserData(world.Nyc1.Vm(project, id)!));
        Assert.True(world.Nyc1.TemplateHas(project, id, volume));
        Assert.Equal("attached", (await host.GetVolumeAsync(volume)).GetProperty("status").GetString());
        Assert.Equal("Always", world.Nyc1.Vm(project, id)!["spec"]!["runStrategy"]!.GetValue<string>());

        var events = await host.Client.GetFromJsonAsync<JsonElement[]>($"api/v1/droplets/{id}/events");
        Assert.Contains(events!, e => e.GetProperty("reason").GetString() == "RebuildCompleted"
            && e.GetProperty("message").GetString() == "Rebuilt: the droplet is running from a fresh disk.");
    }

    [Fact]
    public async Task A_rebuild_from_an_image_that_cannot_be_pulled_ends_errored_and_another_rebuild_recovers_the_droplet()
    {
        var project = Repository.UniqueName("p");
        var id = await host.RunningDropletAsync(project);

        var failed = await CompleteRebuildAsync(id, "fedora-latest");
        Assert.True(failed.GetProperty("status").GetString() == "errored", failed.ToString());
        Assert.Equal("disk_import_failed", failed.GetProperty("error").GetProperty("code").GetString());
        var broken = await host.GetDropletAsync(id);
        Assert.Equal("error", broken.GetProperty("status").GetString());
        Assert.Equal("ubuntu-22-04", broken.GetProperty("image").GetString());
        Assert.False(broken.GetProperty("locked").GetBoolean());

        // From error, a rebuild is allowed: it replaces the disk that failed.
        var recovered = await CompleteRebuildAsync(id, "debian-12");
        Assert.True(recovered.GetProperty("status").GetString() == "completed", recovered.ToString());
        var running = await host.GetDropletAsync(id);
        Assert.Equal("running", running.GetProperty("status").GetString());
        Assert.Equal("debian-12", running.GetProperty("image").GetString());
        Assert.False(running.TryGetProperty("error", out _));
        Assert.Equal("docker://quay.io/containerdisks/debian:12", RootDisk(project, id)["spec"]!["source"]!["registry"]!["url"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_stopped_droplet_is_rebuilt_and_runs()
    {
        var project = Repository.UniqueName("p");
        var id = await host.RunningDropletAsync(project);
        var (off, offAction) = await RebuildAsync(id, new { type = "power_off" });
        Assert.Equal(HttpStatusCode.Accepted, off.StatusCode);
        await host.WaitForActionAsync(offAction.GetProperty("id").GetString()!);
        Assert.Equal("stopped", (await host.GetDropletAsync(id)).GetProperty("status").GetString());

        var done = await CompleteRebuildAsync(id, "ubuntu-24-04");
        Assert.True(done.GetProperty("status").GetString() == "completed", done.ToString());
        var after = await host.GetDropletAsync(id);
        Assert.Equal("running", after.GetProperty("status").GetString());
        Assert.NotNull(after.GetProperty("private_ip").GetString());
    }

    // The VM controller's VM and DataVolume caches are separate watches: when the old disk's deletion reaches it before
    // the VM without the template does, it makes the disk again from the template it still sees (vm.go handleDataVolumes
    // creates every templated DataVolume it does not find). Here that DataVolume is made while the region is held by
    // 500s between the product's removal of the old disk and its next call; the rebuild must still complete.
    [Fact]
    public async Task A_root_disk_made_again_from_the_removed_template_goes_too_and_the_rebuild_completes()
    {
        var project = Repository.UniqueName("p");
        var id = await host.RunningDropletAsync(project);
        var ns = KubeNames.Namespace(project);
        var name = KubeNames.Object(id) + "-root";
        var oldDisk = RootDisk(project, id);
        var region = world.Nyc1;
        JsonObject stale;
        string actionId;
        // Every call of the product's takes a second, so it cannot have moved on before the fault below holds it.
        region.Options.Latency = TimeSpan.FromSeconds(1);
        try
        {
            var (accepted, action) = await RebuildAsync(id, new { type = "rebuild", image = "ubuntu-24-04" });
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
            actionId = action.GetProperty("id").GetString()!;
            await Eventually.HoldsAsync(() => Task.FromResult((Vm: region.Vm(project, id), Disk: region.Get("datavolumes", ns, name))),
                x => x.Vm?["spec"]?["dataVolumeTemplates"] is null or JsonArray { Count: 0 } && (x.Disk is null || x.Disk["metadata"]?["deletionTimestamp"] is not null),
                TimeSpan.FromMinutes(1), "the old root disk's template and DataVolume to be removed");
            region.Options.ErrorRate = 1;

            await Eventually.HoldsAsync(() => Task.FromResult(region.Get("datavolumes", ns, name) ?? region.Get("persistentvolumeclaims", ns, name)),
                x => x is null, TimeSpan.FromMinutes(1), "the old root disk to be gone");
            using var admin = TestRegion.Admin(region);
            var made = new JsonObject
            {
                ["apiVersion"] = "cdi.kubevirt.io/v1beta1",
                ["kind"] = "DataVolume",
                ["metadata"] = new JsonObject
                {
                    ["name"] = name,
                    ["labels"] = oldDisk["metadata"]!["labels"]!.DeepClone(),
                    ["ownerReferences"] = oldDisk["metadata"]!["ownerReferences"]!.DeepClone(),
                },
                ["spec"] = oldDisk["spec"]!.DeepClone(),
            };
            stale = JsonNode.Parse(JsonSerializer.Serialize(await admin.CustomObjects.CreateNamespacedCustomObjectAsync(made, "cdi.kubevirt.io", "v1beta1", ns, "datavolumes")))!.AsObject();
        }
        finally
        {
            region.Options.ErrorRate = 0;
            region.Options.Latency = TimeSpan.Zero;
        }

        var done = await host.WaitForActionAsync(actionId, TimeSpan.FromMinutes(2));
        Assert.True(done.GetProperty("status").GetString() == "completed", done.ToString());
        var newDisk = RootDisk(project, id);
        Assert.NotEqual(Uid(stale), Uid(newDisk));
        Assert.Equal("docker://quay.io/containerdisks/ubuntu:24.04", newDisk["spec"]!["source"]!["registry"]!["url"]!.GetValue<string>());
        var after = await host.GetDropletAsync(id);
        Assert.Equal(("running", "ubuntu-24-04"), (after.GetProperty("status").GetString(), after.GetProperty("image").GetString()));
    }
}
