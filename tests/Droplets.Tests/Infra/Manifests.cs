using System.Text.RegularExpressions;
using Droplets.Tests.Infrastructure;
using k8s;
using k8s.Models;
using YamlDotNet.RepresentationModel;

namespace Droplets.Tests.Infra;

// The manifests of infra/k8s as kustomize would take them: the files kustomization.yaml lists, parsed with the
// Kubernetes client's own YAML reader (typed, so an unknown kind or a malformed document fails to load).
// Reading the files rather than running `kubectl kustomize` keeps the tests free of kubectl; .ci/run renders too.
public static partial class Manifests
{
    public static string Folder { get; } = Path.Combine(Repository.Root, "infra", "k8s");

    public static IReadOnlyList<string> Resources() =>
        ResourceLine().Matches(File.ReadAllText(Path.Combine(Folder, "kustomization.yaml"))).Select(m => m.Groups[1].Value).ToList();

    public static IReadOnlyList<object> Load() =>
        Resources().SelectMany(f => KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(Folder, f)))).ToList();

    public static V1ClusterRole ClusterRole(string name) =>
        Load().OfType<V1ClusterRole>().SingleOrDefault(r => r.Metadata.Name == name)
        ?? throw new InvalidOperationException($"infra/k8s has no ClusterRole '{name}'.");

    // infra/k8s as `kubectl apply -k` would send it to a new cluster (strictly, as kubectl does), so a field
    // Kubernetes does not know fails.
    public static async Task ApplyAsync(IKubernetes admin)
    {
        foreach (var manifest in Load())
        {
            await (manifest switch
            {
                V1Namespace ns => (Task)admin.CoreV1.CreateNamespaceAsync(ns, fieldValidation: "Strict"),
                V1ServiceAccount account => admin.CoreV1.CreateNamespacedServiceAccountAsync(account, account.Metadata.NamespaceProperty, fieldValidation: "Strict"),
                V1ClusterRole role => admin.RbacAuthorizationV1.CreateClusterRoleAsync(role, fieldValidation: "Strict"),
                V1ClusterRoleBinding binding => admin.RbacAuthorizationV1.CreateClusterRoleBindingAsync(binding, fieldValidation: "Strict"),
                V1ValidatingAdmissionPolicy policy => admin.AdmissionregistrationV1.CreateValidatingAdmissionPolicyAsync(policy, fieldValidation: "Strict"),
                V1ValidatingAdmissionPolicyBinding binding => admin.AdmissionregistrationV1.CreateValidatingAdmissionPolicyBindingAsync(binding, fieldValidation: "Strict"),
                // The standalone host's Deployment: validated and stored; the test clusters have no kubelet to run its pods.
                V1Deployment deployment => admin.AppsV1.CreateNamespacedDeploymentAsync(deployment, deployment.Metadata.NamespaceProperty, fieldValidation: "Strict"),
                V1Service service => admin.CoreV1.CreateNamespacedServiceAsync(service, service.Metadata.NamespaceProperty, fieldValidation: "Strict"),
                V1PodDisruptionBudget budget => admin.PolicyV1.CreateNamespacedPodDisruptionBudgetAsync(budget, budget.Metadata.NamespaceProperty, fieldValidation: "Strict"),
                _ => throw new InvalidOperationException($"infra/k8s has a {manifest.GetType().Name}; teach Manifests.ApplyAsync to apply it."),
            });
        }
    }

    // A bound token of the app's ServiceAccount (droplets-system/droplets), valid for a day: what
    // `kubectl create token` gets, and what a region's Token setting holds.
    public static Task<string> AppTokenAsync(IKubernetes admin) => TokenAsync(admin, "droplets");

    // The same for another ServiceAccount of droplets-system (the console gateway's: droplets-console).
    public static async Task<string> TokenAsync(IKubernetes admin, string account)
    {
        var request = new Authenticationv1TokenRequest { Spec = new V1TokenRequestSpec { ExpirationSeconds = 86400, Audiences = [] } };
        return (await admin.CoreV1.CreateNamespacedServiceAccountTokenAsync(request, account, "droplets-system")).Status.Token;
    }

    // Only the simple list form this kustomization uses: "  - file.yaml" lines under "resources:".
    [GeneratedRegex(@"^\s+-\s+(\S+\.ya?ml)\s*$", RegexOptions.Multiline)]
    private static partial Regex ResourceLine();
}

