namespace Droplets.Droplets;

// The one place where KubeVirt's VirtualMachine printableStatus becomes a droplet status.
// Ordered rules, first match wins (the way KubeVirt computes printableStatus itself).
// `current` is what we last recorded: it disambiguates transitions we drive ourselves
// (a reboot passes through Stopping/Starting but is still a reboot to the user).
public static class DropletStatusRules
{
    public static readonly IReadOnlyList<string> PrintableStatuses =
    [
        "Stopped", "Provisioning", "Starting", "Running", "Paused", "Stopping", "Terminating",
        "CrashLoopBackOff", "Migrating", "Unknown", "ErrorUnschedulable", "ErrImagePull",
        "ImagePullBackOff", "ErrorPvcNotFound", "DataVolumeError", "WaitingForVolumeBinding",
        "WaitingForReceiver",
    ];

    public static DropletStatus Map(string? printableStatus, DropletStatus current) => (printableStatus, current) switch
    {
        ("Terminating", _) => DropletStatus.Deleting,
        (_, DropletStatus.Deleting) => DropletStatus.Deleting,
        _ when FailureCode(printableStatus) is not null => DropletStatus.Error,
        // No opinion: the host cannot be reached, or a migration receiver is waiting. Keep what we know.
        ("Unknown" or "WaitingForReceiver" or null or "", _) => current,
        ("Stopped" or "Provisioning" or "Starting" or "WaitingForVolumeBinding", DropletStatus.Provisioning) => DropletStatus.Provisioning,
        ("Stopping" or "Stopped" or "Starting" or "Provisioning", DropletStatus.Rebooting) => DropletStatus.Rebooting,
        (_, DropletStatus.Resizing) => DropletStatus.Resizing,
        ("Running" or "Migrating", _) => DropletStatus.Running,
        ("Paused", _) => DropletStatus.Stopped,
        ("Stopping", _) => DropletStatus.Stopping,
        ("Stopped", _) => DropletStatus.Stopped,
        ("Provisioning" or "WaitingForVolumeBinding", _) => DropletStatus.Provisioning,
        ("Starting", _) => DropletStatus.Starting,
        _ => current,
    };

    // KubeVirt states that will not resolve by waiting: a droplet in one of them is in error.
    public static string? FailureCode(string? printableStatus) => printableStatus switch
    {
        "ErrorUnschedulable" => "unschedulable",
        "ErrImagePull" => "image_pull_failed",
        "ImagePullBackOff" => "image_pull_backoff",
        "DataVolumeError" => "disk_import_failed",
        "CrashLoopBackOff" => "crash_loop",
        "ErrorPvcNotFound" => "disk_not_found",
        _ => null,
    };
}
