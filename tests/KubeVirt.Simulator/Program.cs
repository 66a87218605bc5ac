using System.Runtime.InteropServices;
using KubeVirt.Simulator;
using Microsoft.Extensions.Configuration;

// Knobs come from "Simulator:*" (command line or Simulator__* environment), e.g. --Simulator:BootDelay=00:00:00.
var config = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args).Build();
var options = SimulatorOptions.FromConfiguration(config.GetSection("Simulator"));
await using var simulator = await KubeVirtSimulator.StartAsync(options, config["urls"] ?? "http://127.0.0.1:8001");
Console.WriteLine($"KubeVirt simulator listening on {simulator.BaseAddress}");

// Run until Ctrl+C or SIGTERM.
var stopped = new TaskCompletionSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
await stopped.Task;

void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    stopped.TrySetResult();
}
