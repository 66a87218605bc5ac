using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Tests.Infrastructure;
using Droplets.Tests.Volumes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KubeVirt.Simulator;

namespace Droplets.Tests.Infra;

// The ClusterRole in infra/k8s grants exactly what the app calls. The app runs each scenario step through the real
// HTTP API against a test region where it holds only its ServiceAccount's token, so the API server's RBAC (and the
// same check before virt-api's subresources) refuses whatever the role does not grant and the step fails; the
// cluster's request log then shows every (apiGroup, resource, verb) a rule grants was used, so nothing more is granted.
// When a feature starts calling something new, add a step for it below and the rule to infra/k8s/rbac.yaml.
public class ClusterRoleTests
{
    const string FailingImage = "quay.io/containerdisks/fedora:latest";

    sealed record Step(string Name, Func<Scenario, Task> Run);

    sealed class Scenario(ApiHost host, KubeVirtSimulator region, string project)
    {
        public ApiHost Host { get; } = host;
        public KubeVirtSimulator Region { get; } = region;
        public string Project { get; } = project;
        public string DropletId { get; set; } = "";
        public string VolumeId { get; set; } = "";
    }

    // One step per feature that reaches the cluster; each leaves the state the next one needs.
    static readonly Step[] Steps =
    [
        new("create a droplet and wait for running", async s =>
        {
            s.DropletId = (await s.Host.CreateDropletAsync(new { name = "rbac-1", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = s.Project }))
                .GetProperty("id").GetString()!;
            var running = await s.Host.WaitForStatusAsync(s.DropletId, "running");
            Assert.Equal("running", running.GetProperty("status").GetString());
        }),
        new("list droplets", async s =>
        {
            var list = await s.Host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets?project_id={s.Project}");
            Assert.Contains(list.EnumerateArray(), d => d.GetProperty("id").GetString() == s.DropletId);
        }),
        new("get a droplet", async s =>
            Assert.Equal(s.DropletId, (await s.Host.GetDropletAsync(s.DropletId)).GetProperty("id").GetString())),
        new("list its events", async s =>
        {
            var events = await s.Host.Client.GetFromJsonAsync<JsonElement>($"api/v1/droplets/{s.DropletId}/events");
            Assert.Contains(events.EnumerateArray(), e => e.GetProperty("origin").GetString() == "kubernetes");
        }),
        new("open its console and take a screenshot", async s =>
        {
            var console = await (await s.Host.Client.PostAsync($"api/v1/droplets/{s.DropletId}/console", null)).Content.ReadFromJsonAsync<JsonElement>();
            using var socket = new System.Net.WebSockets.ClientWebSocket();
            await socket.ConnectAsync(new Uri(console.GetProperty("url").GetString()!), CancellationToken.None);
            await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
            using var screenshot = await s.Host.Client.GetAsync($"api/v1/droplets/{s.DropletId}/console/screenshot");
            Assert.Equal("image/png", screenshot.Content.Headers.ContentType?.MediaType);
        }),
        new("power off", s => ActAsync(s, "power_off")),
        new("power on", s => ActAsync(s, "power_on")),
        new("reboot", s => ActAsync(s, "reboot")),
        new("resize live, growing the disk", async s =>
        {
            var response = await s.Host.Client.PatchAsJsonAsync($"api/v1/droplets/{s.DropletId}", new { plan_id = "s-2vcpu-4gb" });
            await CompletedAsync(s, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("action").GetProperty("id").GetString()!);
        }),
        new("create a volume and wait for available", async s => s.VolumeId = await s.Host.AvailableVolumeAsync(s.Project)),
        new("attach the volume", s => VolumeActAsync(s, new { type = "attach", droplet_id = s.DropletId })),
        new("detach the volume", s => VolumeActAsync(s, new { type = "detach" })),
        new("resize the volume", s => VolumeActAsync(s, new { type = "resize", size_gigabytes = 20 })),
        new("delete the volume", async s =>
        {
            var response = await s.Host.Client.DeleteAsync($"api/v1/volumes/{s.VolumeId}");
            await CompletedAsync(s, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
        }),
        new("delete", async s =>
        {
            var response = await s.Host.Client.DeleteAsync($"api/v1/droplets/{s.DropletId}");
            await CompletedAsync(s, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
        }),
        new("user data too large to inline goes in a Secret owned by the VM", async s =>
        {
            var id = (await s.Host.CreateDropletAsync(new
            {
                name = "rbac-3", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = s.Project,
                user_data = "#!/bin/sh\n" + string.Concat(Enumerable.Repeat("echo a line of a long script\n", 200)),
            })).GetProperty("id").GetString()!;
            Assert.Equal("running", (await s.Host.WaitForStatusAsync(id, "running")).GetProperty("status").GetString());
        }),
        new("create a droplet with a volume, then delete it", async s =>
        {
            var volume = await s.Host.AvailableVolumeAsync(s.Project);
            var id = await s.Host.RunningDropletAsync(s.Project, volumes: [volume]);
            var response = await s.Host.Client.DeleteAsync($"api/v1/droplets/{id}");
            await CompletedAsync(s, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
            Assert.Equal("available", (await s.Host.GetVolumeAsync(volume)).GetProperty("status").GetString());
        }),
        new("a VirtualMachine deleted outside the API: its droplet is in error, with a warning", async s =>
        {
            var id = await s.Host.RunningDropletAsync(s.Project);
            await Actions.DriftTests.DeleteVmBehindTheApiAsync(s.Region, s.Project, id);
            await Actions.DriftTests.ReportedMissingAsync(s.Host, id);
        }),
        new("an image that cannot be imported ends in error", async s =>
        {
            var id = (await s.Host.CreateDropletAsync(new { name = "rbac-2", image = "fedora-latest", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = s.Project }))
                .GetProperty("id").GetString()!;
            var failed = await s.Host.WaitForStatusAsync(id, "error");
            Assert.Equal("disk_import_failed", failed.GetProperty("error").GetProperty("code").GetString());
        }),
    ];

    static async Task ActAsync(Scenario s, string type)
    {
        var response = await s.Host.Client.PostAsJsonAsync($"api/v1/droplets/{s.DropletId}/actions", new { type });
        await CompletedAsync(s, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
    }

    static async Task VolumeActAsync(Scenario s, object body) =>
        Assert.Equal("completed", (await s.Host.CompleteVolumeActionAsync(s.VolumeId, body)).GetProperty("status").GetString());

    static async Task CompletedAsync(Scenario s, string actionId)
    {
        var done = await Eventually.HoldsAsync(() => s.Host.Client.GetFromJsonAsync<JsonElement>($"api/v1/actions/{actionId}"),
            a => a.GetProperty("status").GetString() != "in-progress", TimeSpan.FromSeconds(60), $"action {actionId}");
        Assert.Equal("completed", done.GetProperty("status").GetString());
    }

    [Theory, BothHosts]
    public async Task ClusterRole_grants_every_call_the_app_makes_and_nothing_more(HostKind kind)
    {
        var role = Manifests.ClusterRole("droplets");
        Assert.All(role.Rules, rule => Assert.True(
            rule.ApiGroups.Concat(rule.Resources).Concat(rule.Verbs).All(v => !v.Contains('*')),
            "A wildcard grants more than the app calls; list apiGroups, resources and verbs explicitly."));

        var calls = await RunScenarioAsync(kind);

        var ungranted = calls.Where(c => !role.Rules.Any(r => Grants(r, c))).Select(c => c.ToString()).Distinct().ToList();
        Assert.True(ungranted.Count == 0,
            "The app made Kubernetes calls that the ClusterRole in infra/k8s/rbac.yaml does not grant:\n  " + string.Join("\n  ", ungranted));

        var unused = (from rule in role.Rules
                      from g in rule.ApiGroups
                      from r in rule.Resources
                      from v in rule.Verbs
                      where !calls.Any(c => c.ApiGroup == g && Combined(c) == r && c.Verb == v)
                      select $"{v} {(g.Length == 0 ? "core" : g)}/{r}").ToList();
        Assert.True(unused.Count == 0,
            "The ClusterRole grants what no scenario step used; remove it, or add a step for the feature that needs it:\n  " + string.Join("\n  ", unused));
    }

    static async Task<IReadOnlyList<AuditEntry>> RunScenarioAsync(HostKind kind)
    {
        var options = new SimulatorOptions { ImportDelay = TimeSpan.FromMilliseconds(100), BootDelay = TimeSpan.FromMilliseconds(100) };
        options.FailingImages.Add(FailingImage);
        await using var region = await TestRegion.StartAsync(options);
        await using var host = await ApiHost.StartAsync(kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region });
        var scenario = new Scenario(host, region, Repository.UniqueName("p"));
        foreach (var step in Steps)
        {
            try
            {
                await step.Run(scenario);
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                throw new InvalidOperationException($"Scenario step '{step.Name}' failed.", e);
            }
        }
        // Discovery (/api, /apis/{group}/{version}) is granted to every authenticated user by the built-in
        // system:discovery role, so only resource requests are checked against our ClusterRole.
        return region.Audit.Snapshot().Where(c => c.IsResourceRequest).ToList();
    }

    // Kubernetes RBAC matching: "*" or an exact apiGroup; "*", the resource, "resource/subresource" or
    // "*/subresource"; "*" or the verb; resourceNames, when present, restrict to those names.
    static bool Grants(V1PolicyRule rule, AuditEntry call) =>
        (rule.ApiGroups ?? []).Any(g => g == "*" || g == call.ApiGroup)
        && (rule.Resources ?? []).Any(r => r == "*" || r == Combined(call) || call.Subresource.Length > 0 && r == "*/" + call.Subresource)
        && rule.Verbs.Any(v => v == "*" || v == call.Verb)
        && (rule.ResourceNames is not { Count: > 0 } names || names.Contains(call.Name));

    static string Combined(AuditEntry call) => call.Subresource.Length == 0 ? call.Resource : $"{call.Resource}/{call.Subresource}";

    [Fact]
    public void Grants_follows_kubernetes_rbac_matching()
    {
        var rule = new V1PolicyRule { ApiGroups = ["subresources.kubevirt.io"], Resources = ["virtualmachines/start", "*/stop"], Verbs = ["update"] };
        AuditEntry Call(string verb, string resource, string subresource, string group = "subresources.kubevirt.io") =>
            new(verb, group, resource, subresource, "ns", "vm", "/apis/...");

        Assert.True(Grants(rule, Call("update", "virtualmachines", "start")));
        Assert.True(Grants(rule, Call("update", "virtualmachineinstances", "stop")));
        Assert.False(Grants(rule, Call("update", "virtualmachines", "restart")));
        Assert.False(Grants(rule, Call("update", "virtualmachines", "")));
        Assert.False(Grants(rule, Call("get", "virtualmachines", "start")));
        Assert.False(Grants(rule, Call("update", "virtualmachines", "start", group: "kubevirt.io")));
        Assert.True(Grants(new V1PolicyRule { ApiGroups = ["*"], Resources = ["*"], Verbs = ["*"] }, Call("delete", "services", "", group: "")));
        Assert.False(Grants(new V1PolicyRule { ApiGroups = [""], Resources = ["services"], Verbs = ["get"], ResourceNames = ["other"] }, Call("get", "services", "", group: "")));
    }

    // What RBAC cannot say, infra/k8s/namespace-policy.yaml does: the ServiceAccount writes only in namespaces
    // labelled managed, and makes only namespaces with the prefix and the label. Each write below is one the
    // ClusterRole grants, so a refusal is the policy's. An old installation's namespace (named after the project id
    // alone) is the app's again once labelled, as the README's migration says.
    [Fact]
    public async Task The_service_account_writes_only_in_managed_namespaces()
    {
        await using var region = await TestRegion.StartAsync();
        using var admin = TestRegion.Admin(region);
        using var app = TestRegion.Client(region, await TestRegion.AppTokenAsync(region));
        static V1Service Service(string name) => new() { Metadata = new V1ObjectMeta { Name = name }, Spec = new V1ServiceSpec { Ports = [new V1ServicePort { Port = 80 }] } };
        static V1Namespace Namespace(string name, bool managed) => new() { Metadata = new V1ObjectMeta { Name = name, Labels = managed ? new Dictionary<string, string> { ["droplets.dev/managed"] = "true" } : null } };
        async Task<string?> RefusalAsync(Func<Task> write)
        {
            try
            {
                await write();
                return null;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.Forbidden)
            {
                return e.Response.Content;
            }
        }

        // A policy is in force once the API server has compiled it: until then, a dry run in default is let through.
        await Eventually.HoldsAsync(() => RefusalAsync(() => app.CoreV1.CreateNamespacedServiceAsync(Service("probe"), "default", dryRun: "All")),
            refusal => refusal is not null, TimeSpan.FromSeconds(30), "the namespace policy to be in force");
        var policy = await admin.AdmissionregistrationV1.ReadValidatingAdmissionPolicyAsync("droplets-managed-namespaces");
        Assert.Empty(policy.Status?.TypeChecking?.ExpressionWarnings ?? []);

        await admin.CoreV1.CreateNamespacedServiceAsync(Service("theirs"), "default");
        await admin.CoreV1.CreateNamespaceAsync(Namespace("proj-old", managed: false));
        var refused = new Dictionary<string, string?>
        {
            ["a Service in default"] = await RefusalAsync(() => app.CoreV1.CreateNamespacedServiceAsync(Service("web"), "default")),
            ["a Secret in kube-system"] = await RefusalAsync(() => app.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = "s" } }, "kube-system")),
            ["deleting a Service in default"] = await RefusalAsync(() => app.CoreV1.DeleteNamespacedServiceAsync("theirs", "default")),
            ["a namespace without the prefix"] = await RefusalAsync(() => app.CoreV1.CreateNamespaceAsync(Namespace("other", managed: true))),
            ["a prefixed namespace without the label"] = await RefusalAsync(() => app.CoreV1.CreateNamespaceAsync(Namespace("droplets-bare", managed: false))),
            ["a Service in an old, unlabelled project namespace"] = await RefusalAsync(() => app.CoreV1.CreateNamespacedServiceAsync(Service("web"), "proj-old")),
        };
        Assert.All(refused, r => Assert.True(r.Value?.Contains("the droplets ServiceAccount may") == true, $"{r.Key}: {r.Value ?? "allowed"}"));
        Assert.NotNull(await admin.CoreV1.ReadNamespacedServiceAsync("theirs", "default"));

        Assert.Null(await RefusalAsync(() => app.CoreV1.CreateNamespaceAsync(Namespace("droplets-p1", managed: true))));
        Assert.Null(await RefusalAsync(() => app.CoreV1.CreateNamespacedServiceAsync(Service("web"), "droplets-p1")));
        Assert.Null(await RefusalAsync(() => app.CoreV1.DeleteNamespacedServiceAsync("web", "droplets-p1")));
        await admin.CoreV1.PatchNamespaceAsync(new V1Patch("""{"metadata":{"labels":{"droplets.dev/managed":"true"}}}""", V1Patch.PatchType.MergePatch), "proj-old");
        await Eventually.HoldsAsync(() => RefusalAsync(() => app.CoreV1.CreateNamespacedServiceAsync(Service("web"), "proj-old")),
            refusal => refusal is null, TimeSpan.FromSeconds(30), "the labelled old namespace to be the app's");
    }

