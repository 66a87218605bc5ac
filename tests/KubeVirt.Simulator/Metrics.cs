using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using KubeVirt.Simulator.Controllers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace KubeVirt.Simulator;

// GET /metrics: virt-handler's per-VMI domain stats, and the API server's apiserver_request_total for the requests that
// came through the front (RequestCounts); outside /api so fault injection never hits it.
internal static class Metrics
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static void MapMetrics(this WebApplication app, DomainStats stats, RequestCounts requests) =>
        app.MapGet("/metrics", () => Results.Text(stats.Render() + requests.Render(), ContentType));
}

// The kubevirt_vmi_* series of every Running VMI. There is no guest, so each figure is a deterministic function of
// the VMI: its uid, its age since it became Running, its size and its CPU load (README "Metrics" has the formulae).
// CPU time is integrated piecewise, so counters keep growing when vCPUs are hotplugged or the load is re-pinned.
internal sealed class DomainStats(Store store)
{
    public const string CpuLoadAnnotation = "simulator.kubevirt.io/cpu-load";

    // The share of a VMI's CPU time spent on its vCPUs; the rest is the hypervisor's (emulator and I/O threads).
    internal const double VcpuShare = 0.95;
    internal const double UserShare = 0.8;

    static readonly Family CpuUsage = new("kubevirt_vmi_cpu_usage_seconds_total", "counter", "Total CPU time spent in all modes (sum of both vcpu and hypervisor usage).");
    static readonly Family CpuUser = new("kubevirt_vmi_cpu_user_usage_seconds_total", "counter", "Total CPU time spent in user mode.");
    static readonly Family CpuSystem = new("kubevirt_vmi_cpu_system_usage_seconds_total", "counter", "Total CPU time spent in system mode.");
    static readonly Family VcpuSeconds = new("kubevirt_vmi_vcpu_seconds_total", "counter", "Total amount of time spent in each state by each vcpu (cpu_time excluding hypervisor time). Where `id` is the vcpu identifier and `state` can be one of the following: [`OFFLINE`, `RUNNING`, `BLOCKED`].");
    static readonly Family MemoryDomain = new("kubevirt_vmi_memory_domain_bytes", "gauge", "The amount of memory in bytes allocated to the domain. The `memory` value in domain xml file.");
    static readonly Family MemoryAvailable = new("kubevirt_vmi_memory_available_bytes", "gauge", "Amount of usable memory as seen by the domain. This value may not be accurate if a balloon driver is in use or if the guest OS does not initialize all assigned pages");
    static readonly Family MemoryUsable = new("kubevirt_vmi_memory_usable_bytes", "gauge", "The amount of memory which can be reclaimed by balloon without pushing the guest system to swap, corresponds to 'Available' in /proc/meminfo.");
    static readonly Family MemoryUnused = new("kubevirt_vmi_memory_unused_bytes", "gauge", "The amount of memory left completely unused by the system. Memory that is available but used for reclaimable caches should NOT be reported as free.");
    static readonly Family MemoryCached = new("kubevirt_vmi_memory_cached_bytes", "gauge", "The amount of memory that is being used to cache I/O and is available to be reclaimed, corresponds to the sum of `Buffers` + `Cached` + `SwapCached` in `/proc/meminfo`.");
    static readonly Family StorageRead = new("kubevirt_vmi_storage_read_traffic_bytes_total", "counter", "Total number of bytes read from storage.");
    static readonly Family StorageWrite = new("kubevirt_vmi_storage_write_traffic_bytes_total", "counter", "Total number of written bytes.");
    static readonly Family NetworkReceive = new("kubevirt_vmi_network_receive_bytes_total", "counter", "Total network traffic received in bytes.");
    static readonly Family NetworkTransmit = new("kubevirt_vmi_network_transmit_bytes_total", "counter", "Total network traffic transmitted in bytes.");
    static readonly Family[] Families =
        [CpuUsage, CpuUser, CpuSystem, VcpuSeconds, MemoryDomain, MemoryAvailable, MemoryUsable, MemoryUnused, MemoryCached, StorageRead, StorageWrite, NetworkReceive, NetworkTransmit];

    readonly Lock gate = new();
    readonly Dictionary<string, CpuClock> clocks = [];

    // Called by the controller loop on every pass, so a hotplug or a re-pinned load takes effect within ~100 ms
    // even when nobody scrapes.
    public void Observe()
    {
        lock (gate)
        {
            Sync(DateTime.UtcNow);
        }
    }

