using Droplets.Actions;
using Droplets.Droplets;
using Droplets.Tests.Infrastructure;

namespace Droplets.Tests.Actions;

public class ActionRulesTests
{
    [Fact]
    public void The_readme_shows_the_state_table_of_the_code()
    {
        var readme = File.ReadAllText(Path.Combine(Repository.Root, "README.md")).ReplaceLineEndings("\n");
        Assert.Contains(ActionRules.Markdown(), readme, StringComparison.Ordinal);
        Assert.Contains(global::Droplets.Volumes.VolumeActionRules.Markdown(), readme, StringComparison.Ordinal);
    }

    // Every action of a droplet, its create too, has one row; a volume's attach and detach none (they are the volume's).
    [Fact]
    public void Every_action_of_a_droplet_has_one_row_and_no_other_has_any()
    {
        Assert.Equal([ActionType.Create, ActionType.Resize, ActionType.Reboot, ActionType.PowerOff, ActionType.PowerOn, ActionType.Delete, ActionType.Rebuild],
            ActionRules.Table.Select(r => r.Type).Order());
        foreach (var type in new[] { ActionType.Attach, ActionType.Detach })
            Assert.Throws<InvalidOperationException>(() => ActionRules.Allowed(type, DropletStatus.Running));
        Assert.All(Enum.GetValues<DropletStatus>(), status => Assert.False(ActionRules.Allowed(ActionType.Create, status)));
    }

    // Every action of a volume has one row, and none of a droplet's own status (reboot, rebuild, …) has any.
    [Fact]
    public void Every_action_of_a_volume_has_one_row()
    {
        Assert.Equal([ActionType.Create, ActionType.Resize, ActionType.Delete, ActionType.Attach, ActionType.Detach],
            global::Droplets.Volumes.VolumeActionRules.Table.Select(r => r.Type).Order());
        foreach (var type in new[] { ActionType.Reboot, ActionType.PowerOff, ActionType.PowerOn, ActionType.Rebuild })
            Assert.Throws<InvalidOperationException>(() => global::Droplets.Volumes.VolumeActionRules.For(type));
    }

    // A create's workflow instance is named after its droplet (clients keep these links); every other action's after
    // the action.
    [Fact]
    public void Instance_ids_come_from_the_rule()
    {
        Assert.Equal("provision-d1", ActionRules.For(ActionType.Create).InstanceIdFor("d1", "act_1"));
        Assert.Equal("action-act_1", ActionRules.For(ActionType.Reboot).InstanceIdFor("d1", "act_1"));
    }

    [Theory]
    [InlineData(ActionType.PowerOff, DropletStatus.Error, true)]
    [InlineData(ActionType.PowerOn, DropletStatus.Error, true)]
    [InlineData(ActionType.Reboot, DropletStatus.Error, true)]
    [InlineData(ActionType.Resize, DropletStatus.Error, false)]
    [InlineData(ActionType.Rebuild, DropletStatus.Error, true)]
    [InlineData(ActionType.Rebuild, DropletStatus.Stopped, true)]
    [InlineData(ActionType.Rebuild, DropletStatus.Provisioning, false)]
    [InlineData(ActionType.Reboot, DropletStatus.Stopped, false)]
    [InlineData(ActionType.PowerOn, DropletStatus.Running, false)]
    [InlineData(ActionType.Delete, DropletStatus.Deleting, false)]
    [InlineData(ActionType.Delete, DropletStatus.Provisioning, true)]
    public void Error_allows_power_actions_rebuild_and_delete_but_not_resize(ActionType type, DropletStatus status, bool allowed) =>
        Assert.Equal(allowed, ActionRules.Allowed(type, status));

    // What the VMI being stopped or replaced still reports is not the action's outcome; a new VMI's or the disks' is.
    [Theory]
    [InlineData(ActionType.PowerOff, "ErrorUnschedulable", "vmi-a", "vmi-a", null)]
    [InlineData(ActionType.PowerOff, "ErrorUnschedulable", null, "vmi-a", null)]
    [InlineData(ActionType.PowerOff, "DataVolumeError", null, "vmi-a", "disk_import_failed")]
    [InlineData(ActionType.Reboot, "CrashLoopBackOff", "vmi-a", "vmi-a", null)]
    [InlineData(ActionType.Reboot, "ErrorUnschedulable", null, "vmi-a", null)]
    [InlineData(ActionType.PowerOn, "DataVolumeError", null, null, "disk_import_failed")]
    [InlineData(ActionType.Reboot, "ErrorUnschedulable", "vmi-b", "vmi-a", "unschedulable")]
    [InlineData(ActionType.PowerOn, "ErrImagePull", "vmi-a", null, "image_pull_failed")]
    [InlineData(ActionType.PowerOn, "Starting", "vmi-a", null, null)]
    public void A_failure_ends_a_power_action_once_it_is_about_what_the_action_asked_for(ActionType type, string printable, string? instance, string? previous, string? code) =>
        Assert.Equal(code, ActionRules.Failure(type, new global::Droplets.KubeVirt.VmObservation(printable, null, null, null) { InstanceUid = instance }, previous));

    [Fact]
    public void Refusals_name_the_statuses_an_action_needs()
    {
        Assert.Equal("running or error", ActionRules.Needs(ActionType.PowerOff));
        Assert.Equal("not deleting", ActionRules.Needs(ActionType.Delete));
    }
}
