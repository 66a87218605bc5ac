using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using Droplets.Droplets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Droplets.VncConsole;

public sealed class ConsoleOptions
{
    // HMAC-SHA256 key shared by the API and the console gateway (≥ 32 characters). Without one, a random key
    // is drawn at start: fine when the gateway runs in the same process (the standalone host), not otherwise.
    public string? SigningKey { get; init; }

    // Where clients connect, e.g. wss://console.example.com/console/vnc. Default: this host's /console/vnc.
    public Uri? GatewayUrl { get; init; }

    public TimeSpan TicketTtl { get; init; } = TimeSpan.FromSeconds(60);

    // A session with no bytes either way for this long is closed.
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(10);

    // A session is closed after this long, busy or not.
    public TimeSpan MaxSessionLifetime { get; init; } = TimeSpan.FromHours(8);

    // Sessions open at once with one token's tickets, per gateway process. One droplet never has more than one:
    // KubeVirt gives a VMI one VNC connection, and a new one replaces the old.
    public int MaxSessionsPerToken { get; init; } = 10;

    // How often a gateway with sessions open reads which tokens were revoked, and ends their sessions.
    public TimeSpan RevocationCheckInterval { get; init; } = TimeSpan.FromSeconds(10);
}

// TokenId: the API token the ticket was minted for (null in a ticket from before it was recorded), TokenExpiresAt its
// expiry (null: none). Namespace: the droplet's, so that the gateway needs no droplet record to find its VMI.
public sealed record ConsoleTicket(
    string Id, string DropletId, string ProjectId, string Region, DateTimeOffset ExpiresAt, string? TokenId = null, string Namespace = "", DateTimeOffset? TokenExpiresAt = null);

public enum TicketRefusal { Malformed, BadSignature, Expired, Used }

// A console URL carries a ticket: `v1.<payload>.<HMAC-SHA256 of "v1.<payload>">`, base64url. The signature
// binds it to one droplet and an expiry; the row in `consoletickets`, deleted on first use, makes it
// single-use (a delete succeeds once). Partition "~revoked" lists the tokens revoked in the last MaxSessionLifetime
// (RowKey: the token id), whose sessions the gateways end (ConsoleRevocations): the gateway reads no token table.
public sealed class ConsoleTickets
{
    const string Version = "v1";
    const string Revoked = "~revoked";
    readonly TableClient table;
    readonly byte[] key;
    readonly TimeProvider time;
    readonly TimeSpan ttl;
    readonly TimeSpan sessionLifetime;

    public ConsoleTickets(TableServiceClient service, StoreOptions store, IOptions<ConsoleOptions> options, TimeProvider time, ILogger<ConsoleTickets> log)
    {
        table = service.GetTableClient(store.TablePrefix + "consoletickets");
        this.time = time;
        ttl = options.Value.TicketTtl;
        sessionLifetime = options.Value.MaxSessionLifetime;
        if (options.Value.SigningKey is { Length: > 0 } configured)
        {
            key = Encoding.UTF8.GetBytes(configured);
        }
        else
        {
            key = RandomNumberGenerator.GetBytes(32);
            log.LogWarning("Console:SigningKey is not set: console tickets are signed with a per-process key, so only this process's gateway accepts them.");
        }
    }

    public Task InitializeAsync(CancellationToken cancellationToken) => table.CreateIfNotExistsAsync(cancellationToken);

