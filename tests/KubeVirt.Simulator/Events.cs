using System.Globalization;
using System.Text.Json.Nodes;

namespace KubeVirt.Simulator;

internal static class Components
{
    public const string VirtController = "virtualmachine-controller";
    public const string VirtHandler = "virt-handler";
    public const string Kubelet = "kubelet";
    public const string Scheduler = "default-scheduler";
    public const string Cdi = "datavolume-import-controller";
    public const string LoadBalancer = "metallb-controller";
}

// Records core/v1 Events like client-go's EventRecorder: an identical event (same object, reason, message, type,
// source) bumps count and lastTimestamp instead of creating a new object.
internal sealed class EventRecorder(Store store)
{
    public void Normal(JsonObject involved, string reason, string message, string component, string? host = null) =>
        Record(involved, "Normal", reason, message, component, host);

    public void Warning(JsonObject involved, string reason, string message, string component, string? host = null) =>
        Record(involved, "Warning", reason, message, component, host);

    void Record(JsonObject involved, string type, string reason, string message, string component, string? host)
    {
        var ns = involved.Namespace();
        if (ns.Length == 0 || !store.Exists(Resources.Namespaces, null, ns))
        {
            return;
        }
        var now = Json.Now();
        var existing = store.List(Resources.Events, ns).Items.FirstOrDefault(e =>
            e.Str("involvedObject", "uid") == involved.Uid() && e.Str("reason") == reason && e.Str("message") == message &&
            e.Str("type") == type && e.Str("source", "component") == component);
        if (existing is not null)
        {
            try
            {
                store.Update(Resources.Events, ns, existing.Name(), e =>
                {
                    e["count"] = (e.Long("count") ?? 1) + 1;
                    e["lastTimestamp"] = now;
                    return e;
                }, UpdateMode.Full);
                return;
            }
            catch (ApiException)
            {
                // Deleted in between: fall through and create a fresh one.
            }
        }
        var source = new JsonObject { ["component"] = component };
        if (host is not null)
        {
            source["host"] = host;
        }
        var evt = new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["name"] = $"{involved.Name()}.{DateTime.UtcNow.Ticks.ToString("x", CultureInfo.InvariantCulture)}{Random.Shared.Next(0x1000):x3}",
                ["namespace"] = ns,
            },
            ["involvedObject"] = new JsonObject
            {
                ["kind"] = involved.Str("kind"),
                ["namespace"] = ns,
                ["name"] = involved.Name(),
                ["uid"] = involved.Uid(),
                ["apiVersion"] = involved.Str("apiVersion"),
                ["resourceVersion"] = involved.Str("metadata", "resourceVersion"),
            },
            ["reason"] = reason,
            ["message"] = message,
            ["source"] = source,
            ["firstTimestamp"] = now,
            ["lastTimestamp"] = now,
            ["count"] = 1,
            ["type"] = type,
            ["eventTime"] = null,
            ["reportingComponent"] = "",
            ["reportingInstance"] = "",
        };
        try
        {
            store.Create(Resources.Events, evt);
        }
        catch (ApiException)
        {
            // The namespace went away; events are best effort, as in client-go.
        }
    }
}
