using System.Text.Json;
using Droplets.Catalog;
using Droplets.Droplets;
using Droplets.KubeVirt;
using Droplets.Provisioning;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace Droplets.Actions;

// What a completed action leaves the droplet as.
public enum ActionEnd { Running, Stopped, Unchanged, Removed }

// A value a posted action takes besides its type (rebuild's `image`): its member name, and what is wrong with a value
// (null: nothing).
public sealed record ActionArgument(string Name, Func<string, CatalogOptions, string?> Invalid);

// One action on a droplet, described once: the statuses it may start from (none for the create, which makes the
// droplet), the status the droplet shows while it runs and what it ends as when it completes; its workflow and the
// input the workflow starts with (built from the held droplet, so the reconciler can start it as well as the handler);
// its event wording; the error the reconciler writes when its workflow ended unfinished (its message follows "Its
// workflow was terminated"; null: the droplet takes what KubeVirt reports); for an action posted to
// /droplets/{id}/actions, the argument it takes; and, when it is not derived from the action, its durable instance id
// (from the droplet's id). An action that does not complete leaves the droplet as KubeVirt reports it (`error` when
// KubeVirt reports a failure), unless its workflow says otherwise.
public sealed record ActionRule(
    ActionType Type, IReadOnlyList<DropletStatus> From, DropletStatus During, ActionEnd Completed,
    string Workflow, Func<ActionInput, Droplet, object> Input, string Verb, string Done,
    ErrorDetail? Unfinished = null, bool Posted = false, ActionArgument? Argument = null, Func<string, string>? InstanceOfDroplet = null)
{
    // The durable instance that carries out this action on this droplet; a retried start can never run it twice.
    public string InstanceIdFor(string dropletId, string actionId) => InstanceOfDroplet?.Invoke(dropletId) ?? ResourceAction.InstanceIdFor(actionId);
}

// The handler, the workflows, the reconciler and the events share these pure functions. The README's table is
// rendered from Table (ActionRulesTests compares them). Each row is defined with its workflow, and refers to
// nothing here (the rows are built before this class).
public static class ActionRules
{
    static readonly DropletStatus[] Any = Enum.GetValues<DropletStatus>();

    // Power actions are allowed from error as well: KubeVirt decides whether they can work (virt-api's refusal ends
    // the action errored in its words, and the droplet takes what KubeVirt reports).
    public static IReadOnlyList<ActionRule> Table { get; } =
        [ProvisionDroplet.Rule, ActionWorkflows.Reboot, ActionWorkflows.PowerOff, ActionWorkflows.PowerOn, ResizeDroplet.Rule, RebuildDroplet.Rule, ActionWorkflows.Delete];

    public static IEnumerable<ActionRule> Posted => Table.Where(r => r.Posted);

    // Fails loudly for a type that is not an action on a droplet's own status (a volume's attach and detach are the
    // volume's: VolumeActionRules).
    public static ActionRule For(ActionType type) => Table.SingleOrDefault(r => r.Type == type)
        ?? throw new InvalidOperationException($"A {type} is not an action on a droplet's own status.");

    // The durable instance of a recorded action, of a droplet or a volume.
    public static string InstanceIdFor(ResourceAction action) => action.ResourceType == "droplet"
        ? For(action.Type).InstanceIdFor(action.ResourceId, action.Id)
        : ResourceAction.InstanceIdFor(action.Id);

    // Starts the workflow of the action that holds the droplet; everything it needs is kept with the lock.
    public static Task StartAsync(DurableTaskClient client, Droplet held, TimeSpan deadline, CancellationToken cancellationToken)
    {
        var rule = For(held.LockedFor!.Value);
        var input = new ActionInput(new DropletRef(held.Id, held.ProjectId), held.LockedBy!, rule.Type, deadline);
        return client.ScheduleNewOrchestrationInstanceAsync(rule.Workflow, rule.Input(input, held),
            new StartOrchestrationOptions(rule.InstanceIdFor(held.Id, input.ActionId)), cancellationToken);
    }

