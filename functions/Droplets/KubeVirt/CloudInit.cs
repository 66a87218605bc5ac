using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Droplets.KubeVirt;

// The cloud-init user data a droplet boots with: its hostname, the SSH keys it was created with, and the
// caller's own user_data, combined so that cloud-init reads all of them and the caller's content is kept as is.
// The user data is recognised the way cloud-init recognises it (cloudinit/user_data.py convert_string,
// handlers.type_from_starts_with): MIME when "mime-version:" appears in the first 4096 bytes, otherwise by
// its first line.
// - No user data: our own #cloud-config (hostname, ssh_authorized_keys).
// - A #cloud-config document: merged line by line (see MergeIntoCloudConfig): our keys are appended to its
//   top-level ssh_authorized_keys list, or the list is added; hostname is added unless it sets hostname or fqdn.
// - Anything else (a script, #include, boothook, jinja template, cloud-config-archive, MIME), or a
//   #cloud-config whose shape the line merge does not handle: a MIME multipart/mixed message, the caller's
//   part first and unchanged, then ours, a text/cloud-config part whose merge_how (cloud-init's documented
//   "Merging user data sections") appends lists and never replaces a value the caller set.
// Pure and deterministic: the provisioning activity renders the same document on every retry.
public static partial class CloudInit
{
    // KubeVirt's admission webhook refuses inline cloudInitNoCloud userData above 2048 bytes
    // (cloudInitUserMaxLen: "Should use UserDataSecretRef for larger data"), so larger documents go in a Secret.
    public const int InlineLimit = 2048;

    const string MergeHow = "merge_how:\n  - name: list\n    settings: [append]\n  - name: dict\n    settings: [no_replace, recurse_list]\n";

    public static string UserData(string hostname, IReadOnlyList<string> keys, string? userData)
    {
        if (string.IsNullOrEmpty(userData))
            return OwnConfig(hostname, keys, mergeHow: false);
        var format = Classify(userData);
        if (format == Format.CloudConfig && MergeIntoCloudConfig(userData, hostname, keys) is { } merged)
            return merged;
        return Multipart(userData, format == Format.Mime, OwnConfig(hostname, keys, mergeHow: true));
    }

    public enum Format { CloudConfig, Mime, Other }

    public static Format Classify(string userData)
    {
        var head = Encoding.UTF8.GetBytes(userData.Length > 4096 ? userData[..4096] : userData);
        // Python's bytes.lower(): ASCII letters only.
        var lowered = new string(Encoding.UTF8.GetString(head, 0, Math.Min(4096, head.Length)).Select(c => c is >= 'A' and <= 'Z' ? (char)(c + 32) : c).ToArray());
        if (lowered.Contains("mime-version:", StringComparison.Ordinal))
            return Format.Mime;
        var start = userData.TrimStart();
        if (start.StartsWith("#cloud-config-archive", StringComparison.OrdinalIgnoreCase) || start.StartsWith("#cloud-config-jsonp", StringComparison.OrdinalIgnoreCase))
            return Format.Other;
        return start.StartsWith("#cloud-config", StringComparison.OrdinalIgnoreCase) ? Format.CloudConfig : Format.Other;
    }

    static string OwnConfig(string hostname, IReadOnlyList<string> keys, bool mergeHow)
    {
        var config = new StringBuilder("#cloud-config\n");
        if (mergeHow)
            config.Append(MergeHow);
        config.Append("hostname: ").Append(Hostname(hostname)).Append('\n');
        if (keys.Count > 0)
        {
            config.Append("ssh_authorized_keys:\n");
            foreach (var key in keys)
                config.Append("  - ").Append(Quoted(key)).Append('\n');
        }
        return config.ToString();
    }

