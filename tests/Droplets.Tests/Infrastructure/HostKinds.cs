using System.Net;
using System.Reflection;
using Xunit.Sdk;

namespace Droplets.Tests.Infrastructure;

// The two ways the product runs. Every end-to-end test runs on both:
// - a test that starts its own host is a [Theory] over [BothHosts] with a HostKind parameter;
// - a test class that shares a world is abstract, with two nested sealed classes, OnStandalone and OnFunctions,
//   whose class fixtures are the world on that host (World<StandaloneKind> / World<FunctionsKind>).
public enum HostKind { Standalone, Functions }

// A host kind as a type, so that a class fixture can be generic in it.
public interface IHostKind
{
    static abstract HostKind Kind { get; }
}

public sealed class StandaloneKind : IHostKind
{
    public static HostKind Kind => HostKind.Standalone;
}

public sealed class FunctionsKind : IHostKind
{
    public static HostKind Kind => HostKind.Functions;
}

[AttributeUsage(AttributeTargets.Method)]
public sealed class BothHostsAttribute : DataAttribute
{
    public override IEnumerable<object[]> GetData(MethodInfo testMethod) => Enum.GetValues<HostKind>().Select(kind => new object[] { kind });
}

// Where the hosts answer differently on purpose: the one place that says so, and why.
public static class HostDifferences
{
    // A known route with another method: the standalone host's routing knows every route and answers our 405
    // problem with `Allow`; the Functions host matches a function by route and method together, so a wrong
    // method finds no function and the host itself answers a bare 404 before any of our code runs.
    public static HttpStatusCode WrongMethod(HostKind kind) => kind switch
    {
        HostKind.Standalone => HttpStatusCode.MethodNotAllowed,
        HostKind.Functions => HttpStatusCode.NotFound,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
