using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;

namespace Droplets.Auth;

[JsonConverter(typeof(JsonStringEnumConverter<TokenScope>))]
public enum TokenScope
{
    [JsonStringEnumMemberName("read")] Read,
    [JsonStringEnumMemberName("write")] Write,
}

// A stored API token as the API shows it. The secret is never stored; only its SHA-256.
public sealed record ApiToken
{
    public const string AllProjects = "*";

    // At most this many projects in one token; a token for every project holds ["*"].
    public const int MaxProjects = 100;

    public required string Id { get; init; }
    public required string Name { get; init; }
    public required IReadOnlyList<string> ProjectIds { get; init; }
    public required TokenScope Scope { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public DateTimeOffset? LastUsedAt { get; init; }
}

// Who is calling: the token's id (recorded as the author of what it does), what it may see and do.
public sealed record Caller(string TokenId, IReadOnlyList<string> ProjectIds, TokenScope Scope, bool IsAdmin, DateTimeOffset? ExpiresAt = null)
{
    public bool AllProjects => ProjectIds.Contains(ApiToken.AllProjects);

    public bool CanSee(string projectId) => AllProjects || ProjectIds.Contains(projectId, StringComparer.Ordinal);

    public bool CanWrite => Scope == TokenScope.Write;
}

// Token strings: "dpt_" + 12 hex id + "_" + 43 base64url characters of 256 random bits. The id part
// makes lookup a point read; the secret is compared by hash in constant time.
public static class TokenFormat
{
    public const string Prefix = "dpt_";
    const int IdLength = 12;
    const int SecretLength = 43;
    public const int Length = 4 + IdLength + 1 + SecretLength;

    public static (string Id, string Token) New()
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(IdLength / 2));
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        return (id, $"{Prefix}{id}_{secret}");
    }

    public static bool TryParse(string token, out string id)
    {
        id = "";
        if (token.Length != Length || !token.StartsWith(Prefix, StringComparison.Ordinal) || token[Prefix.Length + IdLength] != '_')
            return false;
        var idPart = token.AsSpan(Prefix.Length, IdLength);
        var secretPart = token.AsSpan(Prefix.Length + IdLength + 1);
        if (idPart.ContainsAnyExcept("0123456789abcdef") || secretPart.ContainsAnyExcept(Base64UrlAlphabet))
            return false;
        id = idPart.ToString();
        return true;
    }

    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    public static bool Matches(string token, byte[] hash) => CryptographicOperations.FixedTimeEquals(Hash(token), hash);

    static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    static readonly System.Buffers.SearchValues<char> Base64UrlAlphabet =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
}
