using System.Collections;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;

namespace KubeVirt.Simulator;

// Every knob of the simulator. Tests and the admin endpoint change them while controllers read them,
// so each property is guarded by one lock.
public sealed class SimulatorOptions
{
    readonly Lock gate = new();
    TimeSpan importDelay = TimeSpan.FromSeconds(0.5);
    TimeSpan bootDelay = TimeSpan.FromSeconds(1);
    TimeSpan stopDelay = TimeSpan.FromSeconds(0.2);
    TimeSpan hotplugDelay = TimeSpan.FromSeconds(0.5);
    TimeSpan expandDelay = TimeSpan.FromSeconds(0.5);
    TimeSpan attachDelay = TimeSpan.FromSeconds(0.3);
    TimeSpan imagePullBackoff = TimeSpan.FromSeconds(10);
    TimeSpan startFailureBackoff = TimeSpan.FromSeconds(10);
    int nodeCount = 3;
    int nodeCpu = 16;
    long nodeMemoryMi = 65536;
    double errorRate;
    int faultStatus = 500;
    TimeSpan latency;
    string loadBalancerPool = "203.0.113.0/24";
    string podCidr = "10.244.0.0/16";

    public TimeSpan ImportDelay { get => Read(() => importDelay); set => Write(() => importDelay = NonNegative(value)); }
    public TimeSpan BootDelay { get => Read(() => bootDelay); set => Write(() => bootDelay = NonNegative(value)); }
    // How long a running VMI takes to shut down once deleted (so "Stopping" is observable).
    public TimeSpan StopDelay { get => Read(() => stopDelay); set => Write(() => stopDelay = NonNegative(value)); }
    // How long the live migration behind a CPU/memory hotplug runs (so "Migrating" is observable).
    public TimeSpan HotplugDelay { get => Read(() => hotplugDelay); set => Write(() => hotplugDelay = NonNegative(value)); }
    // How long the simulated CSI resizer takes to grow a PVC once its request is raised.
    public TimeSpan ExpandDelay { get => Read(() => expandDelay); set => Write(() => expandDelay = NonNegative(value)); }
    // How long virt-handler takes to mount a hotplugged volume into the launcher pod and attach it to the domain
    // (AttachedToNode → Ready), and to take it out again on removal.
    public TimeSpan AttachDelay { get => Read(() => attachDelay); set => Write(() => attachDelay = NonNegative(value)); }
    // Kubelet's first wait after a failed image pull (imageBackOffPeriod, 10 s); it doubles per failure up to 30 times
    // this (MaxImageBackOff, 300 s).
    public TimeSpan ImagePullBackoff { get => Read(() => imagePullBackoff); set => Write(() => imagePullBackoff = NonNegative(value)); }
    // virt-controller's crash-loop interval (10 s): a VM whose VMIs keep failing before they run waits interval × failures²
    // (plus up to half of that at random) before the next start, at most 30 intervals (300 s).
    public TimeSpan StartFailureBackoff { get => Read(() => startFailureBackoff); set => Write(() => startFailureBackoff = NonNegative(value)); }
    public ISet<string> FailingImages { get; } = new ConcurrentStringSet();
    // KubeVirt feature gates that change API behaviour: DeclarativeHotplugVolumes (Beta, so on unless disabled, as in
    // KubeVirt 1.9: featuregate/active.go) and HotplugVolumes (deprecated since 1.9, off unless enabled; with it on,
    // addvolume/removevolume queue status.volumeRequests as before).
    public ISet<string> FeatureGates { get; } = new ConcurrentStringSet { "DeclarativeHotplugVolumes" };
    public int NodeCount { get => Read(() => nodeCount); set => Write(() => nodeCount = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value))); }
    public int NodeCpu { get => Read(() => nodeCpu); set => Write(() => nodeCpu = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value))); }
    public long NodeMemoryMi { get => Read(() => nodeMemoryMi); set => Write(() => nodeMemoryMi = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value))); }
    public double ErrorRate { get => Read(() => errorRate); set => Write(() => errorRate = value is >= 0 and <= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), "must be between 0 and 1")); }
    // What a refused request is answered with: 500 (an overloaded etcd), 401 (an expired or revoked token), 403 (a
    // role taken away), 429 (priority and fairness) or 503 (the API server going away).
    public int FaultStatus { get => Read(() => faultStatus); set => Write(() => faultStatus = value is 401 or 403 or 429 or 500 or 503 ? value : throw new ArgumentOutOfRangeException(nameof(value), "must be 401, 403, 429, 500 or 503")); }
    public TimeSpan Latency { get => Read(() => latency); set => Write(() => latency = NonNegative(value)); }
    public string LoadBalancerPool { get => Read(() => loadBalancerPool); set => Write(() => loadBalancerPool = Cidr.Parse(value).Text); }
    public string PodCidr { get => Read(() => podCidr); set => Write(() => podCidr = Cidr.Parse(value).Text); }

    T Read<T>(Func<T> read)
    {
        lock (gate)
        {
            return read();
        }
    }

    void Write(Action write)
    {
        lock (gate)
        {
            write();
        }
    }

    static TimeSpan NonNegative(TimeSpan value) =>
        value >= TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(value), "must not be negative");

    internal JsonObject ToJson() => new()
    {
        ["importDelay"] = ImportDelay.ToString("c", CultureInfo.InvariantCulture),
        ["bootDelay"] = BootDelay.ToString("c", CultureInfo.InvariantCulture),
        ["stopDelay"] = StopDelay.ToString("c", CultureInfo.InvariantCulture),
        ["hotplugDelay"] = HotplugDelay.ToString("c", CultureInfo.InvariantCulture),
        ["expandDelay"] = ExpandDelay.ToString("c", CultureInfo.InvariantCulture),
        ["attachDelay"] = AttachDelay.ToString("c", CultureInfo.InvariantCulture),
        ["imagePullBackoff"] = ImagePullBackoff.ToString("c", CultureInfo.InvariantCulture),
        ["startFailureBackoff"] = StartFailureBackoff.ToString("c", CultureInfo.InvariantCulture),
        ["failingImages"] = new JsonArray(FailingImages.Order(StringComparer.Ordinal).Select(i => (JsonNode)i).ToArray()),
        ["featureGates"] = new JsonArray(FeatureGates.Order(StringComparer.Ordinal).Select(i => (JsonNode)i).ToArray()),
        ["nodeCount"] = NodeCount,
        ["nodeCpu"] = NodeCpu,
        ["nodeMemoryMi"] = NodeMemoryMi,
        ["errorRate"] = ErrorRate,
        ["faultStatus"] = FaultStatus,
        ["latency"] = Latency.ToString("c", CultureInfo.InvariantCulture),
        ["loadBalancerPool"] = LoadBalancerPool,
        ["podCidr"] = PodCidr,
    };

    // Applies a partial update (admin endpoint or configuration). Every change is first tried on a scratch copy,
    // so a bad field leaves the options untouched. Numbers and durations may also come as strings.
    internal void Apply(JsonObject changes)
    {
        var setters = changes.Select(kv => Setter(kv.Key, kv.Value)).ToList();
        var scratch = new SimulatorOptions();
        foreach (var set in setters)
        {
            set(scratch);
        }
        foreach (var set in setters)
        {
            set(this);
        }
    }

    static Action<SimulatorOptions> Setter(string key, JsonNode? value) => key.ToUpperInvariant() switch
    {
        "IMPORTDELAY" => With(TimeSpanOf(value), (o, v) => o.ImportDelay = v),
        "BOOTDELAY" => With(TimeSpanOf(value), (o, v) => o.BootDelay = v),
        "STOPDELAY" => With(TimeSpanOf(value), (o, v) => o.StopDelay = v),
        "HOTPLUGDELAY" => With(TimeSpanOf(value), (o, v) => o.HotplugDelay = v),
        "EXPANDDELAY" => With(TimeSpanOf(value), (o, v) => o.ExpandDelay = v),
        "ATTACHDELAY" => With(TimeSpanOf(value), (o, v) => o.AttachDelay = v),
        "IMAGEPULLBACKOFF" => With(TimeSpanOf(value), (o, v) => o.ImagePullBackoff = v),
        "STARTFAILUREBACKOFF" => With(TimeSpanOf(value), (o, v) => o.StartFailureBackoff = v),
        "LATENCY" => With(TimeSpanOf(value), (o, v) => o.Latency = v),
        "NODECOUNT" => With(checked((int)NumberOf(value)), (o, v) => o.NodeCount = v),
        "NODECPU" => With(checked((int)NumberOf(value)), (o, v) => o.NodeCpu = v),
        "NODEMEMORYMI" => With(checked((long)NumberOf(value)), (o, v) => o.NodeMemoryMi = v),
        "ERRORRATE" => With(NumberOf(value), (o, v) => o.ErrorRate = v),
        "FAULTSTATUS" => With(checked((int)NumberOf(value)), (o, v) => o.FaultStatus = v),
        "LOADBALANCERPOOL" => With(StringOf(value), (o, v) => o.LoadBalancerPool = v),
        "PODCIDR" => With(StringOf(value), (o, v) => o.PodCidr = v),
        "FAILINGIMAGES" => With(StringsOf(value), (o, v) =>
        {
            o.FailingImages.Clear();
            o.FailingImages.UnionWith(v);
        }),
        "FEATUREGATES" => With(StringsOf(value), (o, v) =>
        {
            o.FeatureGates.Clear();
            o.FeatureGates.UnionWith(v);
        }),
        _ => throw new FormatException($"unknown option '{key}'"),
    };

    static Action<SimulatorOptions> With<T>(T value, Action<SimulatorOptions, T> set) => o => set(o, value);

    public static SimulatorOptions FromConfiguration(IConfiguration section)
    {
        var options = new SimulatorOptions();
        var changes = new JsonObject();
        foreach (var child in section.GetChildren())
        {
            changes[child.Key] = child.Value is not null
                ? child.Value
                : new JsonArray(child.GetChildren().Select(c => (JsonNode?)c.Value).ToArray());
        }
        options.Apply(changes);
        return options;
    }

    static string StringOf(JsonNode? value) =>
        value is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new FormatException("expected a string");

    static double NumberOf(JsonNode? value) => value switch
    {
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => (double)Json.Number(v)!.Value,
        JsonValue v when v.TryGetValue<string>(out var s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
        _ => throw new FormatException("expected a number"),
    };

    // "00:00:01.5" (TimeSpan) or a number of seconds.
    static TimeSpan TimeSpanOf(JsonNode? value) => value switch
    {
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => TimeSpan.FromSeconds((double)Json.Number(v)!.Value),
        JsonValue v when v.TryGetValue<string>(out var s) && TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out var t) => t,
        _ => throw new FormatException("expected a duration like \"00:00:01.5\" or a number of seconds"),
    };

    // A JSON array, or one comma-separated string (handy on a command line).
    static List<string> StringsOf(JsonNode? value) => value switch
    {
        JsonArray array => array.Select(StringOf).Where(s => s.Length > 0).ToList(),
        JsonValue v when v.TryGetValue<string>(out var s) => s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList(),
        _ => throw new FormatException("expected an array of strings"),
    };
}

