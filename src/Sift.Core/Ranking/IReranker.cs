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

    public static RerankOptions Default { get; } = new();
}
