using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Tests.Infrastructure;
using Droplets.Tests.Volumes;
using KubeVirt.Simulator;

namespace Droplets.Tests.Droplets;

// The host killed at each step of every workflow: each step that changes the cluster is a write, and each write of
// each action is held by the simulator once it has taken effect, before its answer reaches the host (RequestHold).
// One droplet or volume per (action, write): when every hold is reached, the host is killed with all of them in
// flight, and started again. Every action then ends as asked, nothing stays locked, and KubeVirt has exactly what the
// records say: no VM, Service or disk made twice, none left behind.
public abstract class KilledAtEachStepTests(HostKind kind)
{
    public sealed class OnStandalone() : KilledAtEachStepTests(HostKind.Standalone);

    public sealed class OnFunctions() : KilledAtEachStepTests(HostKind.Functions);

    [Fact]
    public async Task Every_action_killed_at_each_of_its_writes_ends_as_asked()
    {
        await using var region = await TestRegion.StartAsync(new SimulatorOptions
        {
            ImportDelay = TimeSpan.FromMilliseconds(100), BootDelay = TimeSpan.FromSeconds(1), StopDelay = TimeSpan.FromSeconds(1),
            HotplugDelay = TimeSpan.FromSeconds(1), ExpandDelay = TimeSpan.FromSeconds(1), AttachDelay = TimeSpan.FromSeconds(1),
        });
        await using var host = await ApiHost.StartAsync(kind,
            new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region },
            new Dictionary<string, string> { ["Provisioning__ObserveWait"] = "00:00:03", ["DurableTask__VisibilityTimeout"] = "00:00:08" });
        var project = Repository.UniqueName("p");
        var ns = KubeNames.Namespace(project);