// A lock-guarded set: controllers read FailingImages while tests change it.
internal sealed class ConcurrentStringSet : ISet<string>
{
    readonly HashSet<string> items = new(StringComparer.Ordinal);
    readonly Lock gate = new();

    public int Count { get { lock (gate) { return items.Count; } } }
    public bool IsReadOnly => false;

    T Locked<T>(Func<HashSet<string>, T> read)
    {
        lock (gate)
        {
            return read(items);
        }
    }

    void Locked(Action<HashSet<string>> write)
    {
        lock (gate)
        {
            write(items);
        }
    }

    public bool Add(string item) => Locked(s => s.Add(item));
    void ICollection<string>.Add(string item) => Add(item);
    public void Clear() => Locked(s => s.Clear());
    public bool Contains(string item) => Locked(s => s.Contains(item));
    public void CopyTo(string[] array, int arrayIndex) => Locked(s => s.CopyTo(array, arrayIndex));
    public bool Remove(string item) => Locked(s => s.Remove(item));
    public void ExceptWith(IEnumerable<string> other) { var copy = other.ToList(); Locked(s => s.ExceptWith(copy)); }
    public void IntersectWith(IEnumerable<string> other) { var copy = other.ToList(); Locked(s => s.IntersectWith(copy)); }
    public void SymmetricExceptWith(IEnumerable<string> other) { var copy = other.ToList(); Locked(s => s.SymmetricExceptWith(copy)); }
    public void UnionWith(IEnumerable<string> other) { var copy = other.ToList(); Locked(s => s.UnionWith(copy)); }
    public bool IsProperSubsetOf(IEnumerable<string> other) { var copy = other.ToList(); return Locked(s => s.IsProperSubsetOf(copy)); }
    public bool IsProperSupersetOf(IEnumerable<string> other) { var copy = other.ToList(); return Locked(s => s.IsProperSupersetOf(copy)); }
    public bool IsSubsetOf(IEnumerable<string> other) { var copy = other.ToList(); return Locked(s => s.IsSubsetOf(copy)); }
    public bool IsSupersetOf(IEnumerable<string> other) { var copy = other.ToList(); return Locked(s => s.IsSupersetOf(copy)); }
    public bool Overlaps(IEnumerable<string> other) { var copy = other.ToList(); return Locked(s => s.Overlaps(copy)); }
    public bool SetEquals(IEnumerable<string> other) { var copy = other.ToList(); return Locked(s => s.SetEquals(copy)); }