    // A careful line-based merge into the caller's YAML, without a YAML library. It reads only the document's
    // top level — the lines at the indentation of its first key — and gives up (null: use the multipart form
    // instead) on anything it cannot be sure of: a top level that is not a block mapping of simple keys, tabs
    // in indentation, YAML directives, more than one document, line breaks other than LF / CRLF, a flow
    // collection or quoted scalar left open at the end of a top-level line, and — only when there are keys to
    // add — an ssh_authorized_keys whose value is not a block list (flow [..], anchor, alias, tag, scalar) or
    // that appears twice. Everything it keeps, it keeps byte for byte; it only inserts lines.
    public static string? MergeIntoCloudConfig(string document, string hostname, IReadOnlyList<string> keys)
    {
        if (document.Any(c => c is '\u0085' or '\u2028' or '\u2029') || LoneCarriageReturn().IsMatch(document))
            return null;
        var newline = document.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
        var lines = Lines(document);

        var root = -1;
        var documentStarted = false;
        var hasHostname = false;
        var keysLine = -1;
        var keysInline = false;
        var previousKeyHasBlockValue = false;
        for (var i = 0; i < lines.Count; i++)
        {
            var (indent, body) = Split(document, lines[i]);
            if (body.Trim().Length == 0 || body[0] == '#')
                continue;
            if (body[0] == '\t')
                return null;
            if (indent == 0 && IsMarker(body))
            {
                var after = body[3..].Trim();
                if (body[0] == '-' && !documentStarted && root < 0 && (after.Length == 0 || after[0] == '#'))
                {
                    documentStarted = true;
                    continue;
                }
                return null;
            }
            if (indent == 0 && body[0] == '%')
                return null;
            if (root < 0)
                root = indent;
            if (indent < root)
                return null;
            if (indent > root)
                continue;
            if (IsItem(body))
            {
                // A list item at the key's own indentation ("compact" block sequence) belongs to the key above.
                if (!previousKeyHasBlockValue)
                    return null;
                continue;
            }
            var match = RootKey().Match(body);
            if (!match.Success || Value(match.Groups["rest"].Value) is not { } value)
                return null;
            var key = match.Groups["key"].Value.Trim('"', '\'');
            if (key == "ssh_authorized_keys")
            {
                keysInline |= keysLine >= 0 || value.Length > 0;
                keysLine = i;
            }
            hasHostname |= key is "hostname" or "fqdn";
            previousKeyHasBlockValue = value.Length == 0;
        }
        if (keys.Count > 0 && keysInline)
            return null;
        if (root < 0)
            root = 0;

        (int At, string Text)? insertion = null;
        var tail = new StringBuilder();
        if (!hasHostname)
            tail.Append(' ', root).Append("hostname: ").Append(Hostname(hostname)).Append(newline);
        if (keys.Count > 0 && keysLine >= 0)
        {
            // The list runs until the next line at the top level that is not one of its items.
            var itemIndent = -1;
            var last = keysLine;
            for (var j = keysLine + 1; j < lines.Count; j++)
            {
                var (indent, body) = Split(document, lines[j]);
                if (body.Trim().Length == 0)
                    continue;
                if (body[0] == '#')
                {
                    // Deeper than the items, a '#' line may be the inside of a block scalar: keep it with the list.
                    if (itemIndent >= 0 && indent > itemIndent)
                        last = j;
                    continue;
                }
                if (indent == root && !IsItem(body))
                    break;
                if (itemIndent < 0)
                {
                    if (!IsItem(body))
                        return null; // a mapping or a scalar under ssh_authorized_keys
                    itemIndent = indent;
                }
                else if (indent < itemIndent)
                {
                    return null;
                }
                last = j;
            }
            if (itemIndent < 0)
                itemIndent = root + 2; // "ssh_authorized_keys:" with nothing under it (null)
            var items = new StringBuilder();
            if (lines[last].End == lines[last].Start + lines[last].Length)
                items.Append(newline); // the last line of the document has no line break yet
            foreach (var key in keys)
                items.Append(' ', itemIndent).Append("- ").Append(Quoted(key)).Append(newline);
            insertion = (lines[last].End, items.ToString());
        }
        else if (keys.Count > 0)
        {
            tail.Append(' ', root).Append("ssh_authorized_keys:").Append(newline);
            foreach (var key in keys)
                tail.Append(' ', root + 2).Append("- ").Append(Quoted(key)).Append(newline);
        }

        var merged = new StringBuilder(document.Length + tail.Length + (insertion?.Text.Length ?? 0) + 2);
        if (insertion is { } insert)
            merged.Append(document, 0, insert.At).Append(insert.Text).Append(document, insert.At, document.Length - insert.At);
        else
            merged.Append(document);
        if (tail.Length > 0)
        {
            if (merged.Length > 0 && merged[^1] != '\n')
                merged.Append(newline);
            merged.Append(tail);
        }
        return merged.ToString();
    }

    // The caller's part first, then ours, so that our merge_how decides how ours joins theirs.
    static string Multipart(string userData, bool userIsMime, string ownConfig)
    {
        var boundary = Boundary(userData, ownConfig);
        var message = new StringBuilder();
        message.Append("Content-Type: multipart/mixed; boundary=\"").Append(boundary).Append("\"\n");
        message.Append("MIME-Version: 1.0\n\n");
        message.Append("--").Append(boundary).Append('\n');
        if (userIsMime)
            message.Append(userData); // its own headers become the part's headers: cloud-init walks nested multiparts
        else
            Part(message, "text/plain", "user-data", userData); // text/plain: cloud-init types it by its first line, as when alone
        message.Append("\n--").Append(boundary).Append('\n');
        Part(message, "text/cloud-config", "droplets.cfg", ownConfig);
        message.Append("\n--").Append(boundary).Append("--\n");
        return message.ToString();
    }

