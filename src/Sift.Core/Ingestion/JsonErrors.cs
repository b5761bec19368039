using System.Text.Json;
using System.Text.RegularExpressions;

namespace Sift;

/// <summary>Turns System.Text.Json's parse errors into text that agrees with the line numbers Sift reports.</summary>
public static partial class JsonErrors
{
    /// <summary>
    /// The problem without System.Text.Json's " LineNumber: 0 | BytePositionInLine: 12." tail: those are 0-based and
    /// relative to the string parsed (always line 0 for one JSONL line), which contradicted "line 2" beside them.
    /// The 1-based byte position within the line is kept.
    /// </summary>
    public static string Describe(JsonException e)
    {
        var message = Position().Replace(e.Message, "").Trim();
        return e.BytePositionInLine is { } b ? $"{message} At byte {b + 1} of the line." : message;
    }

    [GeneratedRegex(@"\s*(Path: \S+ \| )?LineNumber: \d+ \| BytePositionInLine: \d+\.?")]
    private static partial Regex Position();
}
