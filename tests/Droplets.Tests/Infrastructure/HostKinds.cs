using System.Reflection;
using Xunit.Sdk;

namespace Droplets.Tests.Infrastructure;

// The two ways the product runs. Every end-to-end test runs on both:
// - a test that starts its own host is a [Theory] over [BothHosts] with a HostKind parameter, or, where such tests
//   are long (the crash and outage tests), in an abstract class taking the HostKind with two nested sealed classes,
//   OnStandalone and OnFunctions, so that the two hosts' runs are two test collections, run in parallel;
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

// Where the hosts differ on purpose — the one list of it; every other answer is asserted equal on both:
// - Durable's management routes (/runtime/webhooks/durabletask/instances/{id}, …/terminate): the Functions host's
//   own, behind its durabletask_extension system key (which a local `func start` does not ask for); the standalone
//   host's copy, behind our admin token. See WorkflowManagementTests.The_management_routes_are_not_for_api_callers.
// - The console gateway: inside the standalone host; beside the Functions app (Functions holds no WebSockets), so
//   console URLs name Console:GatewayUrl. See ApiHost.ConsoleGateway.
// - The recovery sweep: a background service every Recovery:Interval (standalone); a timer trigger on
//   Recovery:Schedule, an NCRONTAB expression (Functions). ApiHost sets both to every second.
// - SIGTERM: the standalone host stops within 10 s, handing back in-flight work (StandaloneShutdownTests); the
//   Functions host's shutdown is the Functions host's own.
// - After a kill -9 the Functions host resumes work after its queue visibility timeout (1 minute, the least the
//   Durable extension accepts; the standalone engine is given 8 s in the crash tests), so its crash tests take longer.