        var names = new[] { "reboot", "off", "on", "resize1", "resize2", "delete1", "delete2", "rebuild1", "rebuild2", "rebuild3", "rebuild4", "attach", "detach" };
        var ids = (await Task.WhenAll(names.Select(_ => host.RunningDropletAsync(project)))).Zip(names).ToDictionary(p => p.Second, p => p.First);
        var volumes = (await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => host.AvailableVolumeAsync(project)))).ToArray();
        var (toAttach, toDetach, toGrow, toDelete) = (volumes[0], volumes[1], volumes[2], volumes[3]);
        await host.CompleteVolumeActionAsync(toDetach, new { type = "attach", droplet_id = ids["detach"] });
        await FinishedAsync(await ActAsync(ids["on"], "power_off"));
        var vmiBefore = region.Vmi(project, ids["reboot"])!["metadata"]!["uid"]!.GetValue<string>();

        // The nth write about one droplet's or volume's objects (all named after it).
        RequestHold Hold(string name, int nth) => region.Hold(e => e.IsWrite && e.Namespace == ns && e.Name.StartsWith(KubeNames.Object(name), StringComparison.Ordinal), nth);
        var holds = new List<(string Step, RequestHold Hold)>();
        var actions = new List<string>();
        async Task StepAsync(string step, string name, int nth, Func<Task<string>> act)
        {
            holds.Add((step, Hold(name, nth)));
            actions.Add(await act());
        }
        await StepAsync("reboot: restart", ids["reboot"], 1, () => ActAsync(ids["reboot"], "reboot"));
        await StepAsync("power_off: stop", ids["off"], 1, () => ActAsync(ids["off"], "power_off"));
        await StepAsync("power_on: start", ids["on"], 1, () => ActAsync(ids["on"], "power_on"));
        await StepAsync("resize: patch the VM", ids["resize1"], 1, () => ResizeAsync(ids["resize1"]));
        await StepAsync("resize: grow the root disk's claim", ids["resize2"], 2, () => ResizeAsync(ids["resize2"]));
        await StepAsync("delete: delete the VM", ids["delete1"], 1, () => DeleteAsync($"api/v1/droplets/{ids["delete1"]}"));
        await StepAsync("delete: delete the Service", ids["delete2"], 2, () => DeleteAsync($"api/v1/droplets/{ids["delete2"]}"));
        for (var n = 1; n <= 4; n++)
        {
            var id = ids[$"rebuild{n}"];
            await StepAsync($"rebuild: write {n} (stop, remove the disk template, delete the disk, restore the template)", id, n,
                async () => (await PostAsync($"api/v1/droplets/{id}/actions", new { type = "rebuild", image = "ubuntu-24-04" })).GetProperty("id").GetString()!);
        }
        await StepAsync("attach: addvolume", ids["attach"], 1, () => VolumeActAsync(toAttach, new { type = "attach", droplet_id = ids["attach"] }));
        await StepAsync("detach: removevolume", ids["detach"], 1, () => VolumeActAsync(toDetach, new { type = "detach", droplet_id = ids["detach"] }));
        await StepAsync("volume resize: grow the claim", toGrow, 1, () => VolumeActAsync(toGrow, new { type = "resize", size_gigabytes = 20 }));
        await StepAsync("volume delete: delete the DataVolume", toDelete, 1, () => DeleteAsync($"api/v1/volumes/{toDelete}"));

        // Creates: their ids are drawn by the host, so each has a project of its own and its hold takes the nth write
        // there.
        var creates = new List<(string Project, string Id)>();
        foreach (var nth in new[] { 1, 2 })
        {
            var own = Repository.UniqueName("p");
            holds.Add(($"create: write {nth} (the VM, the Service)", region.Hold(e => e.IsWrite && e.Namespace == KubeNames.Namespace(own), nth)));
            var created = await host.CreateDropletAsync(new { name = "created", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = own });
            creates.Add((own, created.GetProperty("id").GetString()!));
        }
        var volumeProject = Repository.UniqueName("p");
        holds.Add(("volume create: the DataVolume", region.Hold(e => e.IsWrite && e.Namespace == KubeNames.Namespace(volumeProject), 1)));
        var createdVolume = (await host.CreateAsync(volumeProject)).GetProperty("id").GetString()!;

        foreach (var (step, hold) in holds)
        {
            var reached = await Task.WhenAny(hold.Reached, Task.Delay(TimeSpan.FromSeconds(60)));
            Assert.True(reached == hold.Reached, $"the step '{step}' was not reached within 60 s");
        }
        await host.KillAsync();
        foreach (var (_, hold) in holds)
            hold.Release();
        await host.StartAsync();

        foreach (var actionId in actions)
        {
            var action = await FinishedAsync(actionId);
            Assert.True(action.GetProperty("status").GetString() == "completed", action.ToString());
        }
        foreach (var (own, id) in creates)
        {
            var running = await host.WaitForStatusAsync(id, "running", ApiHost.ResumeDeadline);
            Assert.Equal(("running", false), (running.GetProperty("status").GetString(), running.GetProperty("locked").GetBoolean()));
            Assert.Single(region.List("virtualmachines", KubeNames.Namespace(own)));
            Assert.Single(region.List("services", KubeNames.Namespace(own)));
        }
        await Eventually.HoldsAsync(() => host.GetVolumeAsync(createdVolume), v => v.GetProperty("status").GetString() == "available" && !v.GetProperty("locked").GetBoolean(),
            ApiHost.ResumeDeadline, "the created volume to be available");
        Assert.Single(region.List("datavolumes", KubeNames.Namespace(volumeProject)));

        async Task<(string?, bool, string?)> StateAsync(string name)
        {
            var d = await host.GetDropletAsync(ids[name]);
            return (d.GetProperty("status").GetString(), d.GetProperty("locked").GetBoolean(), d.GetProperty("plan_id").GetString());
        }
        Assert.Equal(("running", false, "s-1vcpu-1gb"), await StateAsync("reboot"));
        Assert.NotEqual(vmiBefore, region.Vmi(project, ids["reboot"])!["metadata"]!["uid"]!.GetValue<string>());
        Assert.Equal(("stopped", false, "s-1vcpu-1gb"), await StateAsync("off"));
        Assert.Equal(("running", false, "s-1vcpu-1gb"), await StateAsync("on"));
        foreach (var name in new[] { "resize1", "resize2" })
        {
            Assert.Equal(("running", false, "s-2vcpu-4gb"), await StateAsync(name));
            Assert.Equal(2, region.Vmi(project, ids[name])!["status"]!["currentCPUTopology"]!["sockets"]!.GetValue<int>());
        }
        foreach (var name in new[] { "delete1", "delete2" })
            Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync($"api/v1/droplets/{ids[name]}")).StatusCode);
        for (var n = 1; n <= 4; n++)
        {
            var rebuilt = await host.GetDropletAsync(ids[$"rebuild{n}"]);
            Assert.Equal(("running", false, "ubuntu-24-04"), (rebuilt.GetProperty("status").GetString(), rebuilt.GetProperty("locked").GetBoolean(), rebuilt.GetProperty("image").GetString()));
            Assert.Equal("docker://quay.io/containerdisks/ubuntu:24.04",
                region.Get("datavolumes", ns, KubeNames.Object(ids[$"rebuild{n}"]) + "-root")!["spec"]!["source"]!["registry"]!["url"]!.GetValue<string>());
        }
        var attached = await host.GetVolumeAsync(toAttach);
        Assert.Equal(("attached", ids["attach"]), (attached.GetProperty("status").GetString(), attached.GetProperty("droplet_id").GetString()));
        Assert.Single(region.Vm(project, ids["attach"])!["spec"]!["template"]!["spec"]!["volumes"]!.AsArray(), v => v!["name"]!.GetValue<string>() == KubeNames.Object(toAttach));
        var detached = await host.GetVolumeAsync(toDetach);
        Assert.Equal(("available", false), (detached.GetProperty("status").GetString(), region.TemplateHas(project, ids["detach"], toDetach)));
        Assert.Equal(20, (await host.GetVolumeAsync(toGrow)).GetProperty("size_gigabytes").GetInt32());
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync($"api/v1/volumes/{toDelete}")).StatusCode);

        // KubeVirt has exactly what the records say: every droplet that is left has its one VM and Service, the deleted
        // ones none; every volume that is left its one DataVolume.
        var left = names.Where(n => !n.StartsWith("delete", StringComparison.Ordinal)).Select(n => KubeNames.Object(ids[n])).Order().ToList();
        Assert.Equal(left, region.List("virtualmachines", ns).Select(vm => vm["metadata"]!["name"]!.GetValue<string>()).Order());
        Assert.Equal(left.Count, region.List("services", ns).Count);
        Assert.Equal(3, region.List("datavolumes", ns).Count(dv => dv["metadata"]!["name"]!.GetValue<string>().StartsWith("vol-", StringComparison.Ordinal)));

        async Task<JsonElement> PostAsync(string path, object body)
        {
            var response = await host.Client.PostAsJsonAsync(path, body);
            var answer = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, answer.ToString());
            return answer;
        }
        async Task<string> ActAsync(string id, string type) => (await PostAsync($"api/v1/droplets/{id}/actions", new { type })).GetProperty("id").GetString()!;
        async Task<string> VolumeActAsync(string id, object body) => (await PostAsync($"api/v1/volumes/{id}/actions", body)).GetProperty("id").GetString()!;
        async Task<string> ResizeAsync(string id) =>
            (await (await host.Client.PatchAsJsonAsync($"api/v1/droplets/{id}", new { plan_id = "s-2vcpu-4gb" })).Content.ReadFromJsonAsync<JsonElement>())
                .GetProperty("action").GetProperty("id").GetString()!;
        async Task<string> DeleteAsync(string path) =>
            (await (await host.Client.DeleteAsync(path)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        Task<JsonElement> FinishedAsync(string actionId) => host.WaitForActionAsync(actionId, ApiHost.ResumeDeadline);
    }
}
