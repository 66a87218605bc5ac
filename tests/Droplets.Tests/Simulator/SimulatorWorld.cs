using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KubeVirt.Simulator;

namespace Droplets.Tests.Simulator;

// One simulator per test, on 127.0.0.1:0, with the real KubernetesClient pointed at it and fast delays.
internal sealed class SimulatorWorld : IAsyncDisposable
{
    public const string KubeVirt = "kubevirt.io";
    public const string Cdi = "cdi.kubevirt.io";
    public const string UbuntuDisk = "docker://quay.io/containerdisks/ubuntu:22.04";
    // Generous: the first minute of a run starts every test's API server and host at once on 2 cores, and a 100 ms boot
    // was once seen to take longer than 15 s then. It bounds a wait; it measures nothing.
    static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    SimulatorWorld(KubeVirtSimulator simulator)
    {
        Simulator = simulator;
        Client = new Kubernetes(new KubernetesClientConfiguration { Host = simulator.BaseAddress.ToString(), AccessToken = simulator.AdminToken });
        Http = new HttpClient { BaseAddress = simulator.BaseAddress };
        Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", simulator.AdminToken);
    }

    public KubeVirtSimulator Simulator { get; }
    public Kubernetes Client { get; }
    public HttpClient Http { get; }

    public static async Task<SimulatorWorld> StartAsync(Action<SimulatorOptions>? configure = null)
    {
        var options = new SimulatorOptions
        {
            ImportDelay = TimeSpan.FromMilliseconds(100),
            BootDelay = TimeSpan.FromMilliseconds(100),
            StopDelay = TimeSpan.FromMilliseconds(50),
            ImagePullBackoff = TimeSpan.FromSeconds(1),
            StartFailureBackoff = TimeSpan.FromSeconds(1),
        };
        configure?.Invoke(options);
        return new SimulatorWorld(await KubeVirtSimulator.StartAsync(options));
    }

