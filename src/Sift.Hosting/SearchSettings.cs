using System.Text.Json;
using System.Text.Json.Serialization;
using Sift.Onnx;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Sift.Hosting;

/// <summary>First-stage retrieval mode.</summary>
/// <remarks>Fts is PostgreSQL full-text search (ts_rank_cd, not BM25): the lexical mode of a --store corpus.</remarks>
public enum RetrievalMode { Bm25, Dense, Hybrid, Fts }

/// <summary>
/// Everything that configures the retrieve → rerank pipeline. The same settings come from code, a JSON or
/// YAML config file (snake_case keys: <c>index</c>, <c>mode</c>, <c>top_n</c>, <c>rerank_model</c>...), and CLI
/// flags, in that order of precedence from lowest to highest.
/// </summary>
public sealed record SearchSettings
{
    /// <summary>Index directory.</summary>
    public string? Index { get; init; }

    /// <summary>Shared PostgreSQL store instead of <see cref="Index"/> (postgres://USER@HOST:PORT/DB?schema=NAME).</summary>
    public string? Store { get; init; }

    public RetrievalMode Mode { get; init; } = RetrievalMode.Bm25;

    /// <summary>Candidates from stage 1.</summary>
    public int TopN { get; init; } = 100;

    /// <summary>Results returned.</summary>
    public int TopK { get; init; } = 10;

    /// <summary>Minimum final score.</summary>
    public float? Threshold { get; init; }

    /// <summary>Cross-encoder for stage 2 (null: no reranking).</summary>
    public string? RerankModel { get; init; }

    /// <summary>Bi-encoder for dense/hybrid (default: the one recorded in the index).</summary>
    public string? DenseModel { get; init; }

    public ModelPrecision Precision { get; init; } = ModelPrecision.Fp32;

    /// <summary>Reranker max tokens per pair.</summary>
    public int? MaxLength { get; init; }

    public int BatchSize { get; init; } = 8;

    public int Threads { get; init; }

    public LongDocumentStrategy LongDocs { get; init; } = LongDocumentStrategy.Truncate;

    /// <summary>Hybrid fusion: rrf or weighted.</summary>
    public FusionMethod Fusion { get; init; } = FusionMethod.ReciprocalRank;

    /// <summary>Hybrid fusion weights in (bm25, dense) order.</summary>
    public IReadOnlyList<float>? FusionWeights { get; init; }

    /// <summary>Dense search: auto (HNSW when the index has a graph), exact or hnsw.</summary>
    public Sift.Retrieval.DenseSearchKind Ann { get; init; } = Sift.Retrieval.DenseSearchKind.Auto;

    /// <summary>HNSW search expansion (ef; null: the value the graph was built with).</summary>
    public int? AnnExpansionSearch { get; init; }

    /// <summary>The reranker settings these imply (the one builder of its <see cref="CrossEncoderOptions"/>).</summary>
    [JsonIgnore]
    public RerankerSettings Reranker => new() { Precision = Precision, MaxLength = MaxLength, BatchSize = BatchSize, Threads = Threads, LongDocs = LongDocs };

    /// <summary>Reads a JSON (<c>.json</c>) or YAML (<c>.yaml</c>/<c>.yml</c>) settings file.</summary>
    public static SearchSettings Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new SiftException($"Config file not found: '{path}'. Pass a JSON or YAML file with keys like index, mode, top_n, top_k, rerank_model.");
        }
        var text = File.ReadAllText(path);
        try
        {
            if (path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
            {
                // YAML → plain object graph → JSON, so both formats share one schema and one set of error messages.
                var yaml = new DeserializerBuilder().Build().Deserialize<object?>(text);
                text = JsonSerializer.Serialize(yaml);
            }
            var settings = JsonSerializer.Deserialize<SearchSettings>(text, JsonOptions) ?? new SearchSettings();
            // Relative paths in a config file are relative to the file, not the working directory.
            var baseDir = Path.GetDirectoryName(Path.GetFullPath(path))!;
            string? Rel(string? p) => p is null || Path.IsPathRooted(p) || ModelLocator.LooksLikeRepoId(p) && !Directory.Exists(Path.Combine(baseDir, p)) ? p : Path.GetFullPath(Path.Combine(baseDir, p));
            return settings with { Index = Rel(settings.Index), RerankModel = Rel(settings.RerankModel), DenseModel = Rel(settings.DenseModel) };
        }
        catch (Exception ex) when (ex is JsonException or YamlException)
        {
            throw new SiftException($"{path}: invalid config ({ex.Message}). Expected keys: index, store, mode (bm25|fts|dense|hybrid), top_n, top_k, threshold, rerank_model, dense_model, precision (fp32|int8), fusion (rrf|weighted), fusion_weights, ann (auto|exact|hnsw), ann_expansion_search.", ex);
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower), new FusionMethodConverter() },
    };

    /// <summary>Accepts the short names users type: rrf, weighted.</summary>
    private sealed class FusionMethodConverter : JsonConverter<FusionMethod>
    {
        public override FusionMethod Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.GetString()?.ToLowerInvariant() switch
            {
                "rrf" or "reciprocal_rank" or "reciprocalrank" => FusionMethod.ReciprocalRank,
                "weighted" or "weighted_score" or "weightedscore" => FusionMethod.WeightedScore,
                var other => throw new JsonException($"fusion '{other}' is not rrf or weighted"),
            };

        public override void Write(Utf8JsonWriter writer, FusionMethod value, JsonSerializerOptions options) =>
            writer.WriteStringValue(value == FusionMethod.ReciprocalRank ? "rrf" : "weighted");
    }
}
