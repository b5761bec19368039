using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Sift.Onnx;

/// <summary>One query and its first-stage candidates.</summary>
public sealed record BenchQuery(string Query, IReadOnlyList<Document> Candidates);

/// <summary>
/// Figures of a reranking benchmark; field names match the Transformers.js peer harness
/// (benchmarks/peer-transformersjs) so both print the same table.
/// </summary>
public sealed record BenchReport
{
    [JsonPropertyName("engine")] public string Engine { get; init; } = "sift";
    [JsonPropertyName("engine_version")] public string EngineVersion { get; init; } = typeof(BenchReport).Assembly.GetName().Version?.ToString(3) ?? "";
    [JsonPropertyName("model")] public string Model { get; init; } = "";
    [JsonPropertyName("precision")] public string Precision { get; init; } = "";
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; }
    [JsonPropertyName("max_length")] public int MaxLength { get; init; }
    [JsonPropertyName("threads")] public int Threads { get; init; }
    [JsonPropertyName("queries")] public int Queries { get; init; }
    [JsonPropertyName("pairs")] public long Pairs { get; init; }
    [JsonPropertyName("tokens")] public long Tokens { get; init; }
    [JsonPropertyName("padded_tokens")] public long PaddedTokens { get; init; }
    [JsonPropertyName("padding_waste")] public double PaddingWaste { get; init; }
    [JsonPropertyName("p50_ms")] public double P50Ms { get; init; }
    [JsonPropertyName("p95_ms")] public double P95Ms { get; init; }
    [JsonPropertyName("mean_ms")] public double MeanMs { get; init; }
    [JsonPropertyName("pairs_per_s")] public double PairsPerSecond { get; init; }
    [JsonPropertyName("tokens_per_s")] public double TokensPerSecond { get; init; }
    [JsonPropertyName("cold_start_ms")] public double ColdStartMs { get; init; }
    [JsonPropertyName("tokenize_ms_total")] public double TokenizeMsTotal { get; init; }
    [JsonPropertyName("inference_ms_total")] public double InferenceMsTotal { get; init; }
    [JsonPropertyName("other_ms_total")] public double OtherMsTotal { get; init; }
    [JsonPropertyName("gflop_per_query")] public double GflopPerQuery { get; init; }
    [JsonPropertyName("gflops")] public double Gflops { get; init; }
    [JsonPropertyName("peak_working_set_mb")] public double PeakWorkingSetMb { get; init; }
}

/// <summary>
/// Measures what matters for a reranker: wall time per query (tokenize + inference + ranking) over real
/// candidate lists, after warm-up, with a split of where the time went.
/// </summary>
public static class RerankBenchmark
{
    public static BenchReport Run(CrossEncoder encoder, IReadOnlyList<BenchQuery> queries, int warmup = 2,
        TimeSpan? coldStart = null, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(queries);
        if (queries.Count == 0) throw new SiftException("No queries to benchmark; check the candidates file and --queries.");

        for (var i = 0; i < warmup; i++)
        {
            var q = queries[i % queries.Count];
            encoder.Rerank(q.Query, q.Candidates, null, cancellationToken);
        }

        var stats = new ScoringStats();
        var times = new double[queries.Count];
        var total = Stopwatch.StartNew();
        for (var i = 0; i < queries.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var start = Stopwatch.GetTimestamp();
            encoder.Rerank(queries[i].Query, queries[i].Candidates, null, stats, cancellationToken);
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            progress?.Report(i + 1);
        }
        total.Stop();

        var sorted = times.Order().ToArray();
        var seconds = total.Elapsed.TotalSeconds;
        var flop = EstimateFlop(encoder.Model.Config, stats);
        var tokenizeMs = stats.Tokenize.TotalMilliseconds;
        var inferenceMs = stats.Inference.TotalMilliseconds;
        using var process = Process.GetCurrentProcess();
        return new BenchReport
        {
            Model = encoder.Model.Name,
            Precision = encoder.Options.Precision.ToString().ToLowerInvariant(),
            BatchSize = encoder.Options.BatchSize,
            MaxLength = encoder.MaxLength,
            Threads = encoder.Options.IntraOpThreads == 0 ? Environment.ProcessorCount : encoder.Options.IntraOpThreads,
            Queries = queries.Count,
            Pairs = stats.Pairs,
            Tokens = stats.Tokens,
            PaddedTokens = stats.PaddedTokens,
            PaddingWaste = Math.Round(stats.PaddingWaste, 4),
            P50Ms = Percentile(sorted, 0.50),
            P95Ms = Percentile(sorted, 0.95),
            MeanMs = times.Average(),
            PairsPerSecond = stats.Pairs / seconds,
            TokensPerSecond = stats.Tokens / seconds,
            ColdStartMs = coldStart?.TotalMilliseconds ?? 0,
            TokenizeMsTotal = tokenizeMs,
            InferenceMsTotal = inferenceMs,
            OtherMsTotal = Math.Max(0, total.Elapsed.TotalMilliseconds - tokenizeMs - inferenceMs),
            GflopPerQuery = flop / 1e9 / queries.Count,
            Gflops = flop / 1e9 / Math.Max(1e-9, stats.Inference.TotalSeconds),
            PeakWorkingSetMb = process.PeakWorkingSet64 / (1024.0 * 1024.0),
        };
    }

    /// <summary>
    /// Nearest-rank percentile, as most latency reports use.
    /// </summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0) return 0;
        var rank = (int)Math.Ceiling(p * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }

    /// <summary>
    /// Encoder FLOPs from the config: per padded token 2·L·(4H² + 2·H·I) for the dense layers, plus
    /// 4·L·H per attention position (QKᵀ and AV) over Σ batch·seq².
    /// </summary>
    public static double EstimateFlop(JsonObject config, ScoringStats stats)
    {
        double Get(string key, double fallback) => config[key] is JsonValue v && v.TryGetValue(out double d) ? d : fallback;
        var layers = Get("num_hidden_layers", 6);
        var hidden = Get("hidden_size", 384);
        var ffn = Get("intermediate_size", 4 * hidden);
        var dense = 2 * layers * (4 * hidden * hidden + 2 * hidden * ffn) * stats.PaddedTokens;
        var attention = 4 * layers * hidden * (double)stats.AttentionTokenPositions;
        return dense + attention;
    }
}
