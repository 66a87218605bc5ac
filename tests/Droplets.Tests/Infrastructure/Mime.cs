using System.Text;
using System.Text.RegularExpressions;

namespace Droplets.Tests.Infrastructure;

// Just enough of RFC 2046 to read the multipart user data Droplets writes (LF line breaks, one level): the line
// break before a boundary belongs to the boundary; base64 parts are decoded as UTF-8.
public sealed record Mime(string Boundary, string ContentType, IReadOnlyDictionary<string, string> Headers, string Raw, string Body)
{
    public static List<Mime> Parse(string message)
    {
        var headerEnd = message.IndexOf("\n\n", StringComparison.Ordinal);
        Assert.True(headerEnd > 0, $"not a MIME message:\n{message}");
        var boundary = Regex.Match(message[..headerEnd], "boundary=\"([^\"]+)\"").Groups[1].Value;
        Assert.Contains("Content-Type: multipart/mixed", message[..headerEnd]);
        Assert.Contains("MIME-Version: 1.0", message[..headerEnd]);
        var body = message[(headerEnd + 2)..];
        Assert.StartsWith($"--{boundary}\n", body);
        Assert.EndsWith($"\n--{boundary}--\n", body);
        var inner = body[$"--{boundary}\n".Length..^$"\n--{boundary}--\n".Length];
        return inner.Split($"\n--{boundary}\n").Select(raw =>
        {
            var split = raw.IndexOf("\n\n", StringComparison.Ordinal);
            var headers = raw[..split].Split('\n').Select(h => h.Split(": ", 2)).ToDictionary(h => h[0], h => h[1], StringComparer.OrdinalIgnoreCase);
            var content = raw[(split + 2)..];
            var decoded = headers.GetValueOrDefault("Content-Transfer-Encoding") == "base64" ? Encoding.UTF8.GetString(Convert.FromBase64String(content)) : content;
            return new Mime(boundary, headers["Content-Type"].Split(';')[0], headers, raw, decoded);
        }).ToList();
    }
}
