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

        var header = context.Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(header))
            return await RefuseAsync(context, Unauthorized("Send an API token: Authorization: Bearer <token>."), "Bearer");
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
            return await RefuseAsync(context, Unauthorized("The Authorization header must be 'Bearer <token>'."), "Bearer error=\"invalid_request\"");

        var caller = await authenticator.AuthenticateAsync(header[7..].Trim(), context.RequestAborted);
        if (caller is null)
            return await RefuseAsync(context, Unauthorized("The token is invalid, expired or revoked."), "Bearer error=\"invalid_token\"");

        var rate = limiter.Acquire(caller.TokenId);
        context.Response.Headers["RateLimit-Limit"] = rate.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.Headers["RateLimit-Remaining"] = rate.Remaining.ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.Headers["RateLimit-Reset"] = rate.ResetSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (!rate.Allowed)
        {
            context.Response.Headers.RetryAfter = rate.ResetSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return await RefuseAsync(context, Problems.Create(StatusCodes.Status429TooManyRequests, "rate_limited", "Too many requests",
                $"This token may make {rate.Limit} requests per window; retry in {rate.ResetSeconds} s."), null);
        }

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

    static ProblemHttpResult Unauthorized(string detail) =>
        Problems.Create(StatusCodes.Status401Unauthorized, "unauthorized", "Unauthorized", detail);

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
