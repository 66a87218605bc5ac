using Microsoft.AspNetCore.Http;

namespace Droplets.Http;

// Every response carries X-Request-Id: a well-formed incoming one is echoed so that callers can
// correlate, anything else is replaced by a fresh id. Both hosts call Apply from their middleware.
public static class RequestId
{
    public const string Header = "X-Request-Id";

    public static string Apply(HttpContext context)
    {
        var incoming = context.Request.Headers[Header].ToString();
        var id = IsValid(incoming) ? incoming : Guid.NewGuid().ToString("N");
        context.TraceIdentifier = id;
        context.Response.Headers[Header] = id;
        return id;
    }

    static bool IsValid(string value) =>
        value.Length is > 0 and <= 128 && !value.AsSpan().ContainsAnyExcept(Allowed);

    static readonly System.Buffers.SearchValues<char> Allowed =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:");
}
