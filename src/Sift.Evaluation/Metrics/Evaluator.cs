namespace Sift.Evaluation;

/// <summary>Options mirroring trec_eval's command-line switches.</summary>
public sealed record EvaluationOptions
{
    /// <summary>
    /// trec_eval <c>-l</c>: the minimum label that counts as relevant for the binary measures
    /// (recall, MAP, MRR, P) and for deciding which queries are evaluated. nDCG always uses the graded labels.
    /// Default 1.
    /// </summary>
    public int RelevanceLevel { get; init; } = 1;

    /// <summary>trec_eval <c>-M</c>: only the first N results per query (after sorting) are evaluated. Null = all.</summary>
    public int? MaxResultsPerQuery { get; init; }

    public static EvaluationOptions Default { get; } = new();
}

/// <summary>The outcome of evaluating one run: per-query values and their means.</summary>
public sealed class EvaluationResult
{
    internal EvaluationResult(
        IReadOnlyList<Metric> metrics,
        int relevanceLevel,
        Dictionary<string, double> aggregate,
        Dictionary<string, Dictionary<string, double>> perQuery,
        IReadOnlyList<string> skippedQueries,
        IReadOnlyList<string> queriesWithoutResults)
    {
        Metrics = metrics;
        RelevanceLevel = relevanceLevel;
        Aggregate = aggregate;
        PerQuery = perQuery.ToDictionary(kv => kv.Key, kv => (IReadOnlyDictionary<string, double>)kv.Value, StringComparer.Ordinal);
        SkippedQueries = skippedQueries;
        QueriesWithoutResults = queriesWithoutResults;
    }

    /// <summary>The measures computed, in request order.</summary>
    public IReadOnlyList<Metric> Metrics { get; }

    public int RelevanceLevel { get; }

    /// <summary>Metric key (e.g. <c>ndcg@10</c>) → mean over the evaluated queries (0 when none).</summary>
    public IReadOnlyDictionary<string, double> Aggregate { get; }

    /// <summary>Query id → metric key → value, for every evaluated query (in qrels order).</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> PerQuery { get; }

    /// <summary>Number of queries averaged over.</summary>
    public int QueryCount => PerQuery.Count;

    /// <summary>Queries in the qrels with no document at or above the relevance level: skipped, as trec_eval-based tooling does.</summary>
    public IReadOnlyList<string> SkippedQueries { get; }

    /// <summary>Evaluated queries for which the run had no results (they score 0 on every measure).</summary>
    public IReadOnlyList<string> QueriesWithoutResults { get; }

    /// <summary>The mean for one metric (by key or any accepted spelling).</summary>
    public double this[string metric] => Aggregate[Metric.Parse(metric).Key];
}

/// <summary>
/// Computes IR measures the way <c>trec_eval</c> 9.x / <c>pytrec_eval</c> do.
/// <list type="bullet">
/// <item>Result order: a query's results are sorted by score descending, ties broken by document id descending
/// (ordinal string comparison); the run's rank column is ignored (trec_eval <c>form_res_rels.c</c>,
/// <c>comp_sim_docno</c>). See <see cref="Run.Ranked"/>.</item>
/// <item>nDCG@k: gain = the label as given (labels ≤ 0 and unjudged documents gain nothing), discount log2(rank+1);
/// the ideal DCG ranks ALL judged documents of the query by label (not only the retrieved ones). Ideal 0 → 0.</item>
/// <item>Binary measures use label ≥ <see cref="EvaluationOptions.RelevanceLevel"/> as "relevant" and the number of
/// such judged documents as the recall/AP denominator. P@k always divides by k (even when fewer were retrieved).
/// MRR@k is the reciprocal rank of the first relevant document within the top k (0 if none).</item>
/// <item>Query set: every query in the qrels that has at least one relevant document (label ≥ relevance level);
/// queries without any are skipped. An evaluated query missing from the run scores 0 (trec_eval <c>-c</c>).
/// Queries only in the run are ignored. Means are arithmetic means over the evaluated queries.</item>
/// </list>
/// </summary>
public static class Evaluator
{
    public static EvaluationResult Evaluate(Qrels qrels, Run run, IEnumerable<Metric> metrics, EvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(qrels);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(metrics);
        options ??= EvaluationOptions.Default;
        var metricList = metrics.Distinct().ToList();
        if (metricList.Count == 0)
        {
            throw new SiftException("No metrics requested. Pass e.g. 'ndcg@10,recall@100'.");
        }
        if (options.RelevanceLevel < 0)
        {
            throw new SiftException($"Relevance level must be 0 or more (got {options.RelevanceLevel}). trec_eval's default is 1; TREC DL uses 2 for binary measures.");
        }
        if (options.MaxResultsPerQuery is <= 0)
        {
            throw new SiftException($"MaxResultsPerQuery must be positive (got {options.MaxResultsPerQuery}). Leave it unset to evaluate all results.");
        }

        var perQuery = new Dictionary<string, Dictionary<string, double>>(StringComparer.Ordinal);
        var skipped = new List<string>();
        var withoutResults = new List<string>();
        foreach (var queryId in qrels.QueryIds)
        {
            var judgments = qrels.For(queryId);
            if (!judgments.Values.Any(r => r >= options.RelevanceLevel))
            {
                skipped.Add(queryId);
                continue;
            }
            var labels = RankedLabels(run, queryId, judgments, options.MaxResultsPerQuery);
            if (labels.Length == 0)
            {
                withoutResults.Add(queryId);
            }
            var values = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var m in metricList)
            {
                values[m.Key] = Compute(m, labels, judgments.Values, options.RelevanceLevel);
            }
            perQuery[queryId] = values;
        }

