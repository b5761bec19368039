using System.Text.Json;

// Wire types. Property names are written in snake_case (see SiftServer's JSON options); null members are omitted.
// Requests are parsed into these records (each record's Parse, field by field through JsonBody for errors that name the
// field), and the same records describe them in the OpenAPI document.
namespace Sift.Server.Http;

/// <summary>TEI <c>POST /rerank</c> request.</summary>
/// <param name="Query">The query.</param>
/// <param name="Texts">Documents to score against the query.</param>
/// <param name="RawScores">Raw logits instead of the model's activation (sigmoid for one-label models).</param>
/// <param name="ReturnText">Echo each text in its result.</param>
/// <param name="Truncate">Cut query + text to the model's max length; false: over-long input is a 413.</param>
/// <param name="TruncationDirection">"Right" (default) or "Left".</param>
/// <param name="Model">Optional: which served model (default: the first).</param>
public sealed record TeiRerankRequest(string Query, IReadOnlyList<string> Texts, bool RawScores = false, bool ReturnText = false,
    bool Truncate = false, string TruncationDirection = "Right", string? Model = null)
{
    internal static TeiRerankRequest Parse(JsonElement root, int maxTexts)
    {
        var query = JsonBody.RequireString(root, "query");
        var texts = JsonBody.RequireStringArray(root, "texts", maxTexts);
        var raw = JsonBody.OptionalBool(root, "raw_scores", false);
        var returnText = JsonBody.OptionalBool(root, "return_text", false);
        var truncate = JsonBody.OptionalBool(root, "truncate", false);
        var direction = JsonBody.OptionalString(root, "truncation_direction") switch
        {
            null => "Right",
            var d when d.Equals("right", StringComparison.OrdinalIgnoreCase) => "Right",
            var d when d.Equals("left", StringComparison.OrdinalIgnoreCase) => "Left",
            var d => throw ApiException.Invalid("truncation_direction", $"'truncation_direction' must be \"Right\" or \"Left\" (got \"{d}\")"),
        };
        return new TeiRerankRequest(query, texts, raw, returnText, truncate, direction, JsonBody.OptionalString(root, "model"));
    }

    /// <summary>The library's options for this request.</summary>
    internal RerankOptions ToRerankOptions() => new()
    {
        Activation = RawScores ? ScoreActivation.Raw : null,
        Truncate = Truncate,
        TruncationSide = TruncationDirection == "Left" ? TruncationSide.Left : TruncationSide.Right,
    };
}

/// <summary>One TEI rank: position in <c>texts</c>, score, and the text when asked for.</summary>
public sealed record TeiRank(int Index, float Score, string? Text = null);

/// <summary>Cohere (v1/v2) and Jina rerank request.</summary>
/// <param name="Model">Served model name (default: the first).</param>
/// <param name="Query">The query.</param>
/// <param name="Documents">Strings, or objects with a "text" string.</param>
/// <param name="TopN">Return only the best N (default: all).</param>
/// <param name="ReturnDocuments">Include each document's text in its result (default false).</param>
/// <param name="MaxTokensPerDoc">Cut each document to this many tokens before scoring (pairs are always cut to the model's max length).</param>
/// <param name="RankFields">Cohere v1: the object fields to rank by, in order (default "text").</param>
/// <param name="MaxChunksPerDoc">Cohere v1: split long documents into at most this many windows; the best window's score counts.</param>
public sealed record CohereRerankRequest(string Query, IReadOnlyList<JsonElement> Documents, string? Model = null, int? TopN = null,
    bool ReturnDocuments = false, int? MaxTokensPerDoc = null, IReadOnlyList<string>? RankFields = null, int? MaxChunksPerDoc = null)
{
    /// <summary>Upper bound of <c>max_chunks_per_doc</c>: windows a request can make the server score per document.</summary>
    public const int MaxChunksLimit = 64;

    /// <summary>The text each document is ranked by (its <c>text</c>, or its <see cref="RankFields"/>), in order.</summary>
    internal IReadOnlyList<string> Texts { get; private init; } = [];

    internal static CohereRerankRequest Parse(JsonElement root, int maxDocuments)
    {
        var model = JsonBody.OptionalString(root, "model");
        var query = JsonBody.RequireString(root, "query");
        var rankFields = JsonBody.OptionalStringArray(root, "rank_fields");
        var texts = JsonBody.RequireDocuments(root, "documents", maxDocuments, rankFields);
        var topN = JsonBody.OptionalInt(root, "top_n", min: 1);
        var returnDocuments = JsonBody.OptionalBool(root, "return_documents", false);
        var maxTokensPerDoc = JsonBody.OptionalInt(root, "max_tokens_per_doc", min: 1);
        // Cohere v1: long documents are split into at most this many chunks and the best one counts (our chunk mode).
        var maxChunks = JsonBody.OptionalInt(root, "max_chunks_per_doc", min: 1);
        if (maxChunks > MaxChunksLimit)
        {
            throw ApiException.Invalid("max_chunks_per_doc", $"'max_chunks_per_doc' must be at most {MaxChunksLimit} (got {maxChunks})");
        }
        // Kept as sent (cloned: the request's JSON document is released before the response is written), for return_documents.
        var documents = returnDocuments ? root.GetProperty("documents").EnumerateArray().Select(e => e.Clone()).ToList() : [];
        return new CohereRerankRequest(query, documents, model, topN, returnDocuments, maxTokensPerDoc, rankFields, maxChunks) { Texts = texts };
    }

    /// <summary>The library's options for this request. Cohere and Jina never refuse long documents: pairs are always cut.</summary>
    internal RerankOptions ToRerankOptions() => new() { TopK = TopN, MaxTokensPerDocument = MaxTokensPerDoc, MaxChunks = MaxChunksPerDoc };

    /// <summary>Document <paramref name="index"/> as the client sent it (Cohere's <c>return_documents</c>): an object as it was, a string as <c>{"text": ...}</c>.</summary>
    internal JsonElement Original(int index) =>
        Documents[index].ValueKind == JsonValueKind.Object ? Documents[index] : JsonSerializer.SerializeToElement(new { text = Texts[index] });
}

