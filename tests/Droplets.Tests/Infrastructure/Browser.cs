using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Droplets.Tests.Infrastructure;

// Real clients in a real browser: tests/browser/*.mjs drive the machine's headless Chromium through
// playwright-core (both Chromium and the npm packages are installed by .ci/run and `npm ci`).
public static class Browser
{
    public static string Chromium => Environment.GetEnvironmentVariable("CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    // noVNC connects to the websocket (subprotocol plain.kubevirt.io) and its canvas comes back as PNG bytes,
    // with the desktop name noVNC read from ServerInit.
    public static async Task<(byte[] Png, string? DesktopName)> NoVncScreenshotAsync(Uri webSocket, TimeSpan timeout, string? bearerToken = null)
    {
        var script = Path.Combine(Repository.Root, "tests", "browser", "novnc-screenshot.mjs");
        if (!Directory.Exists(Path.Combine(Repository.Root, "node_modules", "@novnc", "novnc")) ||
            !Directory.Exists(Path.Combine(Repository.Root, "node_modules", "playwright-core")))
            throw new InvalidOperationException("noVNC or playwright-core is not installed: run `npm ci` in the repository root first.");
        if (!File.Exists(Chromium))
            throw new InvalidOperationException($"Chromium is not installed at {Chromium}: `apt-get install -y chromium` (as .ci/run does).");

        var output = Path.Combine(Path.GetTempPath(), $"novnc-{Guid.NewGuid():N}.png");
        var start = new ProcessStartInfo("node")
        {
            ArgumentList = { script, webSocket.ToString(), output, ((int)timeout.TotalSeconds).ToString() },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (bearerToken is not null)
            start.ArgumentList.Add(bearerToken);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        // The script keeps its own deadline; this one only catches a hung browser.
        using var guard = new CancellationTokenSource(timeout + TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(guard.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"novnc-screenshot.mjs did not finish: {await stderr}");
        }
        try
        {
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"novnc-screenshot.mjs failed ({process.ExitCode}): {await stderr}");
            var summary = JsonNode.Parse((await stdout).Trim())!;
            return (await File.ReadAllBytesAsync(output), summary["desktopName"]?.GetValue<string>());
        }
        finally
        {
            File.Delete(output);
        }
    }
}
