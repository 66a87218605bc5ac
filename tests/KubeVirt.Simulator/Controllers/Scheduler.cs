using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace KubeVirt.Simulator.Controllers;

internal sealed record Node(int Index, string Name, decimal FreeCpu, decimal FreeMemory);

// A tiny kube-scheduler: nodes are virtual (NodeCount × NodeCpu cores × NodeMemoryMi), usage is the sum of the
// requests of non-terminal pods bound to them, and the pick is the node kube-scheduler's default scoring
// (NodeResourcesFit, LeastAllocated) prefers: the most free CPU and memory after placing the pod, weighted equally.
internal sealed class Scheduler(SimulatorOptions options)
{
    public static string NodeName(int index) => $"node{index + 1:00}";

    public List<Node> Nodes(IEnumerable<JsonObject> pods)
    {
        var active = pods.Where(p => p.Str("spec", "nodeName") is not null && p.Str("status", "phase") is not ("Succeeded" or "Failed")).ToList();
        var nodes = new List<Node>();
        for (var i = 0; i < options.NodeCount; i++)
        {
            var name = NodeName(i);
            var onNode = active.Where(p => p.Str("spec", "nodeName") == name).ToList();
            var cpu = onNode.Sum(p => Quantity.Parse(Requests(p).Str("cpu")));
            var memory = onNode.Sum(p => Quantity.Parse(Requests(p).Str("memory")));
            nodes.Add(new Node(i, name, options.NodeCpu - cpu, options.NodeMemoryMi * 1024m * 1024m - memory));
        }
        return nodes;
    }

    static JsonObject? Requests(JsonObject pod) => pod.Objects("spec", "containers").FirstOrDefault()?.Object("resources", "requests");

    // Returns the chosen node, or the scheduler's "0/N nodes are available: ..." message.
    // excludeNode models the anti-affinity of a migration target pod to the source node.
    public (Node? Node, string Message) Schedule(JsonObject pod, IEnumerable<JsonObject> pods, string? excludeNode = null)
    {
        var cpu = Quantity.Parse(Requests(pod).Str("cpu"));
        var memory = Quantity.Parse(Requests(pod).Str("memory"));
        var nodes = Nodes(pods.Where(p => p.Uid() != pod.Uid()));
        if (nodes.Count == 0)
        {
            return (null, "no nodes available to schedule pods");
        }
        var (cpuCapacity, memoryCapacity) = (Math.Max(1m, options.NodeCpu), Math.Max(1m, options.NodeMemoryMi * 1024m * 1024m));
        var fits = nodes.Where(n => n.Name != excludeNode && n.FreeCpu >= cpu && n.FreeMemory >= memory)
            .OrderByDescending(n => (n.FreeCpu - cpu) / cpuCapacity + (n.FreeMemory - memory) / memoryCapacity)
            .ThenBy(n => n.Index)
            .FirstOrDefault();
        if (fits is not null)
        {
            return (fits, "");
        }
        var reasons = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            if (node.Name == excludeNode)
            {
                reasons["node(s) didn't match pod anti-affinity rules"] = reasons.GetValueOrDefault("node(s) didn't match pod anti-affinity rules") + 1;
                continue;
            }
            if (node.FreeCpu < cpu)
            {
                reasons["Insufficient cpu"] = reasons.GetValueOrDefault("Insufficient cpu") + 1;
            }
            if (node.FreeMemory < memory)
            {
                reasons["Insufficient memory"] = reasons.GetValueOrDefault("Insufficient memory") + 1;
            }
        }
        var parts = string.Join(", ", reasons.Select(r => $"{r.Value} {r.Key}"));
        return (null, $"0/{nodes.Count} nodes are available: {parts}.");
    }

    // The pod IP comes from the node's /24 slice of PodCidr (node i gets the i-th /24), skipping .0 and the .1 gateway.
    public string? AllocatePodIp(int nodeIndex, IEnumerable<JsonObject> pods)
    {
        var cidr = Cidr.Parse(options.PodCidr);
        var used = pods.Where(p => p.Str("status", "phase") is not ("Succeeded" or "Failed"))
            .Select(p => p.Str("status", "podIP")).Where(ip => ip is not null).ToHashSet();
        IEnumerable<string> candidates;
        if (cidr.Prefix <= 24)
        {
            var slices = cidr.Size / 256;
            var network = (uint)(cidr.Network + (nodeIndex % slices) * 256);
            candidates = Enumerable.Range(2, 253).Select(h => Cidr.Format((uint)(network + h)));
        }
        else
        {
            candidates = cidr.Hosts().Skip(1);
        }
        return candidates.FirstOrDefault(ip => !used.Contains(ip));
    }
}

// Kubernetes resource quantities ("2Gi", "512Mi", "500m", "1e3", "2"), as a decimal in base units.
internal static partial class Quantity
{
    static readonly Dictionary<string, decimal> Suffixes = new(StringComparer.Ordinal)
    {
        [""] = 1m,
        ["m"] = 0.001m,
        ["k"] = 1e3m,
        ["M"] = 1e6m,
        ["G"] = 1e9m,
        ["T"] = 1e12m,
        ["P"] = 1e15m,
        ["E"] = 1e18m,
        ["Ki"] = 1024m,
        ["Mi"] = 1024m * 1024,
        ["Gi"] = 1024m * 1024 * 1024,
        ["Ti"] = 1024m * 1024 * 1024 * 1024,
        ["Pi"] = 1024m * 1024 * 1024 * 1024 * 1024,
        ["Ei"] = 1024m * 1024 * 1024 * 1024 * 1024 * 1024,
    };

    public static decimal Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return 0;
        }
        var match = Pattern().Match(text.Trim());
        if (!match.Success)
        {
            return 0;
        }
        var number = decimal.Parse(match.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture);
        var suffix = match.Groups[2].Value;
        if (suffix.Length > 1 && suffix[0] is 'e' or 'E' && char.IsDigit(suffix[^1]))
        {
            return number * (decimal)Math.Pow(10, int.Parse(suffix[1..], CultureInfo.InvariantCulture));
        }
        return Suffixes.TryGetValue(suffix, out var factor) ? number * factor : 0;
    }

    public static decimal Parse(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => Parse(s),
        JsonValue v when Json.Number(v) is { } d => d,
        _ => 0,
    };

    // The canonical binary form the API server prints for a byte count: "2Gi", "1536Mi", "1000".
    public static string Binary(decimal bytes)
    {
        foreach (var suffix in new[] { "Ei", "Pi", "Ti", "Gi", "Mi", "Ki" })
        {
            var factor = Suffixes[suffix];
            if (bytes >= factor && bytes % factor == 0)
            {
                return $"{(bytes / factor).ToString(CultureInfo.InvariantCulture)}{suffix}";
            }
        }
        return Math.Ceiling(bytes).ToString(CultureInfo.InvariantCulture);
    }

    public static string Mi(decimal bytes) => $"{Math.Ceiling(bytes / (1024m * 1024m)).ToString(CultureInfo.InvariantCulture)}Mi";

    [GeneratedRegex(@"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[A-Za-z]*)$")]
    private static partial Regex Pattern();
}
