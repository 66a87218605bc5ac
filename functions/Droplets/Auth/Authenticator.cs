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
}

// Turns a bearer token into a Caller. Stored tokens are verified against their hash and cached for
// CacheTtl; expiry is checked on every request.
public sealed class Authenticator(TokenStore store, IOptions<AuthOptions> options, TimeProvider time)
{
    public const string AdminTokenId = "admin";

    readonly byte[]? adminHash = string.IsNullOrEmpty(options.Value.AdminToken) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.Value.AdminToken));
    readonly ConcurrentDictionary<string, Cached> cache = new(StringComparer.Ordinal);

    sealed record Cached(ApiToken Token, byte[] Hash, DateTimeOffset FetchedAt);

    public async Task<Caller?> AuthenticateAsync(string token, CancellationToken cancellationToken)
    {
        if (adminHash is not null && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(token)), adminHash))
            return new Caller(AdminTokenId, [ApiToken.AllProjects], TokenScope.Write, IsAdmin: true);
        if (!TokenFormat.TryParse(token, out var id))
            return null;

        var now = time.GetUtcNow();
        if (!cache.TryGetValue(id, out var cached) || now - cached.FetchedAt > options.Value.CacheTtl)
        {
            var stored = await store.GetAsync(id, cancellationToken);
            if (stored is null)
            {
                cache.TryRemove(id, out _);
                return null;
            }
            cached = new Cached(stored.Value.Token, stored.Value.Hash, now);
            if (!TokenFormat.Matches(token, cached.Hash))
                return null;
            cache[id] = cached;
            // Recorded at most once per cache period per instance, so use costs no write per request.
            await store.TouchAsync(id, now, cancellationToken);
        }
        else if (!TokenFormat.Matches(token, cached.Hash))
        {
            return null;
        }

        var record = cached.Token;
        if (record.ExpiresAt is { } expires && expires <= now)
            return null;
        return new Caller(record.Id, record.ProjectIds, record.Scope, IsAdmin: false);
    }

    public void Forget(string id) => cache.TryRemove(id, out _);
}

// Fixed one-minute and one-hour windows per token, in this process. Exact for one instance; a Functions
// app scaled out to N instances lets a token through up to N times the limits (see README).
public sealed class RateLimiter(IOptions<AuthOptions> options, TimeProvider time)
{
    readonly ConcurrentDictionary<string, Windows> windows = new(StringComparer.Ordinal);

    sealed class Windows
    {
        public long MinuteStart, HourStart;
        public int MinuteCount, HourCount;
    }

    public readonly record struct Decision(bool Allowed, int Limit, int Remaining, int ResetSeconds);

    public Decision Acquire(string tokenId)
    {
        var limits = options.Value.RateLimit;
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        var w = windows.GetOrAdd(tokenId, _ => new Windows());
        lock (w)
        {
            if (now - w.MinuteStart >= 60)
                (w.MinuteStart, w.MinuteCount) = (now - now % 60, 0);
            if (now - w.HourStart >= 3600)
                (w.HourStart, w.HourCount) = (now - now % 3600, 0);

            var minuteReset = (int)(w.MinuteStart + 60 - now);
            var hourReset = (int)(w.HourStart + 3600 - now);
            var allowed = w.MinuteCount < limits.PerMinute && w.HourCount < limits.PerHour;
            if (allowed)
            {
                w.MinuteCount++;
                w.HourCount++;
            }
            var minuteLeft = limits.PerMinute - w.MinuteCount;
            var hourLeft = limits.PerHour - w.HourCount;
            // Report the window that runs out first: that is the one the caller has to respect.
            return minuteLeft <= hourLeft
                ? new Decision(allowed, limits.PerMinute, Math.Max(0, minuteLeft), minuteReset)
                : new Decision(allowed, limits.PerHour, Math.Max(0, hourLeft), hourReset);
        }
    }
}
