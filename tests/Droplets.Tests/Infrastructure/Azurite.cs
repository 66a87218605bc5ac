using System.Diagnostics;
using System.Net.Sockets;

namespace Droplets.Tests.Infrastructure;

// One Azurite for the whole test run, from the repository's own npm install, on free ports and in
// memory. Tests keep apart through their own table prefixes and task-hub names.
public sealed class Azurite
{
    // Azurite's documented, public development account; not a secret.
    const string Account = "devstoreaccount1";
    const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    static readonly Lazy<Task<Azurite>> Instance = new(StartAsync);

    readonly Process process;

    Azurite(Process process, int blob, int queue, int table)
    {
        this.process = process;
        Ports = [blob, queue, table];
        ConnectionString = ConnectionStringFor(Ports);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Stop();
    }

    public string ConnectionString { get; }

    // Blob, queue and table.
    public int[] Ports { get; }

    public static string ConnectionStringFor(int[] ports) =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={Key};" +
        $"BlobEndpoint=http://127.0.0.1:{ports[0]}/{Account};QueueEndpoint=http://127.0.0.1:{ports[1]}/{Account};TableEndpoint=http://127.0.0.1:{ports[2]}/{Account};";

    public static Task<Azurite> SharedAsync() => Instance.Value;

    static async Task<Azurite> StartAsync()
    {
        var script = Path.Combine(Repository.Root, "node_modules", "azurite", "dist", "src", "azurite.js");
        if (!File.Exists(script))
            throw new InvalidOperationException("Azurite is not installed: run `npm ci` in the repository root first.");
        int blob = Repository.FreePort(), queue = Repository.FreePort(), table = Repository.FreePort();
        var start = new ProcessStartInfo("node")
        {
            ArgumentList =
            {
                script, "--inMemoryPersistence", "--skipApiVersionCheck", "--disableProductStyleUrl", "--silent",
                "--blobHost", "127.0.0.1", "--blobPort", blob.ToString(),
                "--queueHost", "127.0.0.1", "--queuePort", queue.ToString(),
                "--tableHost", "127.0.0.1", "--tablePort", table.ToString(),
            },
            // Never the terminal's: a background run would stop it on a read (SIGTTIN) and leave it behind.
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        foreach (var port in new[] { blob, queue, table })
            await Eventually.ConnectsAsync(port, TimeSpan.FromSeconds(30));
        return new Azurite(process, blob, queue, table);
    }

    void Stop()
    {
        try
        {
            // One node process, no children: no walk over /proc at exit, where the test host may be cut short.
            process.Kill();
        }
        catch (InvalidOperationException)
        {
        }
    }
}

public static class Eventually
{
    static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    // Polls a condition until it holds or the deadline passes; the failure names what was awaited.
    public static async Task<T> HoldsAsync<T>(Func<Task<T>> probe, Func<T, bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        T last;
        while (true)
        {
            last = await probe();
            if (condition(last))
                return last;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0} s waiting for {what}; last value: {last}");
            await Task.Delay(PollInterval);
        }
    }

    public static async Task ConnectsAsync(int port, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(PollInterval);
            }
        }
    }
}