/// <summary>Cohere/Jina rerank response: the union of both shapes (Cohere's id/meta, Jina's model/usage).</summary>
public sealed record CohereRerankResponse(string Id, string Model, IReadOnlyList<CohereResult> Results, CohereMeta Meta, Usage Usage);

/// <summary>One Cohere/Jina result.</summary>
/// <param name="Index">Position in <c>documents</c>.</param>
/// <param name="RelevanceScore">The score.</param>
/// <param name="Document">With <c>return_documents</c>: the document as sent (an object as it was; a string as <c>{"text": ...}</c>).</param>
public sealed record CohereResult(int Index, float RelevanceScore, JsonElement? Document = null);

public sealed record CohereMeta(ApiVersion ApiVersion, BilledUnits BilledUnits, TokenCounts Tokens);

public sealed record ApiVersion(string Version);

public sealed record BilledUnits(int SearchUnits);

public sealed record TokenCounts(int InputTokens, int OutputTokens);

public sealed record Usage(int TotalTokens);

/// <summary><c>POST /search</c> request.</summary>
/// <param name="Query">The query.</param>
/// <param name="Mode">bm25, dense or hybrid (default: hybrid when the index has vectors, else bm25).</param>
/// <param name="TopN">Candidates from the first stage handed to the reranker (default 100).</param>
/// <param name="TopK">Results returned (default 10).</param>
/// <param name="Threshold">Drop results whose rerank score is below this.</param>
public sealed record SearchRequest(string Query, string? Mode = null, int TopN = 100, int TopK = 10, float? Threshold = null)
{
    internal static SearchRequest Parse(JsonElement root, int maxCandidates)
    {
        var query = JsonBody.RequireString(root, "query");
        var mode = JsonBody.OptionalString(root, "mode")?.ToLowerInvariant();
        var topN = JsonBody.OptionalInt(root, "top_n", min: 1) ?? 100;
        var topK = JsonBody.OptionalInt(root, "top_k", min: 1) ?? 10;
        if (topN > maxCandidates)
        {
            throw ApiException.TooLarge("too_many_documents", $"'top_n' ({topN}) is more than the server's limit of {maxCandidates} (--max-client-batch-size)", "top_n");
        }
        return new SearchRequest(query, mode, topN, topK, JsonBody.OptionalFloat(root, "threshold"));
    }
}

public sealed record SearchResponse(string Query, string Mode, string Model, int Candidates, IReadOnlyList<SearchHitDto> Results, SearchTimingsDto Timings);

/// <summary>One /search hit; <c>window</c> (chunk mode) is the part of the text that produced the score.</summary>
public sealed record SearchHitDto(string? Id, int Rank, float Score, int Stage1Rank, float Stage1Score, string Text, string? Title, WindowDto? Window = null);

/// <summary>A window of a long document in character offsets of its text (end exclusive): the <c>ordinal</c>-th of <c>window_count</c>.</summary>
public sealed record WindowDto(int Ordinal, int Start, int End, int WindowCount);

public sealed record SearchTimingsDto(double RetrieveMs, double RerankMs, double TotalMs);

/// <summary>TEI-style <c>GET /info</c>.</summary>
public sealed record InfoResponse(
    string ModelId,
    string? ModelSha,
    string ModelDtype,
    ModelTypeInfo ModelType,
    int MaxConcurrentRequests,
    int MaxInputLength,
    int MaxBatchTokens,
    int MaxBatchRequests,
    int MaxClientBatchSize,
    long MaxPayloadBytes,
    bool AutoTruncate,
    bool DynamicBatching,
    bool ApiKeyRequired,
    string Version,
    IReadOnlyList<ModelInfo> Models,
    SearchInfo? Search);

public sealed record ModelTypeInfo(RerankerInfo Reranker);

public sealed record RerankerInfo(IReadOnlyDictionary<string, string> Id2label, IReadOnlyDictionary<string, int> Label2id);

/// <summary>A served model as /info shows it: names and a checksum, never file paths (/info needs no key when the server has none).</summary>
/// <param name="Name">The name requests select it by.</param>
/// <param name="OnnxFile">The weights file's name (e.g. model_quantized.onnx).</param>
/// <param name="Sha256">SHA-256 of the weights file, hex: tells two deployments of "the same" model apart.</param>
public sealed record ModelInfo(string Name, string OnnxFile, string Sha256, int NumLabels, int MaxLength, string Precision, string Activation, bool UsesTokenTypeIds);

/// <summary>The /search index: its directory's name (not its path), whether it has vectors, the default mode.</summary>
public sealed record SearchInfo(string Index, bool Dense, string DefaultMode);

public sealed record HealthResponse(string Status);

/// <summary>Every error: <c>{"error": {"code", "message", "field"?}, "error_type"}</c>.</summary>
public sealed record ErrorResponse(ErrorDetail Error, string ErrorType);

public sealed record ErrorDetail(string Code, string Message, string? Field = null);
