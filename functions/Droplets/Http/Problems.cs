using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Droplets.Http;

// RFC 9457 problem details with a stable machine-readable `code`; `request_id` is added for every
// problem in one place (ProblemDetailsOptions.CustomizeProblemDetails, see Extensions).
public static class Problems
{
    public static ProblemHttpResult BadRequest(string code, string detail) => Create(StatusCodes.Status400BadRequest, code, "Bad request", detail);

    public static ProblemHttpResult NotFound(string detail) => Create(StatusCodes.Status404NotFound, "not_found", "Not found", detail);

    public static ProblemHttpResult PayloadTooLarge(long limit) =>
        Create(StatusCodes.Status413PayloadTooLarge, "payload_too_large", "Payload too large", $"The request body must not exceed {limit} bytes.");

    public static ProblemHttpResult UnsupportedMediaType() =>
        Create(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", "Unsupported media type", "Send the request body as application/json.");

    // At most FieldErrors.Max messages; the detail says when there were more (validators stop looking once there are).
    public static ProblemHttpResult Validation(FieldErrors errors)
    {
        var problem = Validation(errors.ToDictionary());
        if (errors.Count > FieldErrors.Max)
            problem.ProblemDetails.Detail += $" (More errors were found: at most {FieldErrors.Max} are reported at once.)";
        return problem;
    }

    public static ProblemHttpResult Validation(IReadOnlyDictionary<string, string[]> errors)
    {
        var problem = Create(StatusCodes.Status422UnprocessableEntity, "validation_failed", "Validation failed",
            string.Join(" ", errors.SelectMany(e => e.Value)));
        problem.ProblemDetails.Extensions["errors"] = errors;
        return problem;
    }

    // `extensions`: members of the problem's own beyond code (RFC 9457 §3.2), e.g. which quota and how much of it.
    public static ProblemHttpResult Create(int status, string code, string title, string detail, IReadOnlyDictionary<string, object?>? extensions = null)
    {
        var details = new ProblemDetails { Status = status, Title = title, Detail = detail, Type = $"https://droplets.dev/problems/{code}" };
        details.Extensions["code"] = code;
        foreach (var (name, value) in extensions ?? new Dictionary<string, object?>())
            details.Extensions[name] = value;
        return TypedResults.Problem(details);
    }

    public static string CodeFor(int status) => status switch
    {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "validation_failed",
        429 => "too_many_requests",
        >= 500 => "internal_error",
        _ => "error",
    };
}
