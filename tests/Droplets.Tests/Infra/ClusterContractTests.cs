using System.Net;
using System.Text.Json.Nodes;
using Droplets.Actions;
using Droplets.Catalog;
using Droplets.Droplets;
using Droplets.KubeVirt;
using Droplets.Tests.Infrastructure;
using Droplets.Volumes;
using k8s;
using k8s.Models;
using KubeVirt.Simulator.Cluster;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Droplets.Tests.Infra;

// The test cluster is a real kube-apiserver with KubeVirt's and CDI's CRDs (tests/KubeVirt.Simulator/Crds) and the
// app's objects from infra/k8s. It refuses a malformed VirtualMachine as a real cluster does, and takes every kind of
// object and patch the app writes, through the app's own client: decoded strictly (the client asks for
// fieldValidation=Strict, so a field KubeVirt or CDI does not know fails here) and as the app's ServiceAccount
// under the ClusterRole of infra/k8s, enforced by the API server's RBAC.
public sealed class ClusterContractTests(ClusterContractTests.Cluster cluster) : IClassFixture<ClusterContractTests.Cluster>
{
    public sealed class Cluster : IAsyncLifetime
    {
        KubeVirtClients? clients;

        public string AppToken { get; private set; } = "";

        public KubeApiServer Server { get; private set; } = null!;
        public Kubernetes Admin { get; private set; } = null!;
        public KubeVirtClient App => clients!.For("nyc1");
        public CatalogOptions Catalog { get; } = new ConfigurationBuilder().AddDropletsCatalog().Build().GetSection("Catalog").Get<CatalogOptions>()!;

        public async Task InitializeAsync()
        {
            Server = await KubeApiServer.StartAsync();
            await KubeVirtInstall.InstallAsync(Server);
            Admin = new Kubernetes(Server.Configuration(Server.AdminToken));
            await Manifests.ApplyAsync(Admin);
            AppToken = await Manifests.AppTokenAsync(Admin);
            clients = new KubeVirtClients(Options.Create(new CatalogOptions
            {
                Regions = { ["nyc1"] = new Region { Name = "New York 1", Endpoint = Server.BaseAddress.ToString(), Token = AppToken, SkipTlsVerify = true } },
            }));
        }

        public async Task DisposeAsync()
        {
            clients?.Dispose();
            Admin.Dispose();
            await Server.DisposeAsync();
        }
    }

    const string ValidVm = """
        {"apiVersion":"kubevirt.io/v1","kind":"VirtualMachine","metadata":{"name":"NAME"},
         "spec":{"runStrategy":"Always","template":{"spec":{
           "domain":{"memory":{"guest":"1Gi"},"devices":{"disks":[{"name":"root","disk":{"bus":"virtio"}}]}},
           "volumes":[{"name":"root","containerDisk":{"image":"quay.io/containerdisks/ubuntu:22.04"}}]}}}}
        """;

