using Droplets.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Droplets.Auth;

// The one place that decides whether a request to /api/v1 may proceed: bearer token (401), rate limit
// (429, and RateLimit-* headers on every answer), read scope on mutations (403), admin-only token
// management (403). Both hosts call it from their middleware before any handler runs. The standalone
// host's workflow management routes (WorkflowManagementApi) pass it too, with the admin token only; the
// Functions host serves its own, behind its system key, and they never reach our middleware.
public sealed class ApiGate(Authenticator authenticator, RateLimiter limiter)
{
    public const string ApiPrefix = "/api/v1";

    public async Task<bool> AllowAsync(HttpContext context)
    {
        var management = context.Request.Path.StartsWithSegments(Actions.WorkflowManagementApi.Prefix, StringComparison.OrdinalIgnoreCase);
        if (!management && !context.Request.Path.StartsWithSegments(ApiPrefix, StringComparison.OrdinalIgnoreCase))
            return true;

        // Requests without a valid token are limited per client address (Auth:RateLimit:FailuresPerMinute) before they
        // cost anything: past the budget, only a token verified earlier on this instance (no storage read) passes.
        var client = ClientAddress(context);
        var header = context.Request.Headers.Authorization.ToString();
        string? refusal = string.IsNullOrEmpty(header) ? "Send an API token: Authorization: Bearer <token>."
            : !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7 ? "The Authorization header must be 'Bearer <token>'."
            : null;
        if (refusal is not null)
            return await FailAsync(context, client, refusal, header.Length == 0 ? "Bearer" : "Bearer error=\"invalid_request\"");

        var spent = limiter.Spent(client);
        var (caller, verdict) = await authenticator.AuthenticateAsync(header[7..].Trim(), mayRead: spent.Allowed, context.RequestAborted);
        switch (verdict)
        {
            case Verdict.Valid:
                break;
            case Verdict.Invalid:
                return await FailAsync(context, client, "The token is invalid, expired or revoked.", "Bearer error=\"invalid_token\"");
            case Verdict.NotChecked:
                return await TooManyAsync(context, spent, $"This client sent more than {limiter.FailuresPerMinute} requests without a valid token in a minute");
            default:
                throw new ArgumentOutOfRangeException(nameof(verdict), verdict, "Unknown verdict.");
        }

        var rate = limiter.Acquire(caller!.TokenId);
        WriteHeaders(context, rate);
        if (!rate.Allowed)
            return await TooManyAsync(context, rate, $"This token may make {rate.Limit} requests per window");

        var mutation = !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method) && !HttpMethods.IsOptions(context.Request.Method);
        if (mutation && !caller.CanWrite)
            return await RefuseAsync(context, Forbidden("This token has the read scope; changes need a write token."), null);
        if (context.Request.Path.StartsWithSegments(ApiPrefix + "/tokens", StringComparison.OrdinalIgnoreCase) && !caller.IsAdmin)
            return await RefuseAsync(context, Forbidden("Only the admin token manages tokens."), null);
        if (management && !caller.IsAdmin)
            return await RefuseAsync(context, Forbidden("Only the admin token manages workflows."), null);

        context.Features.Set(caller);
        return true;
    }

    // The client's address as ASP.NET Core has it: the connection's peer, or in the Functions app the address the
    // Functions host saw (it forwards it, and the worker applies it); behind a reverse proxy of its own, the standalone
    // host takes it from X-Forwarded-For with ASPNETCORE_FORWARDEDHEADERS_ENABLED=true.
    static string ClientAddress(HttpContext context) => context.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    // A 401, counted against the client's budget; past it, a 429.
    async Task<bool> FailAsync(HttpContext context, string client, string detail, string challenge)
    {
        var failures = limiter.Fail(client);
        if (!failures.Allowed)
            return await TooManyAsync(context, failures, $"This client sent more than {limiter.FailuresPerMinute} requests without a valid token in a minute");
        return await RefuseAsync(context, Problems.Create(StatusCodes.Status401Unauthorized, "unauthorized", "Unauthorized", detail), challenge);
    }

    static Task<bool> TooManyAsync(HttpContext context, RateLimiter.Decision rate, string who)
    {
        WriteHeaders(context, rate);
        context.Response.Headers.RetryAfter = Number(Math.Max(1, rate.ResetSeconds));
        return RefuseAsync(context, Problems.Create(StatusCodes.Status429TooManyRequests, "rate_limited", "Too many requests",
            $"{who}; retry in {Math.Max(1, rate.ResetSeconds)} s."), null);
    }

    static void WriteHeaders(HttpContext context, RateLimiter.Decision rate)
    {
        context.Response.Headers["RateLimit-Limit"] = Number(rate.Limit);
        context.Response.Headers["RateLimit-Remaining"] = Number(rate.Remaining);
        context.Response.Headers["RateLimit-Reset"] = Number(rate.ResetSeconds);
    }

    static string Number(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    static ProblemHttpResult Forbidden(string detail) =>
        Problems.Create(StatusCodes.Status403Forbidden, "forbidden", "Forbidden", detail);

    static async Task<bool> RefuseAsync(HttpContext context, ProblemHttpResult problem, string? challenge)
    {
        if (challenge is not null)
            context.Response.Headers.WWWAuthenticate = challenge;
        await problem.ExecuteAsync(context);
        return false;
    }
}

public static class CallerExtensions
{
    // Set by ApiGate for every /api/v1 request that reaches a handler.
    public static Caller Caller(this HttpContext context) =>
        context.Features.Get<Caller>() ?? throw new InvalidOperationException("No caller: the request did not pass ApiGate.");
}
