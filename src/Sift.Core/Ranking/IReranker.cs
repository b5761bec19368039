namespace Sift;

/// <summary>Reorders documents by relevance to a query. Implementations are thread-safe.</summary>
public interface IReranker
{
    /// <summary>Scores every document against <paramref name="query"/> and returns them best first
    /// (ties keep input order), cut to <see cref="RerankOptions.TopK"/> and <see cref="RerankOptions.Threshold"/>.</summary>
    Task<IReadOnlyList<RerankResult>> RerankAsync(
        string query,
        IReadOnlyList<Document> documents,
        RerankOptions? options = null,
        CancellationToken cancellationToken = default);
}

/// <summary>Per-call reranking options.</summary>
public sealed record RerankOptions
{
    /// <summary>Return at most this many results (null: all). Must be positive.</summary>
    public int? TopK { get; init; }

    /// <summary>Drop results whose score is below this value (null: keep all).</summary>
    public float? Threshold { get; init; }

    /// <summary>Override the model's default activation.</summary>
    public ScoreActivation? Activation { get; init; }

    /// <summary>Haystack-style calibration: score = sigmoid(logit × factor). Implies sigmoid.</summary>
    public float? CalibrationFactor { get; init; }

    /// <summary>Metadata fields joined before the text (Haystack's <c>meta_fields_to_embed</c>).</summary>
    public IReadOnlyList<string>? MetaFieldsToEmbed { get; init; }

    /// <summary>Separator between embedded metadata fields and the text.</summary>
    public string EmbeddingSeparator { get; init; } = "\n";

    /// <summary>Prepended to the query (some rerankers are trained with an instruction prefix).</summary>
    public string? QueryPrefix { get; init; }

    /// <summary>Prepended to each document.</summary>
    public string? DocumentPrefix { get; init; }

    /// <summary>
    /// Cut a query + document pair longer than the model's max length (default, sentence-transformers' behaviour);
    /// false: such a pair raises <see cref="InputTooLongException"/> (TEI's <c>truncate: false</c>). Chunked documents
    /// are split into windows instead and never raise.
    /// </summary>
    public bool Truncate { get; init; } = true;

    /// <summary>Which end of an over-long pair is cut (TEI's <c>truncation_direction</c>, Hugging Face's <c>truncation_side</c>).</summary>
    public TruncationSide TruncationSide { get; init; } = TruncationSide.Right;

    /// <summary>Cut each document to this many tokens before pairing it with the query (Cohere's <c>max_tokens_per_doc</c>); null: no cap.</summary>
    public int? MaxTokensPerDocument { get; init; }

    /// <summary>
    /// Split long documents into at most this many windows and keep the best (Cohere's <c>max_chunks_per_doc</c>),
    /// whatever the reranker's own long-document setting; 1 scores each document whole (cut). Null: the reranker's setting.
    /// </summary>
    public int? MaxChunks { get; init; }

    public static RerankOptions Default { get; } = new();
}

/// <summary>Which end of an over-long input is cut.</summary>
public enum TruncationSide
{
    /// <summary>Keep the start, cut the end (default).</summary>
    Right,
    /// <summary>Keep the end, cut the start.</summary>
    Left,
}

/// <summary>
/// A query + document pair is longer than the model reads and truncation was turned off
/// (<see cref="RerankOptions.Truncate"/> = false). Surfaces map it to their own error (the server: 413).
/// </summary>
public sealed class InputTooLongException : SiftException
{
    public InputTooLongException(int documentIndex, int tokens, int maxTokens)
        : base($"query + document {documentIndex} is {tokens} tokens, more than the model's max of {maxTokens}; shorten it or allow truncation")
    {
        DocumentIndex = documentIndex;
        Tokens = tokens;
        MaxTokens = maxTokens;
    }

    /// <summary>Position of the document in the caller's list.</summary>
    public int DocumentIndex { get; }

    /// <summary>Tokens of the pair, special tokens included.</summary>
    public int Tokens { get; }

    /// <summary>The model's max tokens per pair.</summary>
    public int MaxTokens { get; }
}

/// <summary>The one ordering of reranked results every reranker and the search pipeline use.</summary>
public static class Ranking
{
    /// <summary>
    /// Best first (a stable sort: ties keep their order; NaN sorts last), without results scoring below
    /// <paramref name="threshold"/> (NaN never passes one), cut to <paramref name="topK"/>.
    /// </summary>
    public static IReadOnlyList<RerankResult> Rank(IEnumerable<RerankResult> results, int? topK = null, float? threshold = null)
    {
        ArgumentNullException.ThrowIfNull(results);
        IEnumerable<RerankResult> ranked = results.OrderByDescending(r => float.IsNaN(r.Score) ? float.NegativeInfinity : r.Score);
        if (threshold is { } t)
        {
            ranked = ranked.Where(r => r.Score >= t);
        }
        if (topK is { } k)
        {
            ranked = ranked.Take(k);
        }
        return ranked.ToArray();
    }
}
