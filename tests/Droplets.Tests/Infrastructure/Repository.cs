
namespace Droplets.Tests.Infrastructure;

public static class Repository
{
    public static string Root { get; } = FindRoot();

    // Debug or Release: whatever this test assembly was built as, so sibling outputs match.
    public static string Configuration { get; } = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;

    public static string Output(string projectDirectory, string assembly) =>
        Path.Combine(Root, projectDirectory, "bin", Configuration, "net10.0", assembly);

    public static int FreePort() => global::KubeVirt.Simulator.Cluster.Ports.Free();

    // Table and task-hub names: letters and digits only, unique per test.
    public static string UniqueName(string prefix) => prefix + Guid.NewGuid().ToString("N")[..12];

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Droplets.Functions.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("Run the tests from inside the repository.");
    }
}
