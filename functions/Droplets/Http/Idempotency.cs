using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using Droplets.Actions;
using Droplets.Auth;
using Droplets.Droplets;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace Droplets.Http;

// Idempotency-Key on POST, PATCH and DELETE: the same key with the same request within 24 h answers
// the original response without doing anything twice; the same key with a different request is a 422.
// Keys belong to the token that used them. Records live in Table Storage (PartitionKey = token id,
// RowKey = SHA-256 of the key), written as "pending" before the handler runs, so a retry that arrives
// while the first attempt is still running gets 409 instead of a second execution.
public sealed class Idempotency(TableServiceClient service, StoreOptions options, IOptions<JsonOptions> json, TimeProvider time)
{
    public const string Header = "Idempotency-Key";
    public static readonly TimeSpan Retention = TimeSpan.FromHours(24);

    // A pending record this old belongs to an attempt that died; its request may be run again.
    static readonly TimeSpan Abandoned = TimeSpan.FromMinutes(2);

    readonly TableClient records = service.GetTableClient(options.TablePrefix + "idempotency");

    public Task InitializeAsync(CancellationToken cancellationToken) => records.CreateIfNotExistsAsync(cancellationToken);

    public sealed record Ticket(string PartitionKey, string RowKey, ETag ETag);

    // Null ticket and null result: no key, run normally. A result: answer it instead of running.
    public async Task<(Ticket? Ticket, IResult? Answer)> BeginAsync(HttpContext context)
    {
        var key = context.Request.Headers[Header].ToString();
        // Token creation is left out on purpose: its answer holds a secret, which must not be stored.
        if (key.Length == 0 || HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method)
            || context.Request.Path.StartsWithSegments("/api/v1/tokens", StringComparison.OrdinalIgnoreCase))
            return (null, null);
        if (key.Length > 255 || key.AsSpan().ContainsAnyExceptInRange((char)0x21, (char)0x7e))
            return (null, Problems.BadRequest("invalid_idempotency_key", "Idempotency-Key must be 1-255 visible ASCII characters."));

        var requestHash = await RequestHashAsync(context.Request);
        var partition = context.Caller().TokenId;
        var row = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
        var now = time.GetUtcNow();
        try
        {
            var added = await records.AddEntityAsync(new TableEntity(partition, row) { ["RequestHash"] = requestHash, ["StartedAt"] = now }, context.RequestAborted);
            return (new Ticket(partition, row, added.Headers.ETag ?? ETag.All), null);
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
        }

        var existing = (await records.GetEntityAsync<TableEntity>(partition, row, cancellationToken: context.RequestAborted)).Value;
        var startedAt = existing.GetDateTimeOffset("StartedAt") ?? now;
        var expired = now - startedAt > Retention;
        var completed = existing.GetInt32("Status") is not null;
        if (!expired && existing.GetString("RequestHash") != requestHash)
            return (null, Problems.Create(StatusCodes.Status422UnprocessableEntity, "idempotency_key_reused", "Idempotency key reused",
                "This Idempotency-Key was used with a different request in the last 24 hours; use a new key for a new request."));
        if (!expired && completed)
            return (null, new Replay(existing));
        if (!expired && now - startedAt < Abandoned)
            return (null, Problems.Create(StatusCodes.Status409Conflict, "idempotency_key_in_progress", "Request in progress",
                "A request with this Idempotency-Key is still being processed; retry shortly to get its answer."));

        // Expired, or abandoned by an attempt that died: take the key over (ETag: only one taker wins).
        var fresh = new TableEntity(partition, row) { ["RequestHash"] = requestHash, ["StartedAt"] = now };
        try
        {
            var replaced = await records.UpdateEntityAsync(fresh, existing.ETag, TableUpdateMode.Replace, context.RequestAborted);
            return (new Ticket(partition, row, replaced.Headers.ETag ?? ETag.All), null);
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            return (null, Problems.Create(StatusCodes.Status409Conflict, "idempotency_key_in_progress", "Request in progress",
                "A request with this Idempotency-Key is being processed; retry shortly to get its answer."));
        }
    }

    // Records the answer for replays. Only the status, the JSON body and the headers a client acts on.
    public async Task<IResult> CompleteAsync(Ticket ticket, HttpContext context, IResult result)
    {
        var inner = result;
        while (inner is INestedHttpResult nested)
            inner = nested.Result;
        var status = (inner as IStatusCodeHttpResult)?.StatusCode ?? StatusCodes.Status200OK;
        var value = (inner as IValueHttpResult)?.Value;
        var headers = inner switch
        {
            AcceptedAction accepted => accepted.Headers,
            Created<SshKeys.SshKey> created => new ActionHeaders(created.Location, null, null),
            _ => new ActionHeaders(null, null, null),
        };
        var entity = new TableEntity(ticket.PartitionKey, ticket.RowKey)
        {
            ["Status"] = status,
            ["Body"] = value is null ? null : JsonSerializer.Serialize(value, value.GetType(), json.Value.SerializerOptions),
            ["ContentType"] = inner is ProblemHttpResult ? "application/problem+json" : "application/json",
            ["Location"] = headers.Location,
            ["OperationLocation"] = headers.OperationLocation,
            ["Link"] = headers.Link,
        };
        // Merge keeps RequestHash and StartedAt.
        await records.UpdateEntityAsync(entity, ETag.All, TableUpdateMode.Merge, CancellationToken.None);
        return result;
    }

    static async Task<string> RequestHashAsync(HttpRequest request)
    {
        request.EnableBuffering(JsonBody.LargestMaxBytes + 1);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{request.Method}\n{request.Path}\n"));
        var buffer = new byte[8192];
        long total = 0;
        int read;
        while ((read = await request.Body.ReadAsync(buffer, request.HttpContext.RequestAborted)) > 0 && total <= JsonBody.LargestMaxBytes)
        {
            hash.AppendData(buffer, 0, read);
            total += read;
        }
        request.Body.Position = 0;
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    // The pipeline of the standalone host: the same Begin/Complete around a minimal-API endpoint.
    public sealed class Filter(Idempotency idempotency) : IEndpointFilter
    {
        public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
        {
            var (ticket, answer) = await idempotency.BeginAsync(context.HttpContext);
            if (answer is not null)
                return answer;
            var result = await next(context);
            return ticket is not null && result is IResult done ? await idempotency.CompleteAsync(ticket, context.HttpContext, done) : result;
        }
    }

    sealed class Replay(TableEntity record) : IResult
    {
        public async Task ExecuteAsync(HttpContext context)
        {
            context.Response.StatusCode = record.GetInt32("Status") ?? StatusCodes.Status200OK;
            context.Response.Headers["Idempotent-Replayed"] = "true";
            new ActionHeaders(NullIfEmpty("Location"), NullIfEmpty("OperationLocation"), NullIfEmpty("Link")).WriteTo(context.Response);
            if (record.GetString("Body") is { } body)
            {
                context.Response.ContentType = record.GetString("ContentType") ?? "application/json";
                await context.Response.WriteAsync(body, context.RequestAborted);
            }
        }

        // Records written before these were stored as null hold empty strings.
        string? NullIfEmpty(string name) => record.GetString(name) is { Length: > 0 } value ? value : null;
    }
}