    public async Task<(string Token, DateTimeOffset ExpiresAt)> MintAsync(Droplet droplet, Auth.Caller caller, CancellationToken cancellationToken)
    {
        var ticket = new ConsoleTicket(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), droplet.Id, droplet.ProjectId, droplet.Region,
            time.GetUtcNow().Add(ttl), caller.TokenId, droplet.Namespace, caller.ExpiresAt);
        await table.AddEntityAsync(new TableEntity(ticket.Id, "") { ["DropletId"] = ticket.DropletId, ["ExpiresAt"] = ticket.ExpiresAt }, cancellationToken);
        return (Sign(ticket), ticket.ExpiresAt);
    }

    public string Sign(ConsoleTicket ticket)
    {
        var payload = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(new Payload(ticket.Id, ticket.DropletId, ticket.ProjectId, ticket.Region, ticket.ExpiresAt.ToUnixTimeSeconds(), ticket.TokenId, ticket.Namespace, ticket.TokenExpiresAt?.ToUnixTimeSeconds())));
        var signed = $"{Version}.{payload}";
        return $"{signed}.{Base64Url.EncodeToString(HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(signed)))}";
    }

    // Checks the signature and the expiry, then consumes the ticket: true at most once per ticket.
    public async Task<(ConsoleTicket? Ticket, TicketRefusal? Refusal)> RedeemAsync(string? token, CancellationToken cancellationToken)
    {
        var parts = (token ?? "").Split('.');
        if (parts is not [Version, var payload, var signature] || payload.Length > 1024)
            return (null, TicketRefusal.Malformed);
        var expected = HMACSHA256.HashData(key, Encoding.ASCII.GetBytes($"{Version}.{payload}"));
        if (!Base64Url.IsValid(signature) || Base64Url.DecodeFromChars(signature) is not { } given || !CryptographicOperations.FixedTimeEquals(expected, given))
            return (null, TicketRefusal.BadSignature);
        if (!Base64Url.IsValid(payload) || Base64Url.DecodeFromChars(payload) is not { } json || Parse(json) is not { } ticket)
            return (null, TicketRefusal.Malformed);
        if (ticket.ExpiresAt <= time.GetUtcNow())
            return (null, TicketRefusal.Expired);
        var deleted = await table.DeleteEntityAsync(ticket.Id, "", ETag.All, cancellationToken);
        return deleted.Status == 404 ? (null, TicketRefusal.Used) : (ticket, null);
    }

    // The token's console sessions are to end: written before the token is deleted, kept for as long as a session lasts.
    public Task RevokeAsync(string tokenId, CancellationToken cancellationToken) =>
        table.UpsertEntityAsync(new TableEntity(Revoked, tokenId) { ["ExpiresAt"] = time.GetUtcNow().Add(sessionLifetime) }, TableUpdateMode.Replace, cancellationToken);

    // The tokens revoked in the last MaxSessionLifetime: one partition query.
    public async Task<IReadOnlySet<string>> RevokedAsync(CancellationToken cancellationToken)
    {
        var revoked = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var row in table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {Revoked}"), select: ["RowKey"], cancellationToken: cancellationToken))
            revoked.Add(row.RowKey);
        return revoked;
    }

    // Deletes the rows of tickets that expired unused (a used one is gone already) and of revocations no session can
    // outlive: the reconciler calls it on each sweep. One filtered query; the table only ever holds the last TicketTtl's
    // unused tickets and the last MaxSessionLifetime's revocations.
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var swept = 0;
        await foreach (var row in table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"ExpiresAt lt {time.GetUtcNow()}"), select: ["PartitionKey", "RowKey"],
                           cancellationToken: cancellationToken))
        {
            await table.DeleteEntityAsync(row.PartitionKey, row.RowKey, ETag.All, cancellationToken);
            swept++;
        }
        return swept;
    }

    sealed record Payload(string T, string D, string P, string R, long E, string? K = null, string? N = null, long? X = null);

    static ConsoleTicket? Parse(byte[] json)
    {
        try
        {
            // A ticket minted before tickets named the namespace (at most TicketTtl before an upgrade) is not valid.
            return JsonSerializer.Deserialize<Payload>(json) is { T: not null, D: not null, P: not null, R: not null, N: { Length: > 0 } } p
                ? new ConsoleTicket(p.T, p.D, p.P, p.R, DateTimeOffset.FromUnixTimeSeconds(p.E), p.K, p.N, p.X is { } x ? DateTimeOffset.FromUnixTimeSeconds(x) : null)
                : null;
        }
        catch (Exception e) when (e is JsonException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }
}
