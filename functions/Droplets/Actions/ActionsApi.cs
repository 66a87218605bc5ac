using System.Text.Json;
using System.Text.Json.Serialization;
using Droplets.Auth;
using Droplets.Catalog;
using Droplets.Droplets;
using Droplets.Http;
using Droplets.Provisioning;
using Droplets.Quotas;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Droplets.Actions;

// {"type", …}: any member besides type is the action's argument, if it takes one, and refused as unknown otherwise.
public sealed record ActionRequest(string? Type)
{
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Members { get; init; }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record ResizeRequest(string? PlanId);

public sealed record ResizeAccepted(Droplet Droplet, ResourceAction Action);

public static class ActionsApi
{
    public static IEndpointRouteBuilder MapActionEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").AddEndpointFilter<Idempotency.Filter>();
        api.MapPost("droplets/{id}/actions", PostAsync);
        api.MapGet("droplets/{id}/actions", ListAsync);
        api.MapDelete("droplets/{id}", DeleteAsync);
        api.MapPatch("droplets/{id}", ResizeAsync);
        api.MapGet("actions/{id}", GetAsync);
        return app;
    }

    public static async Task<Results<AcceptedAction<ResourceAction>, ProblemHttpResult>> PostAsync(
        string id, HttpRequest request, DropletStore droplets, ActionStarter starter, DurableTaskClient workflows,
        IOptions<CatalogOptions> catalog, IOptions<ActionOptions> options, CancellationToken cancellationToken)
    {
        var (body, problem) = await JsonBody.ReadAsync<ActionRequest>(request, cancellationToken);
        if (problem is not null)
            return problem;
        if (ActionRules.Posted.FirstOrDefault(r => Name(r.Type) == body!.Type) is not { } rule)
            return Problems.Validation(new Dictionary<string, string[]>
            {
                ["type"] = [$"type {(body!.Type is null ? "is required" : $"{FieldErrors.Quote(body.Type)} is not an action")}: use one of {string.Join(", ", ActionRules.Posted.Select(r => Name(r.Type)))}."],
            });
        string? argument = null;
        foreach (var (name, value) in body!.Members ?? [])
        {
            if (rule.Argument?.Name != name)
                return Problems.BadRequest("invalid_json", $"Unknown field {FieldErrors.Quote(name)}.");
            if (value.ValueKind != JsonValueKind.String)
                return Problems.BadRequest("invalid_json", $"Field {FieldErrors.Quote(name)} has the wrong type.");
            argument = value.GetString();
        }
        if (rule.Argument is { } wanted && (string.IsNullOrEmpty(argument) ? $"{wanted.Name} is required." : wanted.Invalid(argument, catalog.Value)) is { } wrong)
            return Problems.Validation(new Dictionary<string, string[]> { [wanted.Name] = [wrong] });
        return await StartAsync(id, rule.Type, request.HttpContext, droplets, starter, workflows, options.Value, cancellationToken, argument: argument);
    }

