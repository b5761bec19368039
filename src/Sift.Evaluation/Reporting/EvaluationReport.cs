using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sift.Evaluation;

/// <summary>
/// The result of evaluating one configuration (e.g. "bm25", "bm25+minilm-l6") on one dataset, as written by
/// <c>sift eval</c>. Serialized with snake_case property names:
/// <code>
/// {
///   "configuration": "bm25+minilm",
///   "dataset": "scifact",
///   "relevance_level": 1,
///   "query_count": 300,
///   "aggregate": { "ndcg@10": 0.6789, "recall@100": 0.9253 },
///   "per_query": { "1": { "ndcg@10": 1.0, "recall@100": 1.0 } },
///   "timings_ms": { "retrieval": 812.4, "rerank": 10234.0 },
///   "parameters": { "model": "cross-encoder/ms-marco-MiniLM-L-6-v2", "depth": "100" }
/// }
/// </code>
/// Dictionary keys (metric keys, query ids) are written exactly as they are.
/// </summary>
public sealed record EvaluationReport
{
    /// <summary>Name of the configuration evaluated (shown in comparison tables and charts).</summary>
    public string Configuration { get; init; } = "";

    /// <summary>Dataset name, when known.</summary>
    public string? Dataset { get; init; }

    /// <summary>trec_eval <c>-l</c> used for the binary measures.</summary>
    public int RelevanceLevel { get; init; } = 1;

    /// <summary>Number of queries averaged over.</summary>
    public int QueryCount { get; init; }

    /// <summary>
    /// Judged queries the run has no result for. They are averaged in with 0 on every metric (trec_eval -c, BEIR),
    /// so a run that lost queries scores lower instead of silently looking better.
    /// </summary>
    public IReadOnlyList<string> QueriesWithoutResults { get; init; } = [];

    /// <summary>Metric key → mean over the evaluated queries, in request order.</summary>
    public IReadOnlyDictionary<string, double> Aggregate { get; init; } = new Dictionary<string, double>();

    /// <summary>Query id → metric key → value.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> PerQuery { get; init; } =
        new Dictionary<string, IReadOnlyDictionary<string, double>>();

    /// <summary>Stage name → wall time in milliseconds (e.g. "retrieval", "rerank", "total").</summary>
    public IReadOnlyDictionary<string, double> TimingsMs { get; init; } = new Dictionary<string, double>();

    /// <summary>Free-form settings worth recording (model, depth, batch size...).</summary>
    public IReadOnlyDictionary<string, string>? Parameters { get; init; }

    /// <summary>Builds a report from an evaluation result.</summary>
    public static EvaluationReport From(
        string configuration,
        EvaluationResult result,
        string? dataset = null,
        IReadOnlyDictionary<string, double>? timingsMs = null,
        IReadOnlyDictionary<string, string>? parameters = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new EvaluationReport
        {
            Configuration = configuration,
            Dataset = dataset,
            RelevanceLevel = result.RelevanceLevel,
            QueryCount = result.QueryCount,
            QueriesWithoutResults = result.QueriesWithoutResults.ToArray(),
            Aggregate = new Dictionary<string, double>(result.Aggregate, StringComparer.Ordinal),
            PerQuery = result.PerQuery.ToDictionary(
                kv => kv.Key,
                kv => (IReadOnlyDictionary<string, double>)new Dictionary<string, double>(kv.Value, StringComparer.Ordinal),
                StringComparer.Ordinal),
            TimingsMs = timingsMs is null ? new Dictionary<string, double>() : new Dictionary<string, double>(timingsMs),
            Parameters = parameters,
        };
    }

    /// <summary>The serializer settings used for reports (snake_case properties, dictionary keys untouched).</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public void Save(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir))
        {
            Directory.CreateDirectory(dir);
        }
        File.WriteAllText(path, ToJson() + "\n");
    }

    public static EvaluationReport FromJson(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<EvaluationReport>(json, JsonOptions)
                ?? throw new SiftException("The evaluation report JSON is 'null'. Pass a file written by 'sift eval'.");
        }
        catch (JsonException ex)
        {
            throw new SiftException($"Invalid evaluation report JSON ({ex.Message}). Pass a file written by 'sift eval'.", ex);
        }
    }

    public static EvaluationReport Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new SiftException($"Evaluation report not found: '{path}'. Run 'sift eval' first or check the path.");
        }
        try
        {
            return FromJson(File.ReadAllText(path));
        }
        catch (SiftException ex)
        {
            throw new SiftException($"{path}: {ex.Message}", ex);
        }
    }
}