        var aggregate = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var m in metricList)
        {
            aggregate[m.Key] = perQuery.Count == 0 ? 0.0 : perQuery.Values.Average(v => v[m.Key]);
        }
        return new EvaluationResult(metricList, options.RelevanceLevel, aggregate, perQuery, skipped, withoutResults);
    }

    /// <summary>Evaluates with a relevance level given directly.</summary>
    public static EvaluationResult Evaluate(Qrels qrels, Run run, IEnumerable<Metric> metrics, int relevanceLevel) =>
        Evaluate(qrels, run, metrics, new EvaluationOptions { RelevanceLevel = relevanceLevel });

    /// <summary>Evaluates with metric names (e.g. <c>"ndcg@10"</c>) and a relevance level given directly.</summary>
    public static EvaluationResult Evaluate(Qrels qrels, Run run, IEnumerable<string> metrics, int relevanceLevel) =>
        Evaluate(qrels, run, metrics.Select(Metric.Parse), new EvaluationOptions { RelevanceLevel = relevanceLevel });

    /// <summary>Evaluates with metric names (e.g. <c>"ndcg@10"</c>).</summary>
    public static EvaluationResult Evaluate(Qrels qrels, Run run, IEnumerable<string> metrics, EvaluationOptions? options = null) =>
        Evaluate(qrels, run, metrics.Select(Metric.Parse), options);

    /// <summary>Label given to retrieved documents absent from the qrels (trec_eval's RELVALUE_NONPOOL).</summary>
    public const int Unjudged = -1;

    /// <summary>
    /// The labels of a query's results in trec_eval order; unjudged documents get <see cref="Unjudged"/> (-1), so they
    /// are never relevant at any level ≥ 0 and gain nothing. A document repeated in the run is counted once, at its best position.
    /// </summary>
    internal static int[] RankedLabels(Run run, string queryId, IReadOnlyDictionary<string, int> judgments, int? max)
    {
        var ranked = run.Ranked(queryId);
        var labels = new List<int>(ranked.Count);
        HashSet<string>? seen = null;
        foreach (var e in ranked)
        {
            if (max is { } m && labels.Count >= m)
            {
                break;
            }
            seen ??= new HashSet<string>(StringComparer.Ordinal);
            if (!seen.Add(e.DocId))
            {
                continue;
            }
            labels.Add(judgments.TryGetValue(e.DocId, out var rel) ? rel : Unjudged);
        }
        return [.. labels];
    }

    /// <summary>One measure for one query, given the labels of its ranked results and all its judged labels.</summary>
    public static double Compute(Metric metric, IReadOnlyList<int> rankedLabels, IEnumerable<int> judgedLabels, int relevanceLevel = 1)
    {
        var cutoff = metric.Cutoff ?? int.MaxValue;
        var n = Math.Min(cutoff, rankedLabels.Count);
        switch (metric.Kind)
        {
            case MetricKind.Ndcg:
            {
                double dcg = 0;
                for (var i = 0; i < n; i++)
                {
                    if (rankedLabels[i] > 0)
                    {
                        dcg += rankedLabels[i] / Math.Log2(i + 2);
                    }
                }
                var ideal = judgedLabels.Where(r => r > 0).OrderByDescending(r => r).ToArray();
                double idcg = 0;
                for (var i = 0; i < ideal.Length && i < cutoff; i++)
                {
                    idcg += ideal[i] / Math.Log2(i + 2);
                }
                return idcg > 0 ? dcg / idcg : 0.0;
            }
            case MetricKind.Mrr:
            {
                for (var i = 0; i < n; i++)
                {
                    if (rankedLabels[i] >= relevanceLevel)
                    {
                        return 1.0 / (i + 1);
                    }
                }
                return 0.0;
            }
            case MetricKind.Recall:
            {
                var numRel = judgedLabels.Count(r => r >= relevanceLevel);
                if (numRel == 0)
                {
                    return 0.0;
                }
                var relRet = 0;
                for (var i = 0; i < n; i++)
                {
                    if (rankedLabels[i] >= relevanceLevel)
                    {
                        relRet++;
                    }
                }
                return (double)relRet / numRel;
            }
            case MetricKind.Map:
            {
                var numRel = judgedLabels.Count(r => r >= relevanceLevel);
                if (numRel == 0)
                {
                    return 0.0;
                }
                double sum = 0;
                var relRet = 0;
                for (var i = 0; i < n; i++)
                {
                    if (rankedLabels[i] >= relevanceLevel)
                    {
                        relRet++;
                        sum += (double)relRet / (i + 1);
                    }
                }
                return sum / numRel;
            }
            case MetricKind.Precision:
            {
                var relRet = 0;
                for (var i = 0; i < n; i++)
                {
                    if (rankedLabels[i] >= relevanceLevel)
                    {
                        relRet++;
                    }
                }
                // trec_eval P.k divides by k; set_P (no cutoff) divides by the number retrieved.
                var denominator = metric.Cutoff ?? rankedLabels.Count;
                return denominator == 0 ? 0.0 : (double)relRet / denominator;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(metric), metric.Kind, "Unknown metric kind.");
        }
    }
}
