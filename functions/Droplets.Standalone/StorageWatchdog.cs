using Azure;
using Azure.Data.Tables;

namespace Droplets.Standalone;

// Crash-only recovery from a storage outage, as the Functions host does it. After the storage account has been gone
// for a while, the in-process Durable Task sidecar can stop dispatching orchestrations for good, even once storage is
// back (OutageMatrixTests found it; the cause inside the sidecar was not found). The Functions host stops itself in
// that case (WebJobs cannot renew its storage leases) and its platform starts it again. This host does the same: once
// no storage request has been answered for Storage:OutageLimit (15 s), it stops with exit code 1, and its supervisor
// (Kubernetes, systemd, scripts/run-local.sh) starts it again on the same task hub, where every workflow resumes.
// An answer of any status counts: only an outage, not a refusal, restarts the host.
public sealed class StorageWatchdog(TableServiceClient tables, IConfiguration configuration, IHostApplicationLifetime lifetime, TimeProvider time,
    ILogger<StorageWatchdog> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var limit = configuration.GetValue("Storage:OutageLimit", TimeSpan.FromSeconds(15));
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
        var lastAnswer = time.GetUtcNow();
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (await AnswersAsync(stoppingToken))
            {
                lastAnswer = time.GetUtcNow();
                continue;
            }
            if (time.GetUtcNow() - lastAnswer < limit)
                continue;
            log.LogCritical("Storage has not answered for {Limit}; stopping, so that the supervisor starts this host again with fresh workflow dispatchers", limit);
            Environment.ExitCode = 1;
            lifetime.StopApplication();
            return;
        }
    }

    async Task<bool> AnswersAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var _ in tables.QueryAsync(filter: "TableName eq 'watchdog'", maxPerPage: 1, cancellationToken: cancellationToken))
                break;
            return true;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // No answer at all (refused, reset, timed out, retries spent) is the outage.
            return e is RequestFailedException { Status: not 0 };
        }
    }
}