    // The line break before a boundary belongs to the boundary (RFC 2046 §5.1.1), so the part is the content exactly.
    // Printable ASCII goes as it is (readable in the VM spec); anything else in base64, which keeps every byte.
    static void Part(StringBuilder message, string type, string filename, string content)
    {
        var plain = content.All(c => c is '\n' or '\t' or (>= ' ' and <= '~')) && content.Split('\n').All(l => l.Length <= 998);
        message.Append("Content-Type: ").Append(type).Append("; charset=\"utf-8\"\n");
        message.Append("MIME-Version: 1.0\n");
        message.Append("Content-Transfer-Encoding: ").Append(plain ? "7bit" : "base64").Append('\n');
        message.Append("Content-Disposition: attachment; filename=\"").Append(filename).Append("\"\n\n");
        message.Append(plain ? content : Convert.ToBase64String(Encoding.UTF8.GetBytes(content), Base64FormattingOptions.InsertLineBreaks).Replace("\r\n", "\n", StringComparison.Ordinal));
    }

    // Derived from the content, so the same droplet always renders the same message.
    static string Boundary(string userData, string ownConfig)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(userData + "\n" + ownConfig)));
        var boundary = "droplets-" + hash[..32];
        for (var n = 0; userData.Contains(boundary, StringComparison.Ordinal) || ownConfig.Contains(boundary, StringComparison.Ordinal); n++)
            boundary = $"droplets-{hash[..32]}-{n}";
        return boundary;
    }

    // A YAML double-quoted scalar. Keys hold no control characters (SSH key validation refuses them).
    static string Quoted(string value) => "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    // Droplet names are hostname labels; quoted where YAML 1.1 would read them as a number, boolean or null.
    static string Hostname(string name) =>
        char.IsAsciiDigit(name[0]) || YamlWords.Contains(name, StringComparer.OrdinalIgnoreCase) ? Quoted(name) : name;

    static readonly string[] YamlWords = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

    static bool IsItem(string body) => body == "-" || body.StartsWith("- ", StringComparison.Ordinal) || body.StartsWith("-\t", StringComparison.Ordinal);

    static bool IsMarker(string body) =>
        (body.StartsWith("---", StringComparison.Ordinal) || body.StartsWith("...", StringComparison.Ordinal)) && (body.Length == 3 || body[3] is ' ' or '\t');

    // The value after "key:", without a trailing comment; null when a quoted scalar or flow collection does not
    // close on this line (it would continue on the next, which the line merge does not follow).
    static string? Value(string rest)
    {
        var s = rest.Trim();
        if (s.Length == 0 || s[0] == '#')
            return "";
        int end;
        switch (s[0])
        {
            case '"':
                end = 1;
                while (end < s.Length && s[end] != '"')
                    end += s[end] == '\\' ? 2 : 1;
                break;
            case '\'':
                end = 1;
                while (end < s.Length && (s[end] != '\'' || (end + 1 < s.Length && s[end + 1] == '\'')))
                    end += s[end] == '\'' ? 2 : 1;
                break;
            case '[' or '{':
                var depth = 0;
                char? quote = null;
                for (end = 0; end < s.Length; end++)
                {
                    var c = s[end];
                    if (quote is not null)
                    {
                        if (c == '\\' && quote == '"')
                            end++;
                        else if (c == quote)
                            quote = null;
                    }
                    else if (c is '"' or '\'')
                        quote = c;
                    else if (c is '[' or '{')
                        depth++;
                    else if (c is ']' or '}' && --depth == 0)
                        break;
                }
                break;
            default:
                var comment = s.IndexOf(" #", StringComparison.Ordinal) is var a and >= 0 ? a : s.IndexOf("\t#", StringComparison.Ordinal);
                return comment < 0 ? s : s[..comment].TrimEnd();
        }
        if (end >= s.Length)
            return null;
        var after = s[(end + 1)..].Trim();
        return after.Length == 0 || after[0] == '#' ? s[..(end + 1)] : null;
    }

    static (int Indent, string Body) Split(string document, Line line)
    {
        var text = document.AsSpan(line.Start, line.Length).TrimEnd('\r');
        var indent = text.Length - text.TrimStart(' ').Length;
        return (indent, text[indent..].ToString());
    }

    // Each line's content (without its line break) and where the next line starts.
    static List<Line> Lines(string document)
    {
        var lines = new List<Line>();
        var start = 0;
        while (start < document.Length)
        {
            var nl = document.IndexOf('\n', start);
            if (nl < 0)
            {
                lines.Add(new Line(start, document.Length - start, document.Length));
                break;
            }
            lines.Add(new Line(start, nl - start, nl + 1));
            start = nl + 1;
        }
        return lines;
    }

    readonly record struct Line(int Start, int Length, int End);

    [GeneratedRegex(@"^(?<key>[A-Za-z0-9_][A-Za-z0-9_.-]*|""[A-Za-z0-9_.-]+""|'[A-Za-z0-9_.-]+')[ \t]*:(?<rest>[ \t].*)?$")]
    private static partial Regex RootKey();

    [GeneratedRegex("\r(?!\n)")]
    private static partial Regex LoneCarriageReturn();
}