    public string Render()
    {
        var samples = new List<(Family Family, string Labels, string Value)>();
        lock (gate)
        {
            var now = DateTime.UtcNow;
            foreach (var (vmi, clock) in Sync(now))
            {
                Collect(vmi, clock, now, (family, value, extra) => samples.Add((family, Labels(vmi, extra), value)));
            }
        }
        var text = new StringBuilder();
        foreach (var family in Families)
        {
            var rows = samples.Where(s => s.Family == family).ToList();
            if (rows.Count == 0)
            {
                continue;
            }
            text.Append("# HELP ").Append(family.Name).Append(' ').Append(family.Help.Replace("\\", "\\\\", StringComparison.Ordinal)).Append('\n');
            text.Append("# TYPE ").Append(family.Name).Append(' ').Append(family.Type).Append('\n');
            foreach (var row in rows)
            {
                text.Append(family.Name).Append(row.Labels).Append(' ').Append(row.Value).Append('\n');
            }
        }
        return text.ToString();
    }

    // Brings the CPU clock of every Running VMI up to now and forgets VMIs that stopped running.
    List<(JsonObject Vmi, CpuClock Clock)> Sync(DateTime now)
    {
        var running = store.List(Resources.VirtualMachineInstances, null).Items.Where(v => v.Str("status", "phase") == "Running").ToList();
        var result = new List<(JsonObject, CpuClock)>();
        foreach (var vmi in running)
        {
            var vcpus = Vcpus(vmi);
            var load = Load(vmi);
            if (clocks.TryGetValue(vmi.Uid(), out var clock))
            {
                clock.Change(now, vcpus, load);
            }
            else
            {
                var since = RunningSince(vmi);
                clock = new CpuClock(since < now ? since : now, vcpus, load);
                clocks[vmi.Uid()] = clock;
            }
            result.Add((vmi, clock));
        }
        foreach (var gone in clocks.Keys.Except(running.Select(v => v.Uid())).ToList())
        {
            clocks.Remove(gone);
        }
        return result;
    }

    static void Collect(JsonObject vmi, CpuClock clock, DateTime now, Action<Family, string, (string Name, string Value)[]> add)
    {
        var uid = vmi.Uid();
        var age = clock.Age(now);
        var cpu = clock.Total(now);
        add(CpuUsage, Number(cpu), []);
        add(CpuUser, Number(cpu * UserShare), []);
        add(CpuSystem, Number(cpu * (1 - UserShare)), []);
        for (var id = 0; id < clock.Vcpus; id++)
        {
            // virt-handler prints libvirt's vCPU state in lower case.
            add(VcpuSeconds, Number(clock.Vcpu(id, now)), [("id", id.ToString(CultureInfo.InvariantCulture)), ("state", "running")]);
        }

        var domain = DomainBytes(vmi);
        var usable = Math.Floor(domain * (0.8 - 0.5 * clock.Load));
        var cached = Math.Floor(domain * 0.1);
        add(MemoryDomain, Number(domain), []);
        add(MemoryAvailable, Number(domain), []);
        add(MemoryUsable, Number(usable), []);
        add(MemoryUnused, Number(usable - cached), []);
        add(MemoryCached, Number(cached), []);

        foreach (var drive in vmi.Objects("spec", "domain", "devices", "disks").Select(d => d.Str("name")).OfType<string>())
        {
            add(StorageRead, Number(Math.Floor(ReadRate(uid, drive) * age)), [("drive", drive)]);
            add(StorageWrite, Number(Math.Floor(WriteRate(uid, drive) * age)), [("drive", drive)]);
        }
        foreach (var iface in vmi.Objects("status", "interfaces").Select(i => i.Str("name")).OfType<string>())
        {
            add(NetworkReceive, Number(Math.Floor(ReceiveRate(uid, iface) * age)), [("interface", iface), ("network", iface)]);
            add(NetworkTransmit, Number(Math.Floor(TransmitRate(uid, iface) * age)), [("interface", iface), ("network", iface)]);
        }
    }

    // Bytes per second, fixed per VMI and device.
    internal static double ReadRate(string uid, string drive) => 16384 * (1 + 63 * Fraction($"{uid}/{drive}/read"));
    internal static double WriteRate(string uid, string drive) => 8192 * (1 + 63 * Fraction($"{uid}/{drive}/write"));
    internal static double ReceiveRate(string uid, string iface) => 4096 * (1 + 255 * Fraction($"{uid}/{iface}/rx"));
    internal static double TransmitRate(string uid, string iface) => 2048 * (1 + 255 * Fraction($"{uid}/{iface}/tx"));

