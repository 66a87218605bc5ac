using Droplets.KubeVirt;
using Droplets.Tests.Infrastructure;

namespace Droplets.Tests.Infra;

// Namespaces:Prefix is checked when the host starts, not when the first droplet is made: a prefix that could reach
// kube-* or make names Kubernetes refuses keeps the host from serving, and its log says what the setting must be.
public sealed class NamespacePrefixTests
{
    [Theory, BothHosts]
    public async Task A_prefix_that_could_reach_kube_namespaces_keeps_the_host_from_serving(HostKind kind)
    {
        var refused = await Assert.ThrowsAnyAsync<Exception>(() =>
            ApiHost.StartAsync(kind, new Dictionary<string, Uri>(), new Dictionary<string, string> { ["Namespaces__Prefix"] = "kube-" }));
        Assert.Contains(TenantNamespaces.PrefixRule, refused.Message);
    }

    [Theory]
    [InlineData("droplets-", true)]
    [InlineData("t-", true)]
    [InlineData("team-a-vms-", true)]
    [InlineData("kube-", false)]
    [InlineData("kube-tenant-", false)]
    [InlineData("Droplets-", false)]
    [InlineData("droplets", false)]
    [InlineData("-", false)]
    [InlineData("-x-", false)]
    [InlineData("a_b-", false)]
    [InlineData("a-b\n-", false)]
    [InlineData("droplets-\n", false)]
    [InlineData("a-very-long-prefix-of-31-chars-", false)]
    [InlineData("", false)]
    public void Only_a_lowercase_dns_label_start_ending_in_a_dash_and_not_kube_is_a_prefix(string prefix, bool valid) =>
        Assert.Equal(valid, TenantNamespaces.IsValidPrefix(prefix));
}
