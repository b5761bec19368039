namespace Sift;

/// <summary>
/// A unit of text that can be retrieved and reranked. Ids and metadata are carried through every
/// stage untouched so callers get back exactly what they passed in.
/// </summary>
public sealed record Document
{
    public Document(string text, string? id = null, string? title = null, IReadOnlyDictionary<string, object?>? metadata = null)
    {
        Text = text;
        Id = id;
        Title = title;
        Metadata = metadata;
    }

    /// <summary>Optional stable identifier (BEIR <c>_id</c>, file path, database key...).</summary>
    public string? Id { get; init; }

    /// <summary>The passage text that is scored.</summary>
    public string Text { get; init; }

    /// <summary>Optional title; BEIR-style evaluation indexes title + text.</summary>
    public string? Title { get; init; }

    /// <summary>Arbitrary caller data. Values are typically strings, numbers or <see cref="System.Text.Json.JsonElement"/>.</summary>
    public IReadOnlyDictionary<string, object?>? Metadata { get; init; }

    public static implicit operator Document(string text) => new(text);
}
