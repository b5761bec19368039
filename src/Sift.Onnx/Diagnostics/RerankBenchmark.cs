using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Sift.Onnx;

/// <summary>One query and its first-stage candidates.</summary>
internal sealed record BenchQuery(string Query, IReadOnlyList<Document> Candidates);

/// <summary>
/// Figures of a reranking benchmark; field names match the Transformers.js peer harness
/// (benchmarks/peer-transformersjs) so both print the same table.
/// </summary>
internal sealed record BenchReport
{
    [JsonPropertyName("engine")] public string Engine { get; init; } = "sift";
    [JsonPropertyName("engine_version")] public string EngineVersion { get; init; } = typeof(BenchReport).Assembly.GetName().Version?.ToString(3) ?? "";
    [JsonPropertyName("model")] public string Model { get; init; } = "";
    [JsonPropertyName("precision")] public string Precision { get; init; } = "";
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; }
    [JsonPropertyName("max_length")] public int MaxLength { get; init; }
    [JsonPropertyName("threads")] public int Threads { get; init; }
    [JsonPropertyName("concurrent_batches")] public int ConcurrentBatches { get; init; } = 1;
    [JsonPropertyName("attention")] public string Attention { get; init; } = "";
    [JsonPropertyName("device")] public string Device { get; init; } = "cpu";
    [JsonPropertyName("max_batch_tokens")] public int? MaxBatchTokens { get; init; }
    [JsonPropertyName("io_binding")] public bool IoBinding { get; init; }
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
internal static class RerankBenchmark
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
        var flop = EstimateFlop(encoder.Model.Config, stats, encoder.ComputesLastLayerForFirstTokenOnly);
        var tokenizeMs = stats.Tokenize.TotalMilliseconds;
        var inferenceMs = stats.Inference.TotalMilliseconds;
        using var process = Process.GetCurrentProcess();
        return new BenchReport
        {
            Model = encoder.Model.Name,
            Precision = encoder.Options.Precision.ToString().ToLowerInvariant(),
            BatchSize = encoder.Options.BatchSize,
            MaxLength = encoder.MaxLength,
            Threads = encoder.Options.IntraOpThreads * encoder.Options.ConcurrentBatches,
            ConcurrentBatches = encoder.Options.ConcurrentBatches,
            Attention = encoder.AttentionPath,
            Device = encoder.Device.ToString(),
            MaxBatchTokens = encoder.Options.MaxBatchTokens,
            IoBinding = encoder.UsesIoBinding,
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
    /// Encoder FLOPs actually computed, from the config: per padded token 2·L·(4H² + 2·H·I) for the dense layers, plus
    /// 4·L·H per attention position (QKᵀ and AV) over Σ batch·seq². When the last layer runs for the first token only,
    /// that layer counts its Q/K/V projections for every token and the rest for one token per sequence.
    /// </summary>
    public static double EstimateFlop(JsonObject config, ScoringStats stats, bool firstTokenLastLayer = false)
    {
        double Get(string key, double fallback) => config[key] is JsonValue v && v.TryGetValue(out double d) ? d : fallback;
        var layers = Get("num_hidden_layers", 6);
        var hidden = Get("hidden_size", 384);
        var ffn = Get("intermediate_size", 4 * hidden);
        var full = firstTokenLastLayer ? layers - 1 : layers;
        var dense = 2 * full * (4 * hidden * hidden + 2 * hidden * ffn) * stats.PaddedTokens;
        var attention = 4 * full * hidden * (double)stats.AttentionTokenPositions;
        if (firstTokenLastLayer)
        {
            dense += 2 * 3 * hidden * hidden * stats.PaddedTokens + 2 * (hidden * hidden + 2 * hidden * ffn) * stats.Pairs;
            attention += 4 * hidden * (double)stats.PaddedTokens; // one query row against each sequence's keys
        }
        return dense + attention;
    }
}

/// <summary>How far a candidate's scores (int8, fp16, another device) are from a reference's (fp32) on the same pairs.</summary>
/// <param name="Pairs">Pairs compared.</param>
/// <param name="Spearman">Spearman rank correlation over all pairs pooled.</param>
/// <param name="MeanPerQuerySpearman">Mean of per-query Spearman correlations (what changes a ranking).</param>
/// <param name="MaxAbsDiff">Largest absolute logit difference.</param>
/// <param name="Reference">What the reference ran as (e.g. <c>fp32@cpu</c>).</param>
/// <param name="Candidate">What the candidate ran as (e.g. <c>fp16@cuda:0</c>).</param>
internal sealed record PrecisionAgreement(long Pairs, double Spearman, double MeanPerQuerySpearman, double MaxAbsDiff, string Reference = "", string Candidate = "");

