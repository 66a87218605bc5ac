using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Droplets.Tests.Infrastructure;
using KubeVirt.Simulator;

namespace Droplets.Tests.Volumes;

// The volume calls the tests make through the real HTTP API, and the simulator reads they check against.
public static class VolumeApi
{
    public static async Task<JsonElement> CreateAsync(this ApiHost host, string project, int size = 10, string region = "nyc1", string name = "data")
    {
        var response = await host.Client.PostAsJsonAsync("api/v1/volumes", new { name, size_gigabytes = size, region, project_id = project });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body.ToString());
        return body;
    }

    public static async Task<string> AvailableVolumeAsync(this ApiHost host, string project, int size = 10, string region = "nyc1")
    {
        var id = (await host.CreateAsync(project, size, region)).GetProperty("id").GetString()!;
        await host.WaitForVolumeAsync(id, "available");
        return id;
    }

    public static Task<JsonElement> GetVolumeAsync(this ApiHost host, string id) =>
        host.Client.GetFromJsonAsync<JsonElement>($"api/v1/volumes/{id}");

    public static Task<JsonElement> WaitForVolumeAsync(this ApiHost host, string id, string status) =>
        Eventually.HoldsAsync(() => host.GetVolumeAsync(id), v => v.GetProperty("status").GetString() == status && !v.GetProperty("locked").GetBoolean(),
            TimeSpan.FromSeconds(60), $"volume {id} to be {status}");

    public static async Task<(HttpResponseMessage Response, JsonElement Body)> VolumeActionAsync(this ApiHost host, string id, object body)
    {
        var response = await host.Client.PostAsJsonAsync($"api/v1/volumes/{id}/actions", body);
        return (response, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    // Posts the action, expects 202, and follows it to its end.
    public static async Task<JsonElement> CompleteVolumeActionAsync(this ApiHost host, string id, object body)
    {
        var (response, action) = await host.VolumeActionAsync(id, body);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, action.ToString());
        return await host.WaitForActionAsync(action.GetProperty("id").GetString()!);
    }

    public static Task<JsonElement> WaitForActionAsync(this ApiHost host, string actionId, TimeSpan? timeout = null) =>
        Eventually.HoldsAsync(() => host.Client.GetFromJsonAsync<JsonElement>($"api/v1/actions/{actionId}"),
            a => a.GetProperty("status").GetString() != "in-progress", timeout ?? TimeSpan.FromSeconds(60), $"action {actionId} to finish");

    public static async Task<string> RunningDropletAsync(this ApiHost host, string project, string region = "nyc1", string[]? volumes = null)
    {
        var id = (await host.CreateDropletAsync(new { name = "node", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region, project_id = project, volume_ids = volumes ?? [] }))
            .GetProperty("id").GetString()!;
        var running = await host.WaitForStatusAsync(id, "running");
        Assert.True(running.GetProperty("status").GetString() == "running", running.ToString());
        return id;
    }

    public static JsonObject? Vm(this KubeVirtSimulator region, string project, string dropletId) => region.Get("virtualmachines", KubeNames.Namespace(project), KubeNames.Object(dropletId));

    public static JsonObject? Vmi(this KubeVirtSimulator region, string project, string dropletId) => region.Get("virtualmachineinstances", KubeNames.Namespace(project), KubeNames.Object(dropletId));

    public static bool TemplateHas(this KubeVirtSimulator region, string project, string dropletId, string volumeId) =>
        region.Vm(project, dropletId)?["spec"]?["template"]?["spec"]?["volumes"]?.AsArray().Any(v => v?["name"]?.GetValue<string>() == KubeNames.Object(volumeId)) == true;

    public static string? HotplugPhase(this KubeVirtSimulator region, string project, string dropletId, string volumeId) =>
        region.Vmi(project, dropletId)?["status"]?["volumeStatus"]?.AsArray()
            .FirstOrDefault(s => s?["name"]?.GetValue<string>() == KubeNames.Object(volumeId))?["phase"]?.GetValue<string>();

    public static IReadOnlyList<string> Ids(this JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToList();
}