    // The share of its vCPUs a VMI keeps busy: pinned by the annotation on the VMI (from the VM template) or on the
    // VM, otherwise 5–60 % derived from the uid.
    double Load(JsonObject vmi)
    {
        var pinned = vmi.Str("metadata", "annotations", CpuLoadAnnotation)
            ?? store.Get(Resources.VirtualMachines, vmi.Namespace(), vmi.Name()).Str("metadata", "annotations", CpuLoadAnnotation);
        return double.TryParse(pinned, NumberStyles.Float, CultureInfo.InvariantCulture, out var load) && load is >= 0 and <= 1
            ? load
            : DefaultLoad(vmi.Uid());
    }

    internal static double DefaultLoad(string uid) => 0.05 + 0.55 * Fraction(uid);

    // A number in [0, 1) from the first 8 bytes of SHA-256(seed), big-endian.
    internal static double Fraction(string seed) =>
        BinaryPrimitives.ReadUInt64BigEndian(SHA256.HashData(Encoding.UTF8.GetBytes(seed))) / 18446744073709551616.0;

    // The vCPUs the guest has now: status.currentCPUTopology once virt-handler reported it, else the spec.
    static int Vcpus(JsonObject vmi)
    {
        var topology = vmi.Object("status", "currentCPUTopology") ?? vmi.Object("spec", "domain", "cpu");
        return (int)((topology.Long("sockets") ?? 1) * (topology.Long("cores") ?? 1) * (topology.Long("threads") ?? 1));
    }

    static double DomainBytes(JsonObject vmi)
    {
        var bytes = Quantity.Parse(vmi.At("status", "memory", "guestCurrent"));
        if (bytes <= 0)
        {
            bytes = Quantity.Parse(vmi.At("spec", "domain", "memory", "guest"));
        }
        if (bytes <= 0)
        {
            bytes = Quantity.Parse(vmi.At("spec", "domain", "resources", "requests", "memory"));
        }
        return (double)bytes;
    }

    // When the VMI last became Running (status.phaseTransitionTimestamps, whole seconds as the API prints them).
    static DateTime RunningSince(JsonObject vmi)
    {
        var stamp = vmi.Objects("status", "phaseTransitionTimestamps").LastOrDefault(t => t.Str("phase") == "Running").Str("phaseTransitionTimestamp")
            ?? vmi.Str("metadata", "creationTimestamp");
        return Json.Time(stamp) ?? DateTime.UtcNow;
    }

    // KubeVirt's labels: node, namespace, name, each VMI label as kubernetes_vmi_label_<key with . / - as _>, then the
    // family's own; sorted by name as client_golang prints them.
    static string Labels(JsonObject vmi, (string Name, string Value)[] extra)
    {
        var labels = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["node"] = vmi.Str("status", "nodeName") ?? "",
            ["namespace"] = vmi.Namespace(),
            ["name"] = vmi.Name(),
        };
        foreach (var (key, value) in vmi.Object("metadata", "labels") ?? [])
        {
            var name = "kubernetes_vmi_label_" + key.Replace('.', '_').Replace('/', '_').Replace('-', '_');
            labels[name] = value is JsonValue v && v.TryGetValue<string>(out var s) ? s : value?.ToJsonString() ?? "";
        }
        foreach (var (name, value) in extra)
        {
            labels[name] = value;
        }
        return "{" + string.Join(',', labels.Select(l => $"{l.Key}=\"{Escape(l.Value)}\"")) + "}";
    }

    static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    sealed record Family(string Name, string Type, string Help);

    // CPU seconds of one VMI, integrated piecewise: each change of vCPU count or load closes a segment.
    sealed class CpuClock(DateTime started, int vcpus, double load)
    {
        readonly List<double> vcpuSeconds = [.. Enumerable.Repeat(0.0, vcpus)];
        DateTime since = started;
        double total;

        public DateTime Started { get; } = started;
        public int Vcpus { get; private set; } = vcpus;
        public double Load { get; private set; } = load;

        public double Age(DateTime now) => Math.Max(0, (now - Started).TotalSeconds);

        public double Total(DateTime now) => total + Load * Vcpus * Elapsed(now);

        public double Vcpu(int id, DateTime now) => vcpuSeconds[id] + (id < Vcpus ? VcpuShare * Load * Elapsed(now) : 0);

        public void Change(DateTime now, int newVcpus, double newLoad)
        {
            if (newVcpus == Vcpus && newLoad == Load)
            {
                return;
            }
            total = Total(now);
            for (var id = 0; id < vcpuSeconds.Count; id++)
            {
                vcpuSeconds[id] = Vcpu(id, now);
            }
            // Hotplugged vCPUs start from zero.
            while (vcpuSeconds.Count < newVcpus)
            {
                vcpuSeconds.Add(0);
            }
            since = now > since ? now : since;
            Vcpus = newVcpus;
            Load = newLoad;
        }

        double Elapsed(DateTime now) => Math.Max(0, (now - since).TotalSeconds);
    }
}
