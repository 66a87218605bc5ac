using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Droplets.Tests.Simulator;

public sealed class ApiConventionTests
{
    [Fact]
    public async Task Errors_are_kubernetes_Status_objects()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateNamespaceAsync("ns");

        var (code, status) = await SimulatorWorld.FailureOf(() => world.GetVmAsync("ns", "x"));
        Assert.Equal(HttpStatusCode.NotFound, code);
        Assert.Equal("Status", status["kind"]!.GetValue<string>());
        Assert.Equal("v1", status["apiVersion"]!.GetValue<string>());
        Assert.Equal("Failure", status["status"]!.GetValue<string>());
        Assert.Equal("NotFound", status["reason"]!.GetValue<string>());
        Assert.Equal("virtualmachines.kubevirt.io \"x\" not found", status["message"]!.GetValue<string>());
        Assert.Equal("x", status["details"]!["name"]!.GetValue<string>());
        Assert.Equal("kubevirt.io", status["details"]!["group"]!.GetValue<string>());
        Assert.Equal("virtualmachines", status["details"]!["kind"]!.GetValue<string>());
        Assert.Equal(404, status["code"]!.GetValue<int>());

        await world.CreateVmAsync(SimulatorWorld.Vm("dup", "ns", runStrategy: "Halted"));
        (code, status) = await SimulatorWorld.FailureOf(() => world.CreateVmAsync(SimulatorWorld.Vm("dup", "ns")));
        Assert.Equal(HttpStatusCode.Conflict, code);
        Assert.Equal("AlreadyExists", status["reason"]!.GetValue<string>());
        Assert.Equal("virtualmachines.kubevirt.io \"dup\" already exists", status["message"]!.GetValue<string>());

