using System.Globalization;
using System.Text.RegularExpressions;

namespace Sift.Evaluation;

/// <summary>The supported measures (trec_eval equivalents in brackets).</summary>
public enum MetricKind
{
    /// <summary>nDCG with linear gains and log2 discounts [<c>ndcg_cut.k</c>, or <c>ndcg</c> without cutoff].</summary>
    Ndcg,
    /// <summary>Reciprocal rank of the first relevant document [<c>recip_rank</c>; with a cutoff, as <c>-M k</c>].</summary>
    Mrr,
    /// <summary>Fraction of the relevant documents retrieved [<c>recall.k</c>, or <c>set_recall</c> without cutoff].</summary>
    Recall,
    /// <summary>Average precision [<c>map</c>; with a cutoff <c>map_cut.k</c>].</summary>
    Map,
    /// <summary>Precision at k [<c>P.k</c>, always divided by k; without cutoff <c>set_P</c>].</summary>
    Precision,
}

/// <summary>
/// A measure and its optional cutoff. Parses the usual spellings (<c>ndcg@10</c>, <c>ndcg_cut_10</c>,
/// <c>ndcg_cut.10</c>, <c>mrr@10</c>, <c>recip_rank</c>, <c>recall@100</c>, <c>recall_100</c>, <c>map</c>,
/// <c>map@100</c>, <c>map_cut_100</c>, <c>p@5</c>, <c>P_5</c>, <c>precision@5</c>) and prints a canonical
/// key: <c>ndcg@10</c>, <c>mrr@10</c>, <c>mrr</c>, <c>recall@100</c>, <c>map</c>, <c>map@100</c>, <c>p@5</c>.
/// </summary>
public readonly partial record struct Metric(MetricKind Kind, int? Cutoff = null)
{
    /// <summary>The canonical output key, e.g. <c>ndcg@10</c>.</summary>
    public string Key => (Kind switch
    {
        MetricKind.Ndcg => "ndcg",
        MetricKind.Mrr => "mrr",
        MetricKind.Recall => "recall",
        MetricKind.Map => "map",
        MetricKind.Precision => "p",
        _ => throw new InvalidOperationException(),
    }) + (Cutoff is { } k ? "@" + k.ToString(CultureInfo.InvariantCulture) : "");

    public override string ToString() => Key;

    public static Metric Ndcg(int k) => new(MetricKind.Ndcg, k);
    public static Metric Mrr(int? k = null) => new(MetricKind.Mrr, k);
    public static Metric Recall(int k) => new(MetricKind.Recall, k);
    public static Metric Map(int? k = null) => new(MetricKind.Map, k);
    public static Metric Precision(int k) => new(MetricKind.Precision, k);

    /// <summary>The default set for <c>sift eval</c>: ndcg@10, mrr@10, recall@100, map.</summary>
    public static IReadOnlyList<Metric> Defaults { get; } = [Ndcg(10), Mrr(10), Recall(100), Map()];

    /// <summary>Parses a metric name; throws <see cref="SiftException"/> listing accepted forms when unknown.</summary>
    public static Metric Parse(string text)
    {
        if (TryParse(text, out var metric))
        {
            return metric;
        }
        throw new SiftException(
            $"Unknown metric '{text}'. Use one of: ndcg@K (ndcg_cut_K), ndcg, mrr@K, mrr (recip_rank), recall@K, recall, map, map@K, p@K — e.g. 'ndcg@10,recall@100'.");
    }

    /// <summary>Parses a comma/space separated list such as <c>ndcg@10,recall@100 map</c>.</summary>
    public static IReadOnlyList<Metric> ParseList(string text)
    {
        var parts = text.Split([',', ' ', ';', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            throw new SiftException("No metrics given. Pass e.g. 'ndcg@10,mrr@10,recall@100,map'.");
        }
        var list = new List<Metric>();
        foreach (var p in parts)
        {
            var m = Parse(p);
            if (!list.Contains(m))
            {
                list.Add(m);
            }
        }
        return list;
    }

    public static bool TryParse(string? text, out Metric metric)
    {
        metric = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        var match = Pattern().Match(text.Trim().ToLowerInvariant());
        if (!match.Success)
        {
            return false;
        }
        var name = match.Groups["name"].Value;
        int? cutoff = null;
        if (match.Groups["k"].Success)
        {
            if (!int.TryParse(match.Groups["k"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var k) || k <= 0)
            {
                return false;
            }
            cutoff = k;
        }
        MetricKind? kind = name switch
        {
            "ndcg" or "ndcg_cut" or "ndcg_at" => MetricKind.Ndcg,
            "mrr" or "recip_rank" or "rr" or "mrr_cut" => MetricKind.Mrr,
            "recall" or "r" or "set_recall" => MetricKind.Recall,
            "map" or "map_cut" or "ap" => MetricKind.Map,
            "p" or "precision" or "set_p" => MetricKind.Precision,
            _ => null,
        };
        if (kind is null)
        {
            return false;
        }
        // Names that require a cutoff in trec_eval.
        if (cutoff is null && name is "ndcg_cut" or "map_cut" or "mrr_cut" or "r" or "ndcg_at")
        {
            return false;
        }
        // set_* measures are whole-run (no cutoff).
        if (cutoff is not null && name.StartsWith("set_", StringComparison.Ordinal))
        {
            return false;
        }
        metric = new Metric(kind.Value, cutoff);
        return true;
    }

    [GeneratedRegex(@"^(?<name>[a-z_]+?)(?:[@._](?<k>\d+))?$")]
    private static partial Regex Pattern();
}