/// <summary>Memory over many rerank calls: a leak shows as growth after warm-up.</summary>
internal sealed record SoakReport(int Calls, double StartWorkingSetMb, double EndWorkingSetMb, double PeakWorkingSetMb, double ManagedHeapStartMb, double ManagedHeapEndMb, double Seconds);

internal static class QualityChecks
{
    /// <summary>Scores every candidate with both encoders (raw logits) and compares the rankings.</summary>
    public static PrecisionAgreement Compare(CrossEncoder reference, CrossEncoder candidate, IReadOnlyList<BenchQuery> queries, IProgress<int>? progress = null, CancellationToken ct = default)
    {
        var all = new List<(double A, double B)>();
        double perQuery = 0, maxDiff = 0;
        for (var i = 0; i < queries.Count; i++)
        {
            var pairs = queries[i].Candidates.Select(d => (queries[i].Query, d.Text)).ToArray();
            var a = reference.PredictLogits(pairs, ct).Select(l => (double)l[^1]).ToArray();
            var b = candidate.PredictLogits(pairs, ct).Select(l => (double)l[^1]).ToArray();
            perQuery += Spearman(a, b);
            for (var j = 0; j < a.Length; j++)
            {
                all.Add((a[j], b[j]));
                maxDiff = Math.Max(maxDiff, Math.Abs(a[j] - b[j]));
            }
            progress?.Report(i + 1);
        }
        return new PrecisionAgreement(all.Count, Spearman(all.Select(x => x.A).ToArray(), all.Select(x => x.B).ToArray()), perQuery / queries.Count, maxDiff);
    }

    /// <summary>Spearman's rho: Pearson correlation of average ranks (ties share their mean rank).</summary>
    public static double Spearman(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        var ra = Ranks(a);
        var rb = Ranks(b);
        double ma = ra.Average(), mb = rb.Average(), cov = 0, va = 0, vb = 0;
        for (var i = 0; i < ra.Length; i++)
        {
            cov += (ra[i] - ma) * (rb[i] - mb);
            va += (ra[i] - ma) * (ra[i] - ma);
            vb += (rb[i] - mb) * (rb[i] - mb);
        }
        return va == 0 || vb == 0 ? 1 : cov / Math.Sqrt(va * vb);
    }

    private static double[] Ranks(IReadOnlyList<double> values)
    {
        var order = Enumerable.Range(0, values.Count).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Count];
        for (var i = 0; i < order.Length;)
        {
            var j = i;
            while (j + 1 < order.Length && values[order[j + 1]] == values[order[i]]) j++;
            var avg = (i + j) / 2.0 + 1;
            for (var k = i; k <= j; k++) ranks[order[k]] = avg;
            i = j + 1;
        }
        return ranks;
    }

    /// <summary>
    /// Runs <paramref name="calls"/> rerank calls cycling over the queries (each with its first
    /// <paramref name="docsPerCall"/> candidates) and reports the working set and managed heap before and after.
    /// </summary>
    public static SoakReport Soak(CrossEncoder encoder, IReadOnlyList<BenchQuery> queries, int calls, int docsPerCall, IProgress<int>? progress = null, CancellationToken ct = default)
    {
        using var process = Process.GetCurrentProcess();
        double Mb(long bytes) => bytes / (1024.0 * 1024.0);
        // Warm up first so one-time allocations (ONNX Runtime arenas, JIT) are not counted as growth.
        for (var i = 0; i < Math.Min(50, calls); i++)
        {
            var q = queries[i % queries.Count];
            encoder.Rerank(q.Query, q.Candidates.Take(docsPerCall).ToArray(), null, ct);
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        process.Refresh();
        var start = process.WorkingSet64;
        var heapStart = GC.GetTotalMemory(forceFullCollection: true);
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < calls; i++)
        {
            var q = queries[i % queries.Count];
            encoder.Rerank(q.Query, q.Candidates.Take(docsPerCall).ToArray(), null, ct);
            if (i % 100 == 0) progress?.Report(i);
        }
        sw.Stop();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        process.Refresh();
        return new SoakReport(calls, Mb(start), Mb(process.WorkingSet64), Mb(process.PeakWorkingSet64),
            Mb(heapStart), Mb(GC.GetTotalMemory(forceFullCollection: true)), sw.Elapsed.TotalSeconds);
    }
}
