using System.Globalization;
using System.Text.Json.Nodes;

namespace KubeVirt.Simulator;

internal static class Patch
{
    // RFC 7386: objects merge recursively, null deletes, everything else (arrays included) replaces.
    public static JsonNode? Merge(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }
        var result = target is JsonObject targetObject ? (JsonObject)targetObject.DeepClone() : new JsonObject();
        foreach (var (key, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(key);
            }
            else
            {
                result[key] = Merge(result[key], value);
            }
        }
        return result;
    }

    // RFC 6902 (add, remove, replace, move, copy, test). Failures use the messages of evanphx/json-patch,
    // which the API server passes through.
    public static JsonNode? Apply(JsonNode? document, JsonArray operations)
    {
        var doc = document?.DeepClone();
        foreach (var node in operations)
        {
            if (node is not JsonObject op)
            {
                throw Errors.BadRequest("json patch operation must be an object");
            }
            var kind = op.Str("op") ?? throw Errors.BadRequest("Unexpected kind: <nil>");
            var path = op.Str("path") ?? throw Errors.BadRequest($"json patch operation {kind} is missing path");
            switch (kind)
            {
                case "add":
                    doc = Add(doc, path, Value(op));
                    break;
                case "remove":
                    doc = Remove(doc, path, out _);
                    break;
                case "replace":
                    doc = Remove(doc, path, out _, "replace");
                    doc = Add(doc, path, Value(op));
                    break;
                case "move":
                    {
                        var from = op.Str("from") ?? throw Errors.BadRequest("json patch move operation is missing from");
                        doc = Remove(doc, from, out var moved, "move");
                        doc = Add(doc, path, moved);
                        break;
                    }
                case "copy":
                    {
                        var from = op.Str("from") ?? throw Errors.BadRequest("json patch copy operation is missing from");
                        doc = Add(doc, path, Get(doc, from)?.DeepClone());
                        break;
                    }
                case "test":
                    {
                        var actual = Exists(doc, path) ? Get(doc, path) : null;
                        if (!JsonNode.DeepEquals(actual, Value(op)))
                        {
                            throw new ApiException(422, "Invalid", $"the server rejected our request due to an error in our request: testing value {path} failed: test failed");
                        }
                        break;
                    }
                default:
                    throw Errors.BadRequest($"Unexpected kind: {kind}");
            }
        }
        return doc;
    }

    static JsonNode? Value(JsonObject op) =>
        op.TryGetPropertyValue("value", out var value) ? value?.DeepClone() : throw Errors.BadRequest("json patch operation is missing value");

    static List<string> Tokens(string path)
    {
        if (path.Length == 0)
        {
            return [];
        }
        if (path[0] != '/')
        {
            throw Errors.BadRequest($"json patch path must start with '/': {path}");
        }
        return path[1..].Split('/').Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToList();
    }

    static ApiException Missing(string op, string path) =>
        new(422, "Invalid", $"the server rejected our request due to an error in our request: {op} operation does not apply: doc is missing path: \"{path}\": missing value");

    static bool Exists(JsonNode? doc, string path)
    {
        var node = doc;
        foreach (var token in Tokens(path))
        {
            switch (node)
            {
                case JsonObject obj when obj.ContainsKey(token):
                    node = obj[token];
                    break;
                case JsonArray array when int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < array.Count:
                    node = array[i];
                    break;
                default:
                    return false;
            }
        }
        return true;
    }

    static JsonNode? Get(JsonNode? doc, string path)
    {
        if (!Exists(doc, path))
        {
            throw Missing("copy", path);
        }
        var node = doc;
        foreach (var token in Tokens(path))
        {
            node = node is JsonObject obj ? obj[token] : ((JsonArray)node!)[int.Parse(token, CultureInfo.InvariantCulture)];
        }
        return node;
    }

    static (JsonNode? Parent, string Last) Parent(JsonNode? doc, string path, string op)
    {
        var tokens = Tokens(path);
        var parentPath = tokens.Count <= 1 ? "" : "/" + string.Join('/', tokens.Take(tokens.Count - 1).Select(t => t.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal)));
        if (!Exists(doc, parentPath))
        {
            throw Missing(op, path);
        }
        var parent = doc;
        foreach (var token in tokens.Take(tokens.Count - 1))
        {
            parent = parent is JsonObject obj ? obj[token] : ((JsonArray)parent!)[int.Parse(token, CultureInfo.InvariantCulture)];
        }
        return (parent, tokens[^1]);
    }

    static JsonNode? Add(JsonNode? doc, string path, JsonNode? value)
    {
        if (path.Length == 0)
        {
            return value;
        }
        var (parent, last) = Parent(doc, path, "add");
        switch (parent)
        {
            case JsonObject obj:
                obj[last] = value;
                break;
            case JsonArray array when last == "-":
                array.Add(value);
                break;
            case JsonArray array when int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i <= array.Count:
                array.Insert(i, value);
                break;
            default:
                throw Missing("add", path);
        }
        return doc;
    }

    static JsonNode? Remove(JsonNode? doc, string path, out JsonNode? removed, string op = "remove")
    {
        if (!Exists(doc, path) || path.Length == 0)
        {
            throw Missing(op, path);
        }
        var (parent, last) = Parent(doc, path, op);
        if (parent is JsonObject obj)
        {
            removed = obj[last];
            obj.Remove(last);
        }
        else
        {
            var array = (JsonArray)parent!;
            var i = int.Parse(last, CultureInfo.InvariantCulture);
            removed = array[i];
            array.RemoveAt(i);
        }
        return doc;
    }
}
