using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using k8s.Models;
using Microsoft.Extensions.Options;

namespace Droplets.KubeVirt;

// Namespaces:Prefix: what every project's namespace starts with.
public sealed class NamespaceOptions
{
    public string Prefix { get; init; } = "droplets-";
}

// Where a project's objects live: the prefix and the project id ('_' → '-'), labelled as managed. The namespace is
// fixed on each record when it is created (Droplet.Namespace, Volume.Namespace), so a later change of prefix moves
// nothing. Every name is a DNS-1123 label of at most 63 characters that starts with the prefix, so no project can
// reach default, kube-*, kubevirt, cdi or the control plane's droplets-system (Projects refuses the id 'system').
public sealed partial class TenantNamespaces(IOptions<NamespaceOptions> options)
{
    public const string ManagedLabel = "droplets.dev/managed";
    const int MaxLength = 63;
    const int HashLength = 10;

    public string For(string projectId)
    {
        var prefix = options.Value.Prefix;
        var name = prefix + projectId.Replace('_', '-');
        if (name.Length <= MaxLength)
            return name;
        // A long id is cut and made unique again by a hash of the whole id (40 bits).
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(projectId)))[..HashLength];
        return name[..(MaxLength - HashLength - 1)] + "-" + hash;
    }

    // The namespace of a record written before namespaces were prefixed (its row has no Namespace column).
    public static string Legacy(string projectId) => projectId.Replace('_', '-');

    public static V1Namespace Namespace(string name) => new()
    {
        ApiVersion = "v1",
        Kind = "Namespace",
        Metadata = new V1ObjectMeta
        {
            Name = name,
            Labels = new Dictionary<string, string> { [ManagedLabel] = "true", ["app.kubernetes.io/managed-by"] = "droplets" },
        },
    };

    // 2-30 characters, a DNS-1123 label's start, ending in '-'; never kube-* (Kubernetes reserves it).
    internal static bool IsValidPrefix(string? prefix) =>
        prefix is not null && PrefixPattern().IsMatch(prefix) && !prefix.StartsWith("kube-", StringComparison.Ordinal);

    internal const string PrefixRule = "Namespaces:Prefix must be 2-30 lowercase letters, digits and '-', start with a letter or digit, end with '-', and not start with 'kube-'.";

    [GeneratedRegex(@"^[a-z0-9][a-z0-9-]{0,28}-\z")]
    private static partial Regex PrefixPattern();
}
