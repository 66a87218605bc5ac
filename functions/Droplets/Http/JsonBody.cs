using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Droplets.Http;

// Reads a JSON request body ourselves rather than through framework binding, so that every host
// answers malformed, oversized and mistyped bodies with the same problem details.
public static class JsonBody
{
    public const int MaxBytes = 64 * 1024;

    // The largest body any route accepts (a droplet create with 64 KiB of user data, escaped).
    public const int LargestMaxBytes = 512 * 1024;

    public static async Task<(T? Value, ProblemHttpResult? Problem)> ReadAsync<T>(HttpRequest request, CancellationToken cancellationToken, int maxBytes = MaxBytes)
        where T : class
    {
        if (!IsJson(request.ContentType))
            return (null, Problems.UnsupportedMediaType());
        if (request.ContentLength > maxBytes)
            return (null, Problems.PayloadTooLarge(maxBytes));

        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes)
                return (null, Problems.PayloadTooLarge(maxBytes));
            buffer.Write(chunk, 0, read);
        }
        if (buffer.Length == 0)
            return (null, Problems.BadRequest("invalid_json", "The request body is empty; send a JSON object."));

        var options = request.HttpContext.RequestServices.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        try
        {
            var value = JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), options);
            return value is null
                ? (null, Problems.BadRequest("invalid_json", "The request body must be a JSON object."))
                : (value, null);
        }
        catch (JsonException e)
        {
            return (null, Problems.BadRequest("invalid_json", Describe(e)));
        }
    }

    static bool IsJson(string? contentType) =>
        contentType is not null
        && Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media)
        && (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || media.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase));

    // The serializer's own messages name CLR types; users need the JSON path and what went wrong.
    static string Describe(JsonException e)
    {
        var field = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? null : e.Path.TrimStart('$', '.');
        if (e.Message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
            return $"Unknown field {FieldErrors.Quote(UnknownMember(e.Message) ?? field)}.";
        if (e.Message.Contains("could not be converted", StringComparison.Ordinal))
            return field is null ? "The request body must be a JSON object." : $"Field {FieldErrors.Quote(field)} has the wrong type.";
        return field is null
            ? $"The request body is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})."
            : $"The request body is not valid JSON near {FieldErrors.Quote(field)}.";
    }

    static string? UnknownMember(string message)
    {
        var start = message.IndexOf('\'', StringComparison.Ordinal);
        var end = start < 0 ? -1 : message.IndexOf('\'', start + 1);
        return end > start ? message[(start + 1)..end] : null;
    }
}
