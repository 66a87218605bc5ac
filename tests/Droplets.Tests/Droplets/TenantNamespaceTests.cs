using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Azure.Data.Tables;
using Droplets.Tests.Infrastructure;
using Droplets.Tests.Volumes;

namespace Droplets.Tests.Droplets;

// Where a project's objects land in Kubernetes: droplets-<project>, labelled managed, whatever the project id, so no
// project id reaches a system namespace (the issue's kube_system, default, kubevirt, cdi, droplets_system each put a
// VM into that namespace before). A record written before the prefix keeps the namespace it was created in.
public abstract partial class TenantNamespaceTests(DropletsWorld world)
{
    public sealed class OnStandalone(DropletsWorld<StandaloneKind> world) : TenantNamespaceTests(world), IClassFixture<DropletsWorld<StandaloneKind>>;

    public sealed class OnFunctions(DropletsWorld<FunctionsKind> world) : TenantNamespaceTests(world), IClassFixture<DropletsWorld<FunctionsKind>>;

    readonly ApiHost host = world.Host;

    [Theory]
    [InlineData("kube_system", "kube-system")]
    [InlineData("default", "default")]
    [InlineData("kubevirt", "kubevirt")]
    [InlineData("cdi", "cdi")]
    [InlineData("droplets_system", "droplets-system")]
    public async Task A_project_named_like_a_system_namespace_lands_in_its_own_prefixed_managed_namespace(string project, string system)
    {
        var id = await host.RunningDropletAsync(project);

        var ns = world.Nyc1.Get("namespaces", "", "droplets-" + system);
        Assert.NotNull(ns);
        Assert.Equal("true", ns["metadata"]!["labels"]![ManagedLabel]!.GetValue<string>());
        Assert.NotNull(world.Nyc1.Get("virtualmachines", "droplets-" + system, KubeNames.Object(id)));
        Assert.NotNull(world.Nyc1.Get("services", "droplets-" + system, KubeNames.Object(id) + "-public"));
        Assert.Empty(world.Nyc1.List("virtualmachines", system));
        Assert.DoesNotContain(world.Nyc1.List("services", system), s => s["metadata"]!["name"]!.GetValue<string>().StartsWith("dpl-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_project_id_system_is_refused_because_droplets_system_is_the_control_planes()
    {
        var response = await host.Client.PostAsJsonAsync("api/v1/droplets", new { name = "web", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = "system" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("'system' is reserved", problem.GetProperty("errors").GetProperty("project_id")[0].GetString());
        Assert.Empty(world.Nyc1.List("virtualmachines", "droplets-system"));
    }

    // 63 characters, the longest project id: with the prefix, past a namespace's 63. Cut and suffixed with a hash of
    // the whole id, so two ids that differ only at the end still get two namespaces.
    [Fact]
    public async Task The_longest_project_ids_get_distinct_namespaces_of_at_most_63_characters()
    {
        var stem = "p" + Guid.NewGuid().ToString("N")[..8] + new string('a', 52);
        string[] projects = [stem + "1", stem + "2"];
        var ids = await Task.WhenAll(projects.Select(project => host.RunningDropletAsync(project)));

        var namespaces = ids.Select(id => world.Nyc1.List("virtualmachines").Single(vm => vm["metadata"]!["name"]!.GetValue<string>() == KubeNames.Object(id))["metadata"]!["namespace"]!.GetValue<string>()).ToList();
        Assert.All(namespaces, ns =>
        {
            Assert.True(ns.Length <= 63 && DnsLabel().IsMatch(ns) && ns.StartsWith("droplets-" + stem[..20], StringComparison.Ordinal), ns);
            Assert.Equal("true", world.Nyc1.Get("namespaces", "", ns)!["metadata"]!["labels"]![ManagedLabel]!.GetValue<string>());
        });
        Assert.NotEqual(namespaces[0], namespaces[1]);
    }

    // A row written before namespaces were prefixed has no Namespace column: its droplet is driven where it was
    // created, in the namespace named after the project id alone, and never in the prefixed one.
    [Fact]
    public async Task A_droplet_recorded_before_the_prefix_is_deleted_from_its_old_namespace()
    {
        var project = Repository.UniqueName("p");
        var id = await host.RunningDropletAsync(project);
        await ForgetNamespaceAsync("droplets", project, id);

        var from = world.Nyc1.Audit.Snapshot().Count;
        var delete = await host.Client.DeleteAsync($"api/v1/droplets/{id}");
        Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        var action = await host.WaitForActionAsync((await delete.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);

        // Nothing of its name is in the old namespace, so the delete is done there; what today's records made, in the
        // prefixed namespace, was not the legacy record's to touch.
        Assert.Equal("completed", action.GetProperty("status").GetString());
        var calls = world.Nyc1.Audit.Snapshot().Skip(from).Where(e => e.Name.StartsWith(KubeNames.Object(id), StringComparison.Ordinal)).ToList();
        Assert.Contains(calls, e => e is { Verb: "delete", Resource: "virtualmachines" });
        Assert.All(calls, e => Assert.Equal(KubeNames.Object(project), e.Namespace));
        Assert.NotNull(world.Nyc1.Get("virtualmachines", KubeNames.Namespace(project), KubeNames.Object(id)));
    }

    // The one way a project's droplet and volume can be in two namespaces: one of them recorded before the prefix.
    // KubeVirt cannot attach a volume from another namespace, so the API refuses, on attach and on create.
    [Fact]
    public async Task A_volume_in_another_namespace_than_the_droplet_is_not_attached()
    {
        var project = Repository.UniqueName("p");
        var volume = await host.AvailableVolumeAsync(project);
        var droplet = await host.RunningDropletAsync(project);
        await ForgetNamespaceAsync("volumes", project, volume);
        var legacy = KubeNames.Object(project);

        var attach = await host.Client.PostAsJsonAsync($"api/v1/volumes/{volume}/actions", new { type = "attach", droplet_id = droplet });
        var create = await host.Client.PostAsJsonAsync("api/v1/droplets", new { name = "web", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project, volume_ids = new[] { volume } });

        foreach (var response in new[] { attach, create })
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var text = await response.Content.ReadAsStringAsync();
            Assert.Contains($"'{legacy}'", text);
            Assert.Contains($"'{KubeNames.Namespace(project)}'", text);
        }
        var held = await host.GetVolumeAsync(volume);
        Assert.Equal(("available", false), (held.GetProperty("status").GetString(), held.GetProperty("locked").GetBoolean()));
        Assert.Single(await host.Client.GetFromJsonAsync<JsonElement[]>($"api/v1/droplets?project_id={project}") ?? []);
    }

    // As a record written before the prefix: its row without the Namespace column.
    async Task ForgetNamespaceAsync(string table, string project, string id)
    {
        var client = new TableServiceClient((await Azurite.SharedAsync()).ConnectionString).GetTableClient(host.TablePrefix + table);
        var entity = (await client.GetEntityAsync<TableEntity>(project, id)).Value;
        Assert.True(entity.Remove("Namespace"));
        await client.UpdateEntityAsync(entity, entity.ETag, TableUpdateMode.Replace);
    }

    const string ManagedLabel = "droplets.dev/managed";

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\z")]
    private static partial Regex DnsLabel();
}
