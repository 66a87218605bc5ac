using System.Net;
using System.Text.Json.Nodes;

namespace KubeVirt.Simulator.Cluster;

// What virt-operator and CDI's operator install before anything else runs: the CRDs in Crds/ (KubeVirt's and CDI's
// schemas, printer columns and status subresources; see Crds/README.md), served once the API server says Established.
public static class KubeVirtInstall
{
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
    }

    static async Task<bool> EstablishedAsync(HttpClient http, string name, CancellationToken cancellationToken)
    {
        var crd = JsonNode.Parse(await http.GetStringAsync($"apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}", cancellationToken));
        return crd?["status"]?["conditions"]?.AsArray().Any(c => c?["type"]?.GetValue<string>() == "Established" && c["status"]?.GetValue<string>() == "True") == true;
    }
}
