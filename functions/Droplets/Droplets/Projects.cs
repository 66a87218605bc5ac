using System.Text.RegularExpressions;

namespace Droplets.Droplets;

// Everything belongs to a project. Project ids are 1-63 of [a-z0-9_], alphanumeric at both ends, so that
// '_' → '-' maps each one to its own Kubernetes namespace (TenantNamespaces: the prefix and that). 'system' is
// reserved: droplets-system is the control plane's own namespace.
public static partial class Projects
{
    public const string Default = "proj_default";

    public const string Rule = "use 1-63 lowercase letters, digits and underscores, starting and ending with a letter or digit ('system' is reserved)";

    public static bool IsValid(string? projectId) => projectId is not null && projectId != Reserved && Pattern().IsMatch(projectId);

    const string Reserved = "system";

    [GeneratedRegex(@"^[a-z0-9]([a-z0-9_]{0,61}[a-z0-9])?\z")]
    private static partial Regex Pattern();
}
