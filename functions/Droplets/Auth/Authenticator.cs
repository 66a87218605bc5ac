using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Droplets.Auth;

public sealed class AuthOptions
{
    // The bootstrap token (a secret setting; a Key Vault reference in Azure). It may act on every
    // project and is the only one that may manage tokens. Empty: no admin, only stored tokens work.
    public string? AdminToken { get; set; }

    // How long a verified token is trusted without re-reading it. Revocation is immediate on the
    // instance that handled it and takes at most this long on the others.
    public TimeSpan CacheTtl { get; set; } = TimeSpan.FromSeconds(10);

    public RateLimitOptions RateLimit { get; set; } = new();
}

public sealed class RateLimitOptions
{
    public int PerMinute { get; set; } = 250;
    public int PerHour { get; set; } = 5000;

    // Requests without a valid token (none, malformed, unknown, expired, revoked) per client address and minute. Past
    // it, such a client's requests are 429 before any storage read; tokens already verified on this instance (and the
    // admin token) still pass.
    public int FailuresPerMinute { get; set; } = 30;
}

// What AuthenticateAsync made of a token: a caller, or why not.
public enum Verdict { Valid, Invalid, NotChecked }

// Turns a bearer token into a Caller. Stored tokens are verified against their hash and cached for
// CacheTtl; expiry is checked on every request.
public sealed class Authenticator(TokenStore store, IOptions<AuthOptions> options, TimeProvider time)
{
    public const string AdminTokenId = "admin";

    readonly byte[]? adminHash = string.IsNullOrEmpty(options.Value.AdminToken) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.Value.AdminToken));
    readonly ConcurrentDictionary<string, Cached> cache = new(StringComparer.Ordinal);

    // Ids read and not found, until when they are known not to exist (CacheTtl): a well-formed unknown token costs one
    // read per CacheTtl and instance, not one per request. At most MaxUnknown ids are kept (then the set starts over).
    readonly ConcurrentDictionary<string, DateTimeOffset> unknown = new(StringComparer.Ordinal);
    const int MaxUnknown = 10_000;

    sealed record Cached(ApiToken Token, byte[] Hash, DateTimeOffset FetchedAt);

    // `mayRead` false: a token that would need a storage read is not checked (Verdict.NotChecked); the caller is over
    // its budget of failures.
    public async Task<(Caller? Caller, Verdict Verdict)> AuthenticateAsync(string token, bool mayRead, CancellationToken cancellationToken)
    {
        if (adminHash is not null && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(token)), adminHash))
            return (new Caller(AdminTokenId, [ApiToken.AllProjects], TokenScope.Write, IsAdmin: true), Verdict.Valid);
        if (!TokenFormat.TryParse(token, out var id))
            return (null, Verdict.Invalid);

        var now = time.GetUtcNow();
        if (unknown.TryGetValue(id, out var until) && now < until)
            return (null, Verdict.Invalid);
        if (!cache.TryGetValue(id, out var cached) || now - cached.FetchedAt > options.Value.CacheTtl)
        {
            if (!mayRead)
                return (null, Verdict.NotChecked);
            var stored = await store.GetAsync(id, cancellationToken);
            if (stored is null)
            {
                cache.TryRemove(id, out _);
                if (unknown.Count >= MaxUnknown)
                    unknown.Clear();
                unknown[id] = now + options.Value.CacheTtl;
                return (null, Verdict.Invalid);
            }
            cached = new Cached(stored.Value.Token, stored.Value.Hash, now);
            if (!TokenFormat.Matches(token, cached.Hash))
                return (null, Verdict.Invalid);
            cache[id] = cached;
            // Recorded at most once per cache period per instance, so use costs no write per request.
            await store.TouchAsync(id, now, cancellationToken);
        }
        else if (!TokenFormat.Matches(token, cached.Hash))
        {
            return (null, Verdict.Invalid);
        }

        var record = cached.Token;
        if (record.ExpiresAt is { } expires && expires <= now)
            return (null, Verdict.Invalid);
        return (new Caller(record.Id, record.ProjectIds, record.Scope, IsAdmin: false, record.ExpiresAt), Verdict.Valid);
    }

    public void Forget(string id) => cache.TryRemove(id, out _);
}

// Fixed one-minute and one-hour windows per key (a token id, or a client address for requests without a valid
// token), in this process. Exact for one instance; a Functions app scaled out to N instances lets a token through up
// to N times the limits (see README). Keys whose windows have all passed are dropped once there are many, so a stream
// of new client addresses cannot grow this without bound.
public sealed class RateLimiter(IOptions<AuthOptions> options, TimeProvider time)
{
    const int PruneAbove = 10_000;

    readonly ConcurrentDictionary<string, Windows> windows = new(StringComparer.Ordinal);
    long lastPrune;

    sealed class Windows
    {
        public long MinuteStart, HourStart;
        public int MinuteCount, HourCount;
    }

    public readonly record struct Decision(bool Allowed, int Limit, int Remaining, int ResetSeconds);

    public Decision Acquire(string tokenId) => Acquire("token:" + tokenId, options.Value.RateLimit.PerMinute, options.Value.RateLimit.PerHour, take: true);

    // A client's failed authentications: Spent tells, without counting, whether it is out of budget; Fail counts one.
    public Decision Spent(string client) => Failures(client, take: false);

    public Decision Fail(string client) => Failures(client, take: true);

    public int FailuresPerMinute => options.Value.RateLimit.FailuresPerMinute;

    Decision Failures(string client, bool take)
    {
        var perMinute = options.Value.RateLimit.FailuresPerMinute;
        return Acquire("client:" + client, perMinute, perMinute * 60, take);
    }

    Decision Acquire(string key, int perMinute, int perHour, bool take)
    {
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        // At most once a minute: with many keys alive, a scan per request would cost time linear in their number.
        if (windows.Count > PruneAbove && Volatile.Read(ref lastPrune) is var last && last < now - 60
            && Interlocked.CompareExchange(ref lastPrune, now, last) == last)
            Prune(now);
        var w = windows.GetOrAdd(key, _ => new Windows());
        lock (w)
        {
            if (now - w.MinuteStart >= 60)
                (w.MinuteStart, w.MinuteCount) = (now - now % 60, 0);
            if (now - w.HourStart >= 3600)
                (w.HourStart, w.HourCount) = (now - now % 3600, 0);

            var minuteReset = (int)(w.MinuteStart + 60 - now);
            var hourReset = (int)(w.HourStart + 3600 - now);
            var allowed = w.MinuteCount < perMinute && w.HourCount < perHour;
            if (allowed && take)
            {
                w.MinuteCount++;
                w.HourCount++;
            }
            var minuteLeft = perMinute - w.MinuteCount;
            var hourLeft = perHour - w.HourCount;
            // Report the window that runs out first: that is the one the caller has to respect.
            return minuteLeft <= hourLeft
                ? new Decision(allowed, perMinute, Math.Max(0, minuteLeft), minuteReset)
                : new Decision(allowed, perHour, Math.Max(0, hourLeft), hourReset);
        }
    }

    void Prune(long now)
    {
        foreach (var (key, w) in windows)
            if (now - Volatile.Read(ref w.HourStart) >= 3600)
                windows.TryRemove(key, out _);
    }
}