        (code, status) = await SimulatorWorld.FailureOf(() => world.CreateVmAsync(SimulatorWorld.Vm("Bad_Name", "ns")));
        Assert.Equal((HttpStatusCode)422, code);
        Assert.Equal("Invalid", status["reason"]!.GetValue<string>());
        Assert.StartsWith("VirtualMachine.kubevirt.io \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of",
            status["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("VirtualMachine", status["details"]!["kind"]!.GetValue<string>());
        Assert.Equal("metadata.name", status["details"]!["causes"]![0]!["field"]!.GetValue<string>());

        (code, status) = await SimulatorWorld.FailureOf(() => world.CreateNamespaceAsync("bad.name"));
        Assert.Equal((HttpStatusCode)422, code);
        Assert.StartsWith("Namespace \"bad.name\" is invalid: metadata.name: Invalid value: \"bad.name\": a lowercase RFC 1123 label must consist of",
            status["message"]!.GetValue<string>(), StringComparison.Ordinal);

        (code, status) = await SimulatorWorld.FailureOf(() => world.CreateVmAsync(SimulatorWorld.Vm("vm", "missing")));
        Assert.Equal(HttpStatusCode.NotFound, code);
        Assert.Equal("namespaces \"missing\" not found", status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Malformed_bodies_methods_and_media_types_are_rejected()
    {
        await using var world = await SimulatorWorld.StartAsync();
        var url = "apis/kubevirt.io/v1/namespaces/default/virtualmachines";

        var response = await world.Http.PostAsync(url, new StringContent("{not json", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("BadRequest", (await SimulatorWorld.StatusOf(response))["reason"]!.GetValue<string>());

        response = await world.Http.PutAsync(url, new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("MethodNotAllowed", (await SimulatorWorld.StatusOf(response))["reason"]!.GetValue<string>());

        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "default", runStrategy: "Halted"));
        var (code, status) = await SimulatorWorld.FailureOf(() => world.PatchVmAsync("default", "vm", """{"metadata":{"labels":{"a":"b"}}}""", V1Patch.PatchType.StrategicMergePatch));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, code);
        Assert.Equal("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            status["message"]!.GetValue<string>());

        response = await world.Http.GetAsync("apis/kubevirt.io/v1/namespaces/default/widgets");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Merge_patch_and_json_patch_update_the_spec_and_bump_generation()
    {
        await using var world = await SimulatorWorld.StartAsync();
        await world.CreateVmAsync(SimulatorWorld.Vm("vm", "default", runStrategy: "Halted"));

        var merged = await world.PatchVmAsync("default", "vm", """{"metadata":{"labels":{"tier":"web"}},"spec":{"template":{"spec":{"domain":{"memory":{"guest":"4Gi"}}}}}}""", V1Patch.PatchType.MergePatch);
        Assert.Equal("web", merged["metadata"]!["labels"]!["tier"]!.GetValue<string>());
        Assert.Equal("4Gi", merged["spec"]!["template"]!["spec"]!["domain"]!["memory"]!["guest"]!.GetValue<string>());
        Assert.Equal("8Gi", merged["spec"]!["template"]!["spec"]!["domain"]!["memory"]!["maxGuest"]!.GetValue<string>());
        Assert.Equal(2, merged["metadata"]!["generation"]!.GetValue<long>());

        var removed = await world.PatchVmAsync("default", "vm", """{"metadata":{"labels":{"tier":null}}}""", V1Patch.PatchType.MergePatch);
        Assert.Null(removed["metadata"]!["labels"]!["tier"]);
        Assert.Equal(2, removed["metadata"]!["generation"]!.GetValue<long>());

        var patched = await world.PatchVmAsync("default", "vm", """
            [{"op":"test","path":"/spec/runStrategy","value":"Halted"},
             {"op":"replace","path":"/spec/template/spec/domain/cpu/sockets","value":4},
             {"op":"add","path":"/metadata/labels/tier","value":"db"},
             {"op":"remove","path":"/spec/template/spec/domain/memory/maxGuest"}]
            """, V1Patch.PatchType.JsonPatch);
        Assert.Equal(4, patched["spec"]!["template"]!["spec"]!["domain"]!["cpu"]!["sockets"]!.GetValue<int>());
        Assert.Equal("db", patched["metadata"]!["labels"]!["tier"]!.GetValue<string>());
        Assert.Null(patched["spec"]!["template"]!["spec"]!["domain"]!["memory"]!["maxGuest"]);
        Assert.Equal(3, patched["metadata"]!["generation"]!.GetValue<long>());

        var (code, status) = await SimulatorWorld.FailureOf(() => world.PatchVmAsync("default", "vm", """[{"op":"test","path":"/spec/runStrategy","value":"Always"}]""", V1Patch.PatchType.JsonPatch));
        Assert.Equal((HttpStatusCode)422, code);
        Assert.Contains("test failed", status["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stale_resourceVersion_is_a_conflict()
    {
        await using var world = await SimulatorWorld.StartAsync();
        var vm = await world.CreateVmAsync(SimulatorWorld.Vm("vm", "default", runStrategy: "Halted"));
        var stale = vm["metadata"]!["resourceVersion"]!.GetValue<string>();
        await world.PatchVmAsync("default", "vm", """{"metadata":{"labels":{"x":"1"}}}""", V1Patch.PatchType.MergePatch);

        vm["metadata"]!["labels"]!["x"] = "2";
        var (code, status) = await SimulatorWorld.FailureOf(() =>
            world.Client.CustomObjects.ReplaceNamespacedCustomObjectAsync(vm, SimulatorWorld.KubeVirt, "v1", "default", "virtualmachines", "vm"));
        Assert.Equal(HttpStatusCode.Conflict, code);
        Assert.Equal("Conflict", status["reason"]!.GetValue<string>());
        Assert.Equal("Operation cannot be fulfilled on virtualmachines.kubevirt.io \"vm\": the object has been modified; please apply your changes to the latest version and try again",
            status["message"]!.GetValue<string>());

        (code, _) = await SimulatorWorld.FailureOf(() =>
            world.PatchVmAsync("default", "vm", new JsonObject { ["metadata"] = new JsonObject { ["resourceVersion"] = stale, ["labels"] = new JsonObject { ["x"] = "3" } } }.ToJsonString(), V1Patch.PatchType.MergePatch));
        Assert.Equal(HttpStatusCode.Conflict, code);

        var fresh = await world.GetVmAsync("default", "vm");
        fresh["metadata"]!["labels"]!["x"] = "4";
        var replaced = SimulatorWorld.ToNode(await world.Client.CustomObjects.ReplaceNamespacedCustomObjectAsync(fresh, SimulatorWorld.KubeVirt, "v1", "default", "virtualmachines", "vm"));
        Assert.Equal("4", replaced["metadata"]!["labels"]!["x"]!.GetValue<string>());
        Assert.True(long.Parse(replaced["metadata"]!["resourceVersion"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) >
            long.Parse(fresh["metadata"]!["resourceVersion"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Label_selectors_and_pagination_filter_lists()
    {
        await using var world = await SimulatorWorld.StartAsync();
        foreach (var (name, tier) in new[] { ("a", "web"), ("b", "db"), ("c", "cache"), ("d", "") })
        {
            var vm = SimulatorWorld.Vm(name, "default", runStrategy: "Halted");
            vm["metadata"]!["labels"] = tier.Length == 0 ? new JsonObject() : new JsonObject { ["tier"] = tier };
            await world.CreateVmAsync(vm);
        }

        async Task<string[]> Names(string selector)
        {
            var list = SimulatorWorld.ToNode(await world.Client.CustomObjects.ListNamespacedCustomObjectAsync(SimulatorWorld.KubeVirt, "v1", "default", "virtualmachines", labelSelector: selector));
            return list["items"]!.AsArray().Select(i => i!["metadata"]!["name"]!.GetValue<string>()).ToArray();
        }

        Assert.Equal(["a"], await Names("tier=web"));
        Assert.Equal(["a"], await Names("tier==web"));
        Assert.Equal(["b", "c", "d"], await Names("tier!=web"));
        Assert.Equal(["a", "b"], await Names("tier in (web, db)"));
        Assert.Equal(["c", "d"], await Names("tier notin (web,db)"));
        Assert.Equal(["a", "b", "c"], await Names("tier"));
        Assert.Equal(["d"], await Names("!tier"));
        Assert.Equal(["b"], await Names("tier,tier notin (web,cache)"));

        var page = SimulatorWorld.ToNode(await world.Client.CustomObjects.ListNamespacedCustomObjectAsync(SimulatorWorld.KubeVirt, "v1", "default", "virtualmachines", limit: 3));
        Assert.Equal("VirtualMachineList", page["kind"]!.GetValue<string>());
        Assert.Equal(3, page["items"]!.AsArray().Count);
        var token = page["metadata"]!["continue"]!.GetValue<string>();
        var rest = SimulatorWorld.ToNode(await world.Client.CustomObjects.ListNamespacedCustomObjectAsync(SimulatorWorld.KubeVirt, "v1", "default", "virtualmachines", limit: 3, continueParameter: token));
        Assert.Equal("d", rest["items"]![0]!["metadata"]!["name"]!.GetValue<string>());
        Assert.Null(rest["metadata"]!["continue"]);

        var all = SimulatorWorld.ToNode(await world.Client.CustomObjects.ListClusterCustomObjectAsync(SimulatorWorld.KubeVirt, "v1", "virtualmachines", fieldSelector: "metadata.name=c"));
        Assert.Equal("c", Assert.Single(all["items"]!.AsArray())!["metadata"]!["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task Discovery_documents_describe_the_kubevirt_groups()
    {
        await using var world = await SimulatorWorld.StartAsync();
        var version = await world.Client.Version.GetCodeAsync();
        Assert.StartsWith("v1.", version.GitVersion, StringComparison.Ordinal);

        var groups = await world.Client.Apis.GetAPIVersionsAsync();
        Assert.Contains(groups.Groups, g => g.Name == "kubevirt.io" && g.PreferredVersion.GroupVersion == "kubevirt.io/v1");
        Assert.Contains(groups.Groups, g => g.Name == "subresources.kubevirt.io");
        Assert.Contains(groups.Groups, g => g.Name == "cdi.kubevirt.io" && g.PreferredVersion.Version == "v1beta1");

        var kubevirt = JsonNode.Parse(await world.Http.GetStringAsync("apis/kubevirt.io/v1"))!;
        var vms = kubevirt["resources"]!.AsArray().Single(r => r!["name"]!.GetValue<string>() == "virtualmachines")!;
        Assert.Equal("VirtualMachine", vms["kind"]!.GetValue<string>());
        Assert.Contains("vm", vms["shortNames"]!.AsArray().Select(s => s!.GetValue<string>()));
        Assert.Contains(kubevirt["resources"]!.AsArray(), r => r!["name"]!.GetValue<string>() == "virtualmachines/status");

        var core = await world.Client.CoreV1.GetAPIResourcesAsync();
        Assert.Contains(core.Resources, r => r.Name == "services" && r.Namespaced && r.ShortNames.Contains("svc"));
        Assert.Contains(core.Resources, r => r.Name == "namespaces" && !r.Namespaced);
    }
}
