using Droplets.Tests.Infra;
using k8s;
using KubeVirt.Simulator;

namespace Droplets.Tests.Infrastructure;

// A simulated region as the app meets it: a KubeVirt cluster (a real API server with the simulator as KubeVirt) with
// infra/k8s applied, where the app authenticates with a token of the ServiceAccount there (TokenRequest, as
// `kubectl create token` gets one). Every call the app makes is checked by the API server's RBAC against infra/k8s's
// ClusterRole.
public static class TestRegion
{
    public static async Task<KubeVirtSimulator> StartAsync(SimulatorOptions? options = null)
    {
        var region = await KubeVirtSimulator.StartAsync(options);
        try
        {
            using var admin = Admin(region);
            await Manifests.ApplyAsync(admin);
            return region;
        }
        catch
        {
            await region.DisposeAsync();
            throw;
        }
    }

    public static async Task<string> AppTokenAsync(KubeVirtSimulator region)
    {
        using var admin = Admin(region);
        return await Manifests.AppTokenAsync(admin);
    }

    // Straight to the API server, so the region's request log (ClusterRoleTests) holds only what the app asked.
    public static Kubernetes Admin(KubeVirtSimulator region) => Client(region, region.AdminToken);

    // Straight to the API server as whoever holds `token` (the app's: AppTokenAsync).
    public static Kubernetes Client(KubeVirtSimulator region, string token) => new(new KubernetesClientConfiguration
    {
        Host = region.ApiServer.ToString(),
        AccessToken = token,
        SslCaCerts = [System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(region.CertificateAuthorityPem)],
    });
}
