namespace Droplets.Tests.Infrastructure;

// The names a user reads off the cluster, written out here rather than taken from the app: a project's objects live
// in droplets-<project> (the default Namespaces:Prefix), and an object is named after its id, '_' → '-' in both.
public static class KubeNames
{
    public static string Namespace(string project) => "droplets-" + Object(project);

    public static string Object(string id) => id.Replace('_', '-');
}
