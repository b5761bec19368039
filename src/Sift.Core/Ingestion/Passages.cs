namespace Sift;

/// <summary>How long documents are split into passages before indexing: windows of
/// <paramref name="Tokens"/> whitespace-separated words, consecutive windows sharing <paramref name="Overlap"/> words.</summary>
public sealed record PassageChunking(int Tokens, int Overlap = 0)
{
    /// <summary>Throws a <see cref="SiftException"/> when the settings cannot produce passages.</summary>
    public void Validate()
    {
        if (Tokens < 1)
        {
            throw new SiftException($"passage size must be at least 1 word (got {Tokens}); pass e.g. --passage-tokens 200");
        }
        if (Overlap < 0 || Overlap >= Tokens)
        {
            throw new SiftException($"passage overlap must be between 0 and passage size - 1 (got overlap {Overlap}, size {Tokens}); pass e.g. --passage-overlap {Tokens / 4}");
        }
    }
}

/// <summary>Splits text into overlapping word windows. Words are maximal runs of non-whitespace, so
/// offsets always land on word boundaries and the passage text is an exact substring of the original.</summary>
public static class Passages
{
    /// <summary>Returns the windows of <paramref name="text"/> in character offsets (end exclusive).
    /// Text with no words yields no windows; text of at most <c>Tokens</c> words yields one window.</summary>
    public static IReadOnlyList<TextWindow> Split(string text, PassageChunking chunking)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(chunking);
        chunking.Validate();

        var starts = new List<int>();
        var ends = new List<int>();
        var i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }
            if (i >= text.Length)
            {
                break;
            }
            starts.Add(i);
            while (i < text.Length && !char.IsWhiteSpace(text[i]))
            {
                i++;
            }
            ends.Add(i);
        }
        if (starts.Count == 0)
        {
            return [];
        }

        var stride = chunking.Tokens - chunking.Overlap;
        // Windows start every `stride` words; the last one is the first that reaches the final word.
        var count = starts.Count <= chunking.Tokens ? 1 : 1 + (starts.Count - chunking.Tokens + stride - 1) / stride;
        var windows = new TextWindow[count];
        for (var w = 0; w < count; w++)
        {
            var first = w * stride;
            var last = Math.Min(first + chunking.Tokens, starts.Count) - 1;
            windows[w] = new TextWindow(w, starts[first], ends[last], count);
        }
        return windows;
    }

    /// <summary>Splits a document into passage documents with ids <c>{id}#{ordinal}</c>. Each passage keeps the
    /// title and metadata and adds <c>parent</c> (the document id), <c>passage</c> (ordinal), <c>start</c> and
    /// <c>end</c> (character offsets into the original text).</summary>
    public static IEnumerable<Document> Split(Document document, PassageChunking chunking)
    {
        ArgumentNullException.ThrowIfNull(document);
        var parent = document.Id ?? "";
        foreach (var w in Split(document.Text, chunking))
        {
            var meta = document.Metadata is null
                ? new Dictionary<string, object?>(StringComparer.Ordinal)
                : new Dictionary<string, object?>(document.Metadata, StringComparer.Ordinal);
            meta["parent"] = parent;
            meta["passage"] = (long)w.Ordinal;
            meta["start"] = (long)w.Start;
            meta["end"] = (long)w.End;
            yield return new Document(document.Text[w.Start..w.End], $"{parent}#{w.Ordinal}", document.Title, meta);
        }
    }
}