    // Enumerates a snapshot so callers never see a concurrent modification.
    public IEnumerator<string> GetEnumerator() => Locked(s => s.ToList()).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

// An IPv4 CIDR, enough to hand out pod and load-balancer addresses.
internal sealed record Cidr(uint Network, int Prefix, string Text)
{
    public static Cidr Parse(string text)
    {
        var parts = text.Trim().Split('/');
        if (parts.Length != 2 || !IPAddress.TryParse(parts[0], out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork ||
            !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var prefix) || prefix is < 8 or > 32)
        {
            throw new FormatException($"'{text}' is not an IPv4 CIDR such as 203.0.113.0/24");
        }
        var bytes = ip.GetAddressBytes();
        var value = (uint)(bytes[0] << 24 | bytes[1] << 16 | bytes[2] << 8 | bytes[3]);
        var mask = prefix == 32 ? uint.MaxValue : ~(uint.MaxValue >> prefix);
        return new Cidr(value & mask, prefix, $"{Format(value & mask)}/{prefix}");
    }

    public long Size => 1L << (32 - Prefix);

    // Usable host addresses: skip network and broadcast unless the range is tiny.
    public IEnumerable<string> Hosts()
    {
        if (Prefix >= 31)
        {
            for (long i = 0; i < Size; i++)
            {
                yield return Format((uint)(Network + i));
            }
            yield break;
        }
        for (long i = 1; i < Size - 1; i++)
        {
            yield return Format((uint)(Network + i));
        }
    }

    public static string Format(uint value) =>
        string.Create(CultureInfo.InvariantCulture, $"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}");
}