    // PATCH {"plan_id"}: 202 with the droplet (status resizing) and the action.
    public static async Task<Results<AcceptedAction<ResizeAccepted>, ProblemHttpResult>> ResizeAsync(
        string id, HttpRequest request, DropletStore droplets, ActionStarter starter, DurableTaskClient workflows,
        IOptions<CatalogOptions> catalog, IOptions<ActionOptions> options, IOptions<QuotaOptions> quotas, CancellationToken cancellationToken)
    {
        var (body, problem) = await JsonBody.ReadAsync<ResizeRequest>(request, cancellationToken);
        if (problem is not null)
            return problem;
        if (string.IsNullOrEmpty(body!.PlanId) || !catalog.Value.Plans.TryGetValue(body.PlanId, out var plan))
            return Problems.Validation(new Dictionary<string, string[]> { ["plan_id"] = [body.PlanId is null ? "plan_id is required." : $"unknown plan {FieldErrors.Quote(body.PlanId)}."] });

        // Checked against the droplet as it is when the lock is taken, so the rules and the lock agree.
        ProblemHttpResult? Check(Droplet current) =>
            current.PlanId == body.PlanId
                ? Problems.Validation(new Dictionary<string, string[]> { ["plan_id"] = [$"the droplet is already on plan '{body.PlanId}'."] })
                : plan.DiskGib < current.Disk
                    ? Problems.Validation(new Dictionary<string, string[]>
                    {
                        ["plan_id"] = [$"plan '{body.PlanId}' has a {plan.DiskGib} GiB disk and the droplet has {current.Disk} GiB: disks only grow, so pick a plan with at least {current.Disk} GiB."],
                    })
                    : null;

        ProblemHttpResult? Quota(IReadOnlyList<Droplet> project, Droplet current) =>
            QuotaRules.RefuseResize(quotas.Value.For(current.ProjectId), project, current, plan, catalog.Value.Plans)?.Problem(current.ProjectId);

        var started = await StartAsync(id, ActionType.Resize, request.HttpContext, droplets, starter, workflows, options.Value, cancellationToken, Check, body.PlanId, Quota);
        if (started.Result is not AcceptedAction<ResourceAction> accepted)
            return (ProblemHttpResult)started.Result;
        var droplet = await droplets.GetAsync(id, cancellationToken);
        return new AcceptedAction<ResizeAccepted>(StatusCodes.Status202Accepted, new ResizeAccepted(droplet!, accepted.Value), accepted.Headers);
    }

    public static Task<Results<AcceptedAction<ResourceAction>, ProblemHttpResult>> DeleteAsync(
        string id, HttpContext context, DropletStore droplets, ActionStarter starter, DurableTaskClient workflows,
        IOptions<ActionOptions> options, CancellationToken cancellationToken) =>
        StartAsync(id, ActionType.Delete, context, droplets, starter, workflows, options.Value, cancellationToken);