    public static bool Allowed(ActionType type, DropletStatus status) => For(type).From.Contains(status);

    public static string Needs(ActionType type) => Words(For(type).From);

    public static DropletStatus EndStatus(ActionType type) => For(type).Completed switch
    {
        ActionEnd.Running => DropletStatus.Running,
        ActionEnd.Stopped => DropletStatus.Stopped,
        ActionEnd.Unchanged or ActionEnd.Removed => throw new InvalidOperationException($"A {type} does not end in a status of its own."),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown end."),
    };

    // Running counts once KubeVirt is at rest, no start or stop still queued on the VM: until virt-controller has taken
    // a restart's requests off the VM, its status may still be the old VMI's (and the watch may deliver the new VMI
    // before the VM's update).
    public static bool Reached(ActionType type, VmObservation seen, string? previousInstanceUid) => type switch
    {
        ActionType.PowerOff => seen.PrintableStatus == "Stopped",
        ActionType.PowerOn => seen.PrintableStatus == "Running" && seen.PrivateIp is not null && seen.AtRest,
        ActionType.Reboot => seen.PrintableStatus == "Running" && seen.PrivateIp is not null && seen.AtRest && seen.InstanceUid is not null && seen.InstanceUid != previousInstanceUid,
        _ => throw new InvalidOperationException($"A {type} is not observed as a power action."),
    };

    // The failure KubeVirt reports that ends a power action (its code), or null to go on waiting. A failure of the
    // VM's disks (a DataVolume or claim, which no stop or start changes) counts at once, except to a power_off that
    // still has a VMI to stop. A failure of a VMI counts when it is a new one (a power_on that found nothing to do
    // counts the one there): the VMI a power_off stops or a reboot replaces, and a VM status not yet updated after
    // that VMI is gone, may still show the old failure meanwhile.
    public static string? Failure(ActionType type, VmObservation seen, string? previousInstanceUid)
    {
        if (DropletStatusRules.FailureCode(seen.PrintableStatus) is not { } code)
            return null;
        var disks = seen.PrintableStatus is "DataVolumeError" or "ErrorPvcNotFound";
        return type switch
        {
            ActionType.PowerOff => disks && seen.InstanceUid is null ? code : null,
            ActionType.PowerOn or ActionType.Reboot => disks || seen.InstanceUid is not null && seen.InstanceUid != previousInstanceUid ? code : null,
            _ => throw new InvalidOperationException($"A {type} is not observed as a power action."),
        };
    }

    // The table as the README shows it.
    public static string Markdown() =>
        "| action | allowed from | while it runs | completed |\n|---|---|---|---|\n" + string.Concat(Table.Select(r =>
            $"| `{Wire(r.Type)}` | {(r.From.Count == 0 ? "nothing: it makes the droplet" : r.From.Count == Any.Length - 1 ? $"anything but `{Wire(Any.Except(r.From).Single())}`" : string.Join(", ", r.From.Select(s => $"`{Wire(s)}`")))} | `{Wire(r.During)}` | {r.Completed switch
            {
                ActionEnd.Running => "`running`",
                ActionEnd.Stopped => "`stopped`",
                ActionEnd.Unchanged => "the status it started from",
                ActionEnd.Removed => "removed",
                _ => throw new ArgumentOutOfRangeException(nameof(r), r.Completed, "Unknown end."),
            }} |\n"));

    static string Words(IReadOnlyList<DropletStatus> statuses) => statuses.Count == Any.Length - 1
        ? $"not {Wire(Any.Except(statuses).Single())}"
        : statuses.Count == 1 ? Wire(statuses[0]) : string.Join(", ", statuses.SkipLast(1).Select(Wire)) + " or " + Wire(statuses[^1]);

    static string Wire<T>(T value) => JsonSerializer.Serialize(value).Trim('"');
}
