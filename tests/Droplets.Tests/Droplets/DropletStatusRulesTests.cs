using Droplets.Droplets;

namespace Droplets.Tests.Droplets;

public class DropletStatusRulesTests
{
    // Every printableStatus KubeVirt defines, as seen by a droplet that is already running.
    [Theory]
    [InlineData("Stopped", DropletStatus.Stopped)]
    [InlineData("Provisioning", DropletStatus.Provisioning)]
    [InlineData("Starting", DropletStatus.Starting)]
    [InlineData("Running", DropletStatus.Running)]
    [InlineData("Paused", DropletStatus.Stopped)]
    [InlineData("Stopping", DropletStatus.Stopping)]
    [InlineData("Terminating", DropletStatus.Deleting)]
    [InlineData("CrashLoopBackOff", DropletStatus.Error)]
    [InlineData("Migrating", DropletStatus.Running)]
    [InlineData("Unknown", DropletStatus.Running)]
    [InlineData("ErrorUnschedulable", DropletStatus.Error)]
    [InlineData("ErrImagePull", DropletStatus.Error)]
    [InlineData("ImagePullBackOff", DropletStatus.Error)]
    [InlineData("ErrorPvcNotFound", DropletStatus.Error)]
    [InlineData("DataVolumeError", DropletStatus.Error)]
    [InlineData("WaitingForVolumeBinding", DropletStatus.Provisioning)]
    [InlineData("WaitingForReceiver", DropletStatus.Running)]
    public void Maps_each_printable_status_of_a_running_droplet(string printable, DropletStatus expected) =>
        Assert.Equal(expected, DropletStatusRules.Map(printable, DropletStatus.Running));

    [Fact]
    public void Covers_all_seventeen_printable_statuses() =>
        Assert.Equal(17, DropletStatusRules.PrintableStatuses.Distinct().Count());

    // While we provision, KubeVirt's early states are all still "provisioning" to the user.
    [Theory]
    [InlineData("Stopped")]
    [InlineData("Provisioning")]
    [InlineData("Starting")]
    [InlineData("WaitingForVolumeBinding")]
    [InlineData("Unknown")]
    public void Early_states_stay_provisioning_for_a_new_droplet(string printable) =>
        Assert.Equal(DropletStatus.Provisioning, DropletStatusRules.Map(printable, DropletStatus.Provisioning));

    [Theory]
    [InlineData("Stopping")]
    [InlineData("Stopped")]
    [InlineData("Starting")]
    public void A_reboot_in_progress_stays_rebooting(string printable) =>
        Assert.Equal(DropletStatus.Rebooting, DropletStatusRules.Map(printable, DropletStatus.Rebooting));

    [Theory]
    [InlineData("Migrating")]
    [InlineData("Running")]
    [InlineData("Stopped")]
    public void A_resize_in_progress_stays_resizing_until_recorded(string printable) =>
        Assert.Equal(DropletStatus.Resizing, DropletStatusRules.Map(printable, DropletStatus.Resizing));

    [Fact]
    public void Failure_wins_over_a_transition_in_progress() =>
        Assert.Equal(DropletStatus.Error, DropletStatusRules.Map("ErrorUnschedulable", DropletStatus.Resizing));

    [Theory]
    [InlineData("Running")]
    [InlineData("Stopped")]
    [InlineData("Unknown")]
    public void A_deleting_droplet_never_comes_back(string printable) =>
        Assert.Equal(DropletStatus.Deleting, DropletStatusRules.Map(printable, DropletStatus.Deleting));

    [Theory]
    [InlineData("ErrorUnschedulable", "unschedulable")]
    [InlineData("ErrImagePull", "image_pull_failed")]
    [InlineData("ImagePullBackOff", "image_pull_backoff")]
    [InlineData("DataVolumeError", "disk_import_failed")]
    [InlineData("CrashLoopBackOff", "crash_loop")]
    [InlineData("ErrorPvcNotFound", "disk_not_found")]
    [InlineData("Running", null)]
    [InlineData("Starting", null)]
    public void Failure_codes_are_stable(string printable, string? code) =>
        Assert.Equal(code, DropletStatusRules.FailureCode(printable));
}