public class ManifestTests
{
    [Fact]
    public void Kustomization_lists_every_manifest_in_the_folder()
    {
        var files = Directory.GetFiles(Manifests.Folder, "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml").Order();
        Assert.Equal(files, Manifests.Resources().Order());
    }

    [Fact]
    public void Control_plane_objects_live_in_droplets_system_and_the_role_is_bound_to_the_service_account()
    {
        var objects = Manifests.Load();
        Assert.Contains(objects.OfType<V1Namespace>(), n => n.Metadata.Name == "droplets-system");
        var accounts = objects.OfType<V1ServiceAccount>().ToList();
        Assert.Equal(["droplets", "droplets-console"], accounts.Select(a => a.Metadata.Name).Order());
        Assert.All(accounts, a => Assert.Equal("droplets-system", a.Metadata.NamespaceProperty));
        // Each identity bound to its own role: the gateway's is not the API's.
        foreach (var other in objects.OfType<V1ClusterRoleBinding>().Where(b => b.Metadata.Name != "droplets"))
            Assert.Equal((other.Metadata.Name, other.Metadata.Name), (other.RoleRef.Name, Assert.Single(other.Subjects).Name));

        var binding = objects.OfType<V1ClusterRoleBinding>().Single(b => b.Metadata.Name == "droplets");
        Assert.Equal(("ClusterRole", "droplets"), (binding.RoleRef.Kind, binding.RoleRef.Name));
        var subject = Assert.Single(binding.Subjects);
        Assert.Equal(("ServiceAccount", "droplets", "droplets-system"), (subject.Kind, subject.Name, subject.NamespaceProperty));
    }

    // The policy and the app agree on what the app is and where it may write: the ServiceAccount of
    // serviceaccount.yaml, and the app's default Namespaces:Prefix.
    [Fact]
    public void The_namespace_policy_confines_the_apps_service_account_to_the_apps_prefix()
    {
        var objects = Manifests.Load();
        var policy = Assert.Single(objects.OfType<V1ValidatingAdmissionPolicy>());
        var account = objects.OfType<V1ServiceAccount>().Single(a => a.Metadata.Name == "droplets");
        Assert.Equal($"request.userInfo.username == 'system:serviceaccount:{account.Metadata.NamespaceProperty}:{account.Metadata.Name}'",
            Assert.Single(policy.Spec.MatchConditions).Expression);
        var prefix = new global::Droplets.KubeVirt.NamespaceOptions().Prefix;
        Assert.Equal($"'{prefix}'", policy.Spec.Variables.Single(v => v.Name == "prefix").Expression);
        var binding = Assert.Single(objects.OfType<V1ValidatingAdmissionPolicyBinding>());
        Assert.Equal((policy.Metadata.Name, "Deny"), (binding.Spec.PolicyName, Assert.Single(binding.Spec.ValidationActions)));
    }

    // kubectl cannot validate against a schema without a cluster, so this does it here: each document, read into
    // the client's typed model and written back, must come out the same. A misspelt or misplaced field is dropped
    // by the typed read and shows up as a difference.
    [Fact]
    public void Every_field_of_every_manifest_is_known_to_the_kubernetes_models()
    {
        foreach (var file in Manifests.Resources())
        {
            var text = File.ReadAllText(Path.Combine(Manifests.Folder, file));
            var typed = KubernetesYaml.LoadAllFromString(text);
            var written = Documents(text);
            Assert.Equal(written.Count, typed.Count);
            for (var i = 0; i < typed.Count; i++)
                Assert.True(Canonical(written[i]) == Canonical(Documents(KubernetesYaml.Serialize(typed[i])).Single()),
                    $"{file}, document {i + 1} ({typed[i].GetType().Name}) has fields the Kubernetes API does not know:\n{Canonical(written[i])}\nread as\n{Canonical(Documents(KubernetesYaml.Serialize(typed[i])).Single())}");
        }
    }

    static List<YamlNode> Documents(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return stream.Documents.Select(d => d.RootNode).ToList();
    }

    static string Canonical(YamlNode node) => node switch
    {
        YamlMappingNode map => "{" + string.Join(",", map.Children.Select(c => Canonical(c.Key) + ":" + Canonical(c.Value)).Order(StringComparer.Ordinal)) + "}",
        YamlSequenceNode list => "[" + string.Join(",", list.Children.Select(Canonical)) + "]",
        YamlScalarNode scalar => "'" + scalar.Value + "'",
        _ => node.ToString(),
    };
}