    public async Task CreateNamespaceAsync(string name) =>
        await Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = name } });

    // The shape the product creates: a DataVolume template for the root disk plus cloud-init.
    public static JsonObject Vm(string name, string ns, string image = UbuntuDisk, string memory = "2Gi", int sockets = 2, string runStrategy = "Always") =>
        Fill("""
        {"apiVersion":"kubevirt.io/v1","kind":"VirtualMachine",
         "metadata":{"name":"%name%","namespace":"%ns%","labels":{"droplets.dev/droplet-id":"%name%"}},
         "spec":{"runStrategy":"%runStrategy%",
          "dataVolumeTemplates":[{"metadata":{"name":"%name%-root"},"spec":{"source":{"registry":{"url":"%image%"}},"storage":{"resources":{"requests":{"storage":"50Gi"}}}}}],
          "template":{"metadata":{"labels":{"droplets.dev/droplet-id":"%name%"}},
           "spec":{"domain":{"cpu":{"sockets":%sockets%,"cores":1,"threads":1,"maxSockets":8},"memory":{"guest":"%memory%","maxGuest":"8Gi"},
             "devices":{"disks":[{"name":"rootdisk","disk":{"bus":"virtio"}},{"name":"cloudinitdisk","disk":{"bus":"virtio"}}],"interfaces":[{"name":"default","masquerade":{}}]}},
            "networks":[{"name":"default","pod":{}}],
            "volumes":[{"name":"rootdisk","dataVolume":{"name":"%name%-root"}},{"name":"cloudinitdisk","cloudInitNoCloud":{"userData":"#cloud-config\nhostname: web-01\n"}}]}}}}
        """, ("name", name), ("ns", ns), ("image", image), ("memory", memory), ("sockets", sockets.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("runStrategy", runStrategy));

    public static JsonObject ContainerDiskVm(string name, string ns, string image, string runStrategy = "Always") =>
        Fill("""
        {"apiVersion":"kubevirt.io/v1","kind":"VirtualMachine",
         "metadata":{"name":"%name%","namespace":"%ns%"},
         "spec":{"runStrategy":"%runStrategy%",
          "template":{"spec":{"domain":{"devices":{"disks":[{"name":"containerdisk","disk":{"bus":"virtio"}}]},"resources":{"requests":{"memory":"1Gi"}}},
            "volumes":[{"name":"containerdisk","containerDisk":{"image":"%image%"}}]}}}}
        """, ("name", name), ("ns", ns), ("image", image), ("runStrategy", runStrategy));

    // Raw JSON templates with %key% placeholders read better than escaped interpolation.
    static JsonObject Fill(string template, params (string Key, string Value)[] values) =>
        JsonNode.Parse(values.Aggregate(template, (t, v) => t.Replace($"%{v.Key}%", v.Value, StringComparison.Ordinal)))!.AsObject();

    public async Task<JsonObject> CreateVmAsync(JsonObject vm) =>
        ToNode(await Client.CustomObjects.CreateNamespacedCustomObjectAsync(vm, KubeVirt, "v1", vm["metadata"]!["namespace"]!.GetValue<string>(), "virtualmachines"));

    public async Task<JsonObject> GetAsync(string group, string version, string plural, string ns, string name) =>
        ToNode(await Client.CustomObjects.GetNamespacedCustomObjectAsync(group, version, ns, plural, name));

    public Task<JsonObject> GetVmAsync(string ns, string name) => GetAsync(KubeVirt, "v1", "virtualmachines", ns, name);

    public Task<JsonObject> GetVmiAsync(string ns, string name) => GetAsync(KubeVirt, "v1", "virtualmachineinstances", ns, name);

    // The VMI, or null while there is none (one read: a restart may delete it at any moment).
    public async Task<JsonObject?> FindVmiAsync(string ns, string name)
    {
        try
        {
            return await GetVmiAsync(ns, name);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task<JsonObject> PatchVmAsync(string ns, string name, string body, V1Patch.PatchType type) =>
        ToNode(await Client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch(body, type), KubeVirt, "v1", ns, "virtualmachines", name));

    // Polls (never sleeps a fixed time) until the VM matches, and fails with its last state otherwise.
    public async Task<JsonObject> WaitForVmAsync(string ns, string name, Func<JsonObject, bool> until, string what) =>
        await Eventually(() => GetVmAsync(ns, name), until, what);

    public Task<JsonObject> WaitForPrintableStatusAsync(string ns, string name, string status) =>
        WaitForVmAsync(ns, name, vm => PrintableStatus(vm) == status, $"printableStatus {status}");

    public static string? PrintableStatus(JsonObject vm) => vm["status"]?["printableStatus"]?.GetValue<string>();

    // The suite's one polling loop (deadline, then a failure naming what was awaited and the last state).
    public static Task<T> Eventually<T>(Func<Task<T>> probe, Func<T, bool> until, string what) =>
        Infrastructure.Eventually.HoldsAsync(probe, until, Deadline, what);

    public async Task<bool> ExistsAsync(string group, string version, string plural, string ns, string name)
    {
        try
        {
            await GetAsync(group, version, plural, ns, name);
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    public Task<HttpResponseMessage> SubresourceAsync(string ns, string name, string action, string? body = null, string resource = "virtualmachines") =>
        Http.PutAsync($"apis/subresources.kubevirt.io/v1/namespaces/{ns}/{resource}/{name}/{action}",
            body is null ? null : new StringContent(body, Encoding.UTF8, "application/json"));

    public static async Task<JsonObject> StatusOf(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();

    // Runs a client call that must fail and returns the Status body the server sent.
    public static async Task<(HttpStatusCode Code, JsonObject Status)> FailureOf(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<HttpOperationException>(call);
        return (e.Response.StatusCode, JsonNode.Parse(e.Response.Content)!.AsObject());
    }

    public static JsonObject ToNode(object result) => JsonSerializer.SerializeToNode(result)!.AsObject();

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        Client.Dispose();
        await Simulator.DisposeAsync();
    }
}
