using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace KubeVirt.Simulator;

// Reading and writing JSON the way the API server and virt-api do.
internal static class Rest
{
    internal static async Task<JsonNode?> ReadJson(HttpContext context, bool allowEmpty = false)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var text = await reader.ReadToEndAsync(context.RequestAborted);
        if (string.IsNullOrWhiteSpace(text))
            return allowEmpty ? null : throw Errors.BadRequest("the request body is empty");
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException e)
        {
            throw Errors.BadRequest($"couldn't get version/kind; json parse error: {e.Message}");
        }
    }

    internal static async Task Write(HttpContext context, int code, JsonNode body)
    {
        context.Response.StatusCode = code;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(Json.Compact), context.RequestAborted);
    }
}
