namespace Droplets.Http;

// What every string the API accepts must be: free of control characters (user_data alone may hold tabs and line
// breaks). Unpaired surrogates, which no encoding can store, never get this far: the JSON reader refuses them (400),
// and a query string's invalid UTF-8 is decoded to U+FFFD. Patterns of identifiers end in \z, not $, which also
// matches before a final line feed.
public static class Text
{
    // Why value is refused ("… must not hold control characters …"), or null.
    public static string? Refusal(string field, string value, bool multiline = false)
    {
        for (var i = 0; i < value.Length; i++)
            if (char.IsControl(value[i]) && !(multiline && value[i] is '\t' or '\n' or '\r'))
                return $"{field} must not hold control characters: \\u{(int)value[i]:x4} at character {i}{(multiline ? " (tabs and line breaks are fine)" : "")}.";
        return null;
    }

    // Whether value[i] can be shown as it is: not a control character, not half of a surrogate pair cut apart.
    public static bool IsShowable(string value, int i)
    {
        var c = value[i];
        if (char.IsControl(c))
            return false;
        if (char.IsHighSurrogate(c))
            return i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]);
        if (char.IsLowSurrogate(c))
            return i > 0 && char.IsHighSurrogate(value[i - 1]);
        return true;
    }
}