    // What a real cluster answers (kube-apiserver's strict decoding and the CRD's structural schema), and the
    // object is not created.
    [Theory]
    [InlineData("\"runStrategy\"", "\"runStrateg\"", 400, "strict decoding error: unknown field \"spec.runStrateg\"")]
    [InlineData("\"guest\":\"1Gi\"", "\"guest\":\"lots\"", 422, "spec.template.spec.domain.memory.guest: Invalid value: \"lots\"")]
    [InlineData("\"bus\":\"virtio\"", "\"bus\":7", 422, "spec.template.spec.domain.devices.disks[0].disk.bus in body must be of type string")]
    [InlineData("\"domain\":{", "\"domain\":{\"cpu\":{\"sockets\":\"two\"},", 422, "spec.template.spec.domain.cpu.sockets in body must be of type integer")]
    public async Task A_malformed_virtual_machine_is_refused_as_by_a_real_cluster(string valid, string malformed, int code, string message)
    {
        var ns = await NamespaceAsync();
        using var http = cluster.Server.HttpClient(cluster.Server.AdminToken);
        Assert.Contains(valid, ValidVm);
        using var response = await http.PostAsync($"apis/kubevirt.io/v1/namespaces/{ns}/virtualmachines?fieldValidation=Strict",
            new StringContent(ValidVm.Replace("NAME", "bad").Replace(valid, malformed), System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(code, (int)response.StatusCode);
        var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("Status", status["kind"]!.GetValue<string>());
        Assert.Contains(message, status["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"apis/kubevirt.io/v1/namespaces/{ns}/virtualmachines/bad")).StatusCode);

        using var valid201 = await http.PostAsync($"apis/kubevirt.io/v1/namespaces/{ns}/virtualmachines?fieldValidation=Strict",
            new StringContent(ValidVm.Replace("NAME", "good"), System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, valid201.StatusCode);
    }

    // Every create and patch the app makes, with the shapes its workflows build, for a droplet with attached
    // volumes and user data too large to inline (so the Secret path is taken) and one with neither.
    [Theory]
    [InlineData(0, 100)]
    [InlineData(2, 4000)]
    public async Task Every_object_and_patch_the_app_writes_is_accepted_strictly_as_its_service_account(int volumes, int userDataBytes)
    {
        var project = Repository.UniqueName("p");
        var (plan, bigger) = (cluster.Catalog.Plans["s-1vcpu-1gb"], cluster.Catalog.Plans["s-2vcpu-4gb"]);
        var droplet = new Droplet
        {
            Id = Repository.UniqueName("d"), ProjectId = project, Namespace = KubeNames.Namespace(project), Name = "contract", Image = "ubuntu-22-04", PlanId = "s-1vcpu-1gb", Region = "nyc1",
            Status = DropletStatus.Provisioning, VolumeIds = Enumerable.Range(0, volumes).Select(_ => Repository.UniqueName("vol")).ToList(),
            Vcpus = plan.Vcpus, Memory = plan.MemoryMib, Disk = plan.DiskGib,
        };
        var userData = CloudInit.UserData(droplet.Name, ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKf8Y2 test"], "#!/bin/sh\n" + new string('#', userDataBytes));
        var app = cluster.App;
        var ns = KubeNames.Namespace(project);

        await app.EnsureNamespaceAsync(ns, default);
        foreach (var id in droplet.VolumeIds)
        {
            await app.CreateDataVolumeAsync(VolumeMapping.DataVolume(new global::Droplets.Volumes.Volume
            {
                Id = id, Name = id, SizeGigabytes = 10, Region = "nyc1", ProjectId = project, Namespace = ns, Status = VolumeStatus.Creating,
            }), default);
        }
        var vm = await app.CreateVirtualMachineAsync(DropletMapping.VirtualMachine(droplet, plan, cluster.Catalog.Images["ubuntu-22-04"], cluster.Catalog, userData), default);
        Assert.NotNull(vm.Metadata.Uid);
        Assert.Equal(DropletMapping.NeedsCloudInitSecret(userData), userDataBytes > CloudInit.InlineLimit);
        if (DropletMapping.NeedsCloudInitSecret(userData))
            await app.CreateSecretAsync(DropletMapping.CloudInitSecret(droplet, userData, vm), default);
        await app.CreateServiceAsync(DropletMapping.PublicService(droplet), default);
        await app.PatchVirtualMachineAsync(ns, vm.Metadata.Name, ResizeActivities.SizePatch(bigger), default);

        var stored = await app.GetVirtualMachineAsync(ns, vm.Metadata.Name, default);
        Assert.Equal(bigger.Vcpus, stored?.Spec?.Template?.Spec?.Domain?.Cpu?.Sockets);
        Assert.NotNull(await app.GetServiceAsync(ns, DropletMapping.PublicServiceNameFor(droplet.Id), default));
        Assert.Empty(await app.ListDropletEventsAsync(project, droplet.Id, default));

        await app.DeleteVirtualMachineAsync(ns, vm.Metadata.Name, default);
        await app.DeleteServiceAsync(ns, DropletMapping.PublicServiceNameFor(droplet.Id), default);
        foreach (var id in droplet.VolumeIds)
            await app.DeleteDataVolumeAsync(ns, VolumeMapping.ClaimNameFor(id), default);
        Assert.Null(await app.GetVirtualMachineAsync(ns, vm.Metadata.Name, default));
    }

    // RBAC is enforced: what the ClusterRole does not grant (reading Secrets, listing pods or claims) is refused to the
    // app's ServiceAccount.
    [Fact]
    public async Task What_the_cluster_role_does_not_grant_is_forbidden_to_the_app()
    {
        var ns = await NamespaceAsync();
        using var app = cluster.Server.HttpClient(cluster.AppToken);
        Assert.Equal(HttpStatusCode.Forbidden, (await app.GetAsync($"api/v1/namespaces/{ns}/secrets")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await app.GetAsync($"api/v1/namespaces/{ns}/pods")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await app.GetAsync($"api/v1/namespaces/{ns}/persistentvolumeclaims")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await app.GetAsync($"apis/kubevirt.io/v1/namespaces/{ns}/virtualmachines/none")).StatusCode);
    }

    async Task<string> NamespaceAsync()
    {
        var name = Repository.UniqueName("ns");
        await cluster.Admin.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = name } });
        return name;
    }
}
