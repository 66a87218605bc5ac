using System.Net;
using System.Text.Json.Nodes;

namespace KubeVirt.Simulator.Cluster;

// What virt-operator and CDI's operator install before anything else runs: the CRDs in Crds/ (KubeVirt's and CDI's
// schemas, printer columns and status subresources; see Crds/README.md), served once the API server says Established;
// the webhooks' rules as ValidatingAdmissionPolicies (Admission); and the cluster's default StorageClass, which allows
// expansion (the simulated CSI driver grows claims).
public static class KubeVirtInstall
{
    public const string StorageClass = "simulated";

    static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Crds");

    public static async Task InstallAsync(KubeApiServer server, CancellationToken cancellationToken = default)
    {
        using var http = server.HttpClient(server.AdminToken);
        var names = new List<string>();
        foreach (var file in Directory.GetFiles(Folder, "*.json").Order(StringComparer.Ordinal))
        {
            var crd = await File.ReadAllTextAsync(file, cancellationToken);
            using var response = await http.PostAsync("apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                new StringContent(crd, System.Text.Encoding.UTF8, "application/json"), cancellationToken);
            if (response.StatusCode != HttpStatusCode.Conflict)
                response.EnsureSuccessStatusCode();
            names.Add(JsonNode.Parse(crd)!["metadata"]!["name"]!.GetValue<string>());
        }
        await CreateAsync(http, "apis/storage.k8s.io/v1/storageclasses", new JsonObject
        {
            ["apiVersion"] = "storage.k8s.io/v1",
            ["kind"] = "StorageClass",
            ["metadata"] = new JsonObject
            {
                ["name"] = StorageClass,
                ["annotations"] = new JsonObject { ["storageclass.kubernetes.io/is-default-class"] = "true" },
            },
            ["provisioner"] = "simulated.csi.kubevirt.io",
            ["allowVolumeExpansion"] = true,
            ["volumeBindingMode"] = "Immediate",
        }, cancellationToken);
        foreach (var (path, policy) in Admission.PolicyObjects())
            await CreateAsync(http, path, policy, cancellationToken);

        var deadline = DateTime.UtcNow.AddSeconds(60);
        foreach (var name in names)
        {
            while (!await EstablishedAsync(http, name, cancellationToken))
            {
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"CRD {name} was not Established within 60 s.");
                await Task.Delay(50, cancellationToken);
            }
        }
        await PoliciesEnforcedAsync(http, deadline, cancellationToken);
    }

    // Policies apply once the API server has loaded them: until a VM that breaks one is refused (a dry run).
    static async Task PoliciesEnforcedAsync(HttpClient http, DateTime deadline, CancellationToken cancellationToken)
    {
        var probe = """{"apiVersion":"kubevirt.io/v1","kind":"VirtualMachine","metadata":{"name":"admission-probe"},"spec":{"running":false,"runStrategy":"Halted","template":{"spec":{"domain":{"devices":{}}}}}}""";
        while (true)
        {
            using var response = await http.PostAsync("apis/kubevirt.io/v1/namespaces/default/virtualmachines?dryRun=All",
                new StringContent(probe, System.Text.Encoding.UTF8, "application/json"), cancellationToken);
            if (response.StatusCode == HttpStatusCode.UnprocessableEntity)
                return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"KubeVirt's admission policies were not enforced within 60 s (a breaking VM got {(int)response.StatusCode}).");
            await Task.Delay(50, cancellationToken);
        }
    }

    static async Task CreateAsync(HttpClient http, string path, JsonObject obj, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsync(path, new StringContent(obj.ToJsonString(), System.Text.Encoding.UTF8, "application/json"), cancellationToken);
        if (response.StatusCode != HttpStatusCode.Conflict)
            response.EnsureSuccessStatusCode();
    }

    static async Task<bool> EstablishedAsync(HttpClient http, string name, CancellationToken cancellationToken)
    {
        var crd = JsonNode.Parse(await http.GetStringAsync($"apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}", cancellationToken));
        return crd?["status"]?["conditions"]?.AsArray().Any(c => c?["type"]?.GetValue<string>() == "Established" && c["status"]?.GetValue<string>() == "True") == true;
    }
}
