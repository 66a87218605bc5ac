using System.Runtime.InteropServices;
using KubeVirt.Simulator;
using Microsoft.Extensions.Configuration;

// Knobs come from "Simulator:*" (command line or Simulator__* environment), e.g. --Simulator:BootDelay=00:00:00.
var config = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args).Build();
var options = SimulatorOptions.FromConfiguration(config.GetSection("Simulator"));
await using var simulator = await KubeVirtSimulator.StartAsync(options, config["urls"] ?? "http://127.0.0.1:8001");
Console.WriteLine($"KubeVirt simulator listening on {simulator.BaseAddress} (kube-apiserver {simulator.ApiServer})");
// --kubeconfig FILE: an admin kubeconfig for kubectl, naming the API server itself (https, its CA beside the file):
// kubectl sends no credentials over plain HTTP, and it needs none of virt-api's subresources.
if (config["kubeconfig"] is { Length: > 0 } kubeconfig)
{
    var authority = Path.ChangeExtension(Path.GetFullPath(kubeconfig), ".ca.crt");
    await File.WriteAllTextAsync(authority, simulator.CertificateAuthorityPem);
    await File.WriteAllTextAsync(kubeconfig, $$$"""
        apiVersion: v1
        kind: Config
        clusters: [{name: simulator, cluster: {server: "{{{simulator.ApiServer}}}", certificate-authority: "{{{authority}}}"}}]
        users: [{name: admin, user: {token: "{{{simulator.AdminToken}}}"}}]
        contexts: [{name: simulator, context: {cluster: simulator, user: admin}}]
        current-context: simulator
        """);
    Console.WriteLine($"kubeconfig (admin): {kubeconfig}");
}

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