    // The console gateway runs as its own ServiceAccount (infra/k8s/console-gateway.yaml): with its token, and only the
    // consoletickets table in its container, it relays a session; and that identity may do nothing else the app does.
    [Theory, BothHosts]
    public async Task The_console_gateways_identity_opens_the_vnc_websocket_and_nothing_else(HostKind kind)
    {
        await using var region = await TestRegion.StartAsync();
        using var admin = TestRegion.Admin(region);
        var token = await Manifests.TokenAsync(admin, "droplets-console");
        await using var api = await ApiHost.StartAsync(kind, new Dictionary<string, KubeVirtSimulator> { ["nyc1"] = region },
            new Dictionary<string, string> { ["Console__SigningKey"] = "console-signing-key-for-tests-0123456789" });
        await using var gateway = await api.StartSiblingAsync("Droplets.ConsoleGateway", new Dictionary<string, string> { ["Catalog__Regions__nyc1__Token"] = token });
        var project = global::Droplets.Tests.Infrastructure.Repository.UniqueName("p");
        var id = await api.RunningDropletAsync(project);

        var url = (await (await api.Client.PostAsync($"api/v1/droplets/{id}/console", null)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("url").GetString()!;
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        socket.Options.AddSubProtocol("binary");
        await socket.ConnectAsync(new UriBuilder(url) { Port = gateway.BaseAddress.Port }.Uri, CancellationToken.None);
        var greeting = new byte[12];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Assert.Equal(12, (await socket.ReceiveAsync(greeting, deadline.Token)).Count);
        Assert.Equal("RFB 003.008\n", System.Text.Encoding.ASCII.GetString(greeting));

        using var console = TestRegion.Client(region, token);
        var ns = KubeNames.Namespace(project);
        async Task<bool> MayAsync(string verb, string group, string resource, string subresource = "") =>
            (await console.AuthorizationV1.CreateSelfSubjectAccessReviewAsync(new V1SelfSubjectAccessReview
            {
                Spec = new V1SelfSubjectAccessReviewSpec { ResourceAttributes = new V1ResourceAttributes { Verb = verb, Group = group, Resource = resource, Subresource = subresource, NamespaceProperty = ns } },
            })).Status.Allowed;
        Assert.True(await MayAsync("get", "subresources.kubevirt.io", "virtualmachineinstances", "vnc"));
        Assert.False(await MayAsync("get", "kubevirt.io", "virtualmachineinstances"));
        Assert.False(await MayAsync("get", "kubevirt.io", "virtualmachines"));
        Assert.False(await MayAsync("create", "kubevirt.io", "virtualmachines"));
        Assert.False(await MayAsync("update", "subresources.kubevirt.io", "virtualmachines", "stop"));
        Assert.False(await MayAsync("get", "", "secrets"));
        Assert.False(await MayAsync("list", "", "events"));
    }
}
