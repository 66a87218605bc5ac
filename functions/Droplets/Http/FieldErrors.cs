using System.Text;

namespace Droplets.Http;

// The per-field errors of a 422, bounded: at most Max messages are kept (the rest are counted), and a value quoted in
// a message is cut to QuoteLength characters with its control characters escaped. So a body full of mistakes costs
// time linear in its size and gets an answer of bounded size. Validators check an array's length before its
// elements, and stop looking at elements once Full.
public sealed class FieldErrors
{
    public const int Max = 20;
    public const int QuoteLength = 64;

    readonly Dictionary<string, List<string>> byField = new(StringComparer.Ordinal);

    // Every error found, kept or not.
    public int Count { get; private set; }

    public bool Any => Count > 0;

    public bool Full => Count >= Max;

    public bool Has(string field) => byField.ContainsKey(field);

    public void Add(string field, string message)
    {
        if (Count++ >= Max)
            return;
        if (!byField.TryGetValue(field, out var messages))
            byField[field] = messages = [];
        messages.Add(message);
    }

    public IReadOnlyDictionary<string, string[]> ToDictionary() => byField.ToDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.Ordinal);

    // 'value' as a message may show it: see Shown.
    public static string Quote(string? value) => value is null ? "null" : $"'{Shown(value)}'";

    // At most QuoteLength characters (then "…"), a control character or a broken surrogate pair as \uXXXX.
    public static string Shown(string value)
    {
        var length = Math.Min(value.Length, QuoteLength);
        if (length < value.Length && char.IsHighSurrogate(value[length - 1]))
            length--;
        var shown = new StringBuilder(QuoteLength + 8);
        for (var i = 0; i < length; i++)
        {
            if (Text.IsShowable(value, i))
                shown.Append(value[i]);
            else
                shown.Append($"\\u{(int)value[i]:x4}");
        }
        return (length < value.Length ? shown.Append('…') : shown).ToString();
    }
}
