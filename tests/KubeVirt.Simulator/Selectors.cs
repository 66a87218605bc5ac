using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace KubeVirt.Simulator;

internal enum SelectorOp
{
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

internal sealed record Requirement(string Key, SelectorOp Op, IReadOnlyList<string> Values);

// Label selectors as in k8s.io/apimachinery/pkg/labels: "a=b,c!=d,e in (f,g),h notin (i),j,!k".
internal sealed partial record LabelSelector(IReadOnlyList<Requirement> Requirements)
{
    public static LabelSelector Parse(string? text)
    {
        var requirements = new List<Requirement>();
        foreach (var term in SplitTopLevel(text ?? ""))
        {
            requirements.Add(ParseTerm(term));
        }
        return new LabelSelector(requirements);
    }

    public bool Matches(JsonObject obj)
    {
        var labels = obj.Object("metadata", "labels");
        foreach (var r in Requirements)
        {
            var value = labels.Str(r.Key);
            var ok = r.Op switch
            {
                SelectorOp.Equals => value == r.Values[0],
                SelectorOp.NotEquals => value != r.Values[0],
                SelectorOp.In => value is not null && r.Values.Contains(value),
                SelectorOp.NotIn => value is null || !r.Values.Contains(value),
                SelectorOp.Exists => value is not null,
                _ => value is null,
            };
            if (!ok)
            {
                return false;
            }
        }
        return true;
    }

    static Requirement ParseTerm(string term)
    {
        var set = SetTerm().Match(term);
        if (set.Success)
        {
            var values = set.Groups[3].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var op = set.Groups[2].Value == "in" ? SelectorOp.In : SelectorOp.NotIn;
            return new Requirement(ValidKey(set.Groups[1].Value, term), op, values);
        }
        if (term.StartsWith('!'))
        {
            return new Requirement(ValidKey(term[1..].Trim(), term), SelectorOp.DoesNotExist, []);
        }
        foreach (var (token, op) in new[] { ("!=", SelectorOp.NotEquals), ("==", SelectorOp.Equals), ("=", SelectorOp.Equals) })
        {
            var at = term.IndexOf(token, StringComparison.Ordinal);
            if (at > 0)
            {
                return new Requirement(ValidKey(term[..at].Trim(), term), op, [term[(at + token.Length)..].Trim()]);
            }
        }
        return new Requirement(ValidKey(term, term), SelectorOp.Exists, []);
    }

    static string ValidKey(string key, string term) =>
        KeyPattern().IsMatch(key) ? key : throw Errors.BadRequest($"unable to parse requirement: invalid label key \"{key}\" in \"{term}\"");

    internal static IEnumerable<string> SplitTopLevel(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i <= text.Length; i++)
        {
            if (i == text.Length || (text[i] == ',' && depth == 0))
            {
                var term = text[start..i].Trim();
                if (term.Length > 0)
                {
                    yield return term;
                }
                start = i + 1;
            }
            else if (text[i] == '(')
            {
                depth++;
            }
            else if (text[i] == ')')
            {
                depth--;
            }
        }
    }

    [GeneratedRegex(@"^(\S+)\s+(in|notin)\s+\((.*)\)$")]
    private static partial Regex SetTerm();

    [GeneratedRegex(@"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")]
    private static partial Regex KeyPattern();
}

// Field selectors: only the labels the real API server supports for each resource.
internal sealed record FieldSelector(IReadOnlyList<Requirement> Requirements)
{
    static readonly string[] Common = ["metadata.name", "metadata.namespace"];
    static readonly string[] EventFields =
    [
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
        "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
        "reason", "reportingComponent", "source", "type",
    ];
    static readonly string[] PodFields = ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "status.phase", "status.podIP", "status.nominatedNodeName"];

    public static FieldSelector Parse(ResourceType type, string? text)
    {
        var requirements = new List<Requirement>();
        foreach (var term in LabelSelector.SplitTopLevel(text ?? ""))
        {
            Requirement? parsed = null;
            foreach (var (token, op) in new[] { ("!=", SelectorOp.NotEquals), ("==", SelectorOp.Equals), ("=", SelectorOp.Equals) })
            {
                var at = term.IndexOf(token, StringComparison.Ordinal);
                if (at > 0)
                {
                    parsed = new Requirement(term[..at].Trim(), op, [term[(at + token.Length)..].Trim()]);
                    break;
                }
            }
            if (parsed is null)
            {
                throw Errors.BadRequest($"invalid selector: '{text}'; can't understand '{term}'");
            }
            var allowed = Common.Concat(type == Resources.Events ? EventFields : type == Resources.Pods ? PodFields : []);
            if (!allowed.Contains(parsed.Key))
            {
                throw Errors.BadRequest($"field label not supported: {parsed.Key}");
            }
            requirements.Add(parsed);
        }
        return new FieldSelector(requirements);
    }

    public bool Matches(JsonObject obj)
    {
        foreach (var r in Requirements)
        {
            var path = r.Key == "source" ? ["source", "component"] : r.Key.Split('.');
            var node = obj.At(path);
            var value = node is JsonValue v ? v.ToString() : "";
            var equal = value == r.Values[0];
            if (equal != (r.Op == SelectorOp.Equals))
            {
                return false;
            }
        }
        return true;
    }
}