    // Takes the droplet for one action (ETag-guarded, so of concurrent requests exactly one wins), then the starter
    // records the action and starts its workflow.
    static async Task<Results<AcceptedAction<ResourceAction>, ProblemHttpResult>> StartAsync(
        string id, ActionType type, HttpContext context, DropletStore droplets, ActionStarter starter, DurableTaskClient workflows,
        ActionOptions options, CancellationToken cancellationToken, Func<Droplet, ProblemHttpResult?>? check = null, string? argument = null,
        Func<IReadOnlyList<Droplet>, Droplet, ProblemHttpResult?>? quota = null)
    {
        var rule = ActionRules.For(type);
        var caller = context.Caller();
        var found = DropletIds.IsWellFormed(id) ? await droplets.GetAsync(id, cancellationToken) : null;
        if (found is null || !caller.CanSee(found.ProjectId))
            return Problems.NotFound($"Droplet '{id}' does not exist.");

        var actionId = ResourceAction.NewId();
        ProblemHttpResult? refused = null;
        // An action that takes more of the project's quota (a resize) sees the project's droplets and is serialized
        // with creates; any other takes the droplet alone.
        Droplet? Take(Droplet current, IReadOnlyList<Droplet>? project)
        {
            refused = current switch
            {
                { LockedBy: { } running } => Problems.Create(StatusCodes.Status409Conflict, "locked", "Droplet is locked",
                    $"Droplet '{id}' is busy with action {running} ({current.LockedFor?.ToString().ToLowerInvariant()}); wait for it: {ResourceAction.Location(running)}."),
                _ when !rule.From.Contains(current.Status) => Problems.Create(StatusCodes.Status409Conflict, "conflict", "Not possible now",
                    $"Droplet '{id}' is {JsonSerializer.Serialize(current.Status).Trim('"')}; {Name(type)} needs it {ActionRules.Needs(type)}."),
                _ => check?.Invoke(current) ?? (project is null ? null : quota!(project, current)),
            };
            return refused is not null ? null : current with
            {
                Status = rule.During, LockedBy = actionId, LockedFor = type, LockedFrom = current.Status, LockedWith = argument, Error = null,
            };
        }
        var taken = quota is null
            ? await droplets.UpdateAsync(found.ProjectId, found.Id, current => Take(current, null), cancellationToken)
            : await droplets.UpdateWithinAsync(found.ProjectId, found.Id, (project, current) => Take(current, project), cancellationToken);
        if (taken is null)
            return Problems.NotFound($"Droplet '{id}' does not exist.");
        if (refused is not null)
            return refused;

        var action = new ResourceAction
        {
            Id = actionId,
            Type = type,
            Status = ActionStatus.InProgress,
            StartedAt = DateTimeOffset.UtcNow,
            ResourceId = taken.Id,
            Region = taken.Region,
            ProjectId = taken.ProjectId,
            CreatedBy = caller.TokenId,
        };
        var headers = await starter.StartAsync(context, workflows, action, rule.InstanceIdFor(taken.Id, actionId), ResourceAction.Location(actionId),
            () => ActionRules.StartAsync(workflows, taken, options.Deadline, cancellationToken), cancellationToken);
        return new AcceptedAction<ResourceAction>(StatusCodes.Status202Accepted, action, headers);
    }

    public static async Task<Results<Ok<ResourceAction>, ProblemHttpResult>> GetAsync(
        string id, HttpContext context, ActionStore actions, DurableTaskClient workflows, CancellationToken cancellationToken)
    {
        var action = ResourceAction.IsWellFormedId(id) ? await actions.GetAsync(id, cancellationToken) : null;
        if (action is null || !context.Caller().CanSee(action.ProjectId))
            return Problems.NotFound($"Action '{id}' does not exist.");
        return TypedResults.Ok(await LiveAsync(action, context, workflows, cancellationToken));
    }

    public static async Task<Results<Ok<IReadOnlyList<ResourceAction>>, ProblemHttpResult>> ListAsync(
        string id, HttpContext context, ActionStore actions, DurableTaskClient workflows, CancellationToken cancellationToken) =>
        // Works after the droplet is deleted too: its history stays.
        await HistoryAsync(id, DropletIds.IsWellFormed(id), context, actions, workflows, cancellationToken) ?? Problems.NotFound($"Droplet '{id}' does not exist.");

    // A page of a resource's actions, newest first, paginated like every listing (`per_page`, `page_token`, `Link`);
    // null when the resource has no history the caller may see.
    internal static async Task<Results<Ok<IReadOnlyList<ResourceAction>>, ProblemHttpResult>?> HistoryAsync(
        string id, bool wellFormed, HttpContext context, ActionStore actions, DurableTaskClient workflows, CancellationToken cancellationToken)
    {
        if (!wellFormed)
            return null;
        var (perPage, after, problem) = Listing.ReadPage(context, id);
        if (problem is not null)
            return problem;
        var (page, next) = await actions.PageAsync(id, perPage, after, cancellationToken);
        if (page.Count == 0 ? after is null : !context.Caller().CanSee(page[0].ProjectId))
            return null;
        var live = new List<ResourceAction>(page.Count);
        foreach (var action in page)
            live.Add(await LiveAsync(action, context, workflows, cancellationToken));
        Listing.LinkNext(context, next);
        return TypedResults.Ok<IReadOnlyList<ResourceAction>>(live);
    }

    // An action in progress takes its progress from the durable instance's custom status. The record is the answer:
    // when the task hub cannot be read (a host just restarted, storage throttling), it is answered as recorded.
    internal static async Task<ResourceAction> LiveAsync(ResourceAction action, HttpContext context, DurableTaskClient workflows, CancellationToken cancellationToken)
    {
        if (action.Status != ActionStatus.InProgress)
            return action;
        try
        {
            var instance = await workflows.GetInstanceAsync(ActionRules.InstanceIdFor(action), getInputsAndOutputs: true, cancellationToken);
            var progress = instance?.SerializedCustomStatus is { } status ? JsonSerializer.Deserialize<ActionProgress>(status)?.Progress ?? 0 : 0;
            return action with { Progress = Math.Max(action.Progress, progress) };
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ActionsApi))
                .LogWarning(e, "Progress of {ActionId} unavailable; answered as recorded", action.Id);
            return action;
        }
    }

    static string Name(ActionType type) => JsonSerializer.Serialize(type).Trim('"');
}
