using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Tests.Infrastructure;
using static Droplets.Tests.SshKeys.TestKeys;

namespace Droplets.Tests.Volumes;

// Everything a droplet is built from, in one: two SSH keys, user data and a volume. It boots with the keys and
// the user data in its cloud-init and the volume attached; deleting it leaves the volume available, claim and all.
public abstract class DropletBuildTests(DropletsWorld world)
{
    public sealed class OnStandalone(DropletsWorld<StandaloneKind> world) : DropletBuildTests(world), IClassFixture<DropletsWorld<StandaloneKind>>;

    public sealed class OnFunctions(DropletsWorld<FunctionsKind> world) : DropletBuildTests(world), IClassFixture<DropletsWorld<FunctionsKind>>;

    readonly ApiHost host = world.Host;

    async Task<string> KeyAsync(string line, string project)
    {
        var response = await host.Client.PostAsJsonAsync("api/v1/ssh_keys", new { name = "k", public_key = line, project_id = project });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task A_droplet_with_two_keys_user_data_and_a_volume_boots_with_all_of_them_and_its_deletion_frees_the_volume()
    {
        var project = Repository.UniqueName("p");
        var keys = new[] { await KeyAsync(Ed25519.Line, project), await KeyAsync(EcdsaP256.Line, project) };
        var volume = await host.AvailableVolumeAsync(project);
        const string userData = "#cloud-config\npackages:\n  - nginx\nruncmd:\n  - [systemctl, enable, --now, nginx]\n";

        var id = (await host.CreateDropletAsync(new
        {
            name = "built", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project,
            ssh_key_ids = keys, user_data = userData, volume_ids = new[] { volume },
        })).GetProperty("id").GetString()!;
        var running = await host.WaitForStatusAsync(id, "running");
        Assert.Equal("running", running.GetProperty("status").GetString());
        Assert.Equal(keys, running.GetProperty("ssh_key_ids").Ids());
        Assert.Equal([volume], running.GetProperty("volume_ids").Ids());

        // The cloud-init the VirtualMachine boots with: the user's document, kept, plus both keys.
        var cloudInit = world.Nyc1.Vm(project, id)!["spec"]!["template"]!["spec"]!["volumes"]!.AsArray()
            .Single(v => v!["cloudInitNoCloud"] is not null)!["cloudInitNoCloud"]!["userData"]!.GetValue<string>();
        Assert.StartsWith("#cloud-config\n", cloudInit, StringComparison.Ordinal);
        Assert.Contains("packages:\n  - nginx\nruncmd:\n  - [systemctl, enable, --now, nginx]\n", cloudInit, StringComparison.Ordinal);
        Assert.Contains(Ed25519.Line, cloudInit, StringComparison.Ordinal);
        Assert.Contains(EcdsaP256.Line, cloudInit, StringComparison.Ordinal);

        // The volume: a disk of the running VMI, and attached to this droplet.
        Assert.Equal("Ready", world.Nyc1.HotplugPhase(project, id, volume));
        var attached = await Eventually.HoldsAsync(() => host.GetVolumeAsync(volume), v => v.GetProperty("status").GetString() == "attached",
            TimeSpan.FromSeconds(30), "the volume to show attached");
        Assert.Equal(id, attached.GetProperty("droplet_id").GetString());

        // Deleting the droplet detaches the volume; its DataVolume and claim stay.
        var delete = await host.Client.DeleteAsync($"api/v1/droplets/{id}");
        Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        var deleted = await host.WaitForActionAsync((await delete.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
        Assert.Equal("completed", deleted.GetProperty("status").GetString());
        var freed = await host.GetVolumeAsync(volume);
        Assert.Equal("available", freed.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, freed.GetProperty("droplet_id").ValueKind);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync($"api/v1/droplets/{id}")).StatusCode);
        Assert.Null(world.Nyc1.Vm(project, id));
        var ns = KubeNames.Namespace(project);
        Assert.NotNull(world.Nyc1.Get("datavolumes", ns, KubeNames.Object(volume)));
        Assert.NotNull(world.Nyc1.Get("persistentvolumeclaims", ns, KubeNames.Object(volume)));
    }
}
