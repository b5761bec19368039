namespace Sift;

/// <summary>How several ranked lists are merged into one.</summary>
public enum FusionMethod
{
    /// <summary>Reciprocal rank fusion: score = Σ weightᵢ / (k + rankᵢ) (Cormack et al. 2009). Ignores raw scores, so it
    /// needs no calibration between BM25 and cosine scores.</summary>
    ReciprocalRank,
    /// <summary>Weighted sum of min-max normalized scores: score = Σ weightᵢ · (sᵢ − minᵢ) / (maxᵢ − minᵢ); a document
    /// missing from a list contributes 0 for it.</summary>
    WeightedScore,
}

/// <summary>Fusion settings.</summary>
public sealed record FusionOptions
{
    public FusionMethod Method { get; init; } = FusionMethod.ReciprocalRank;

    /// <summary>RRF's k (60 in the original paper and in most systems).</summary>
    public int RrfK { get; init; } = 60;

    /// <summary>One weight per input list (null: 1 each for RRF, 1/n each for weighted scores).</summary>
    public IReadOnlyList<float>? Weights { get; init; }

    public static FusionOptions Default { get; } = new();
}

/// <summary>
/// Merges ranked candidate lists. Documents are identified by <see cref="Document.Id"/> (by text when they have
/// no id); a document repeated within one list counts once, at its best rank. Output ties are broken
/// deterministically: higher fused score, then better (smaller) best rank in any list, then the order in which
/// the document first appears scanning the lists in order, so the same inputs always give the same order.
/// The returned <see cref="Candidate.Rank"/> is the fused 1-based rank and <see cref="Candidate.Score"/> the fused score.
/// </summary>
public static class RankFusion
{
    /// <summary>Fuses <paramref name="lists"/> with <paramref name="options"/>, returning at most <paramref name="topN"/> (null: all).</summary>
    public static IReadOnlyList<Candidate> Fuse(IReadOnlyList<IReadOnlyList<Candidate>> lists, FusionOptions? options = null, int? topN = null)
    {
        options ??= FusionOptions.Default;
        return options.Method switch
        {
            FusionMethod.ReciprocalRank => ReciprocalRank(lists, options.RrfK, options.Weights, topN),
            FusionMethod.WeightedScore => WeightedScore(lists, options.Weights, topN),
            _ => throw new ArgumentOutOfRangeException(nameof(options)),
        };
    }

    /// <summary>Reciprocal rank fusion using each candidate's <see cref="Candidate.Rank"/> (1-based).</summary>
    public static IReadOnlyList<Candidate> ReciprocalRank(IReadOnlyList<IReadOnlyList<Candidate>> lists, int k = 60, IReadOnlyList<float>? weights = null, int? topN = null)
    {
        ArgumentNullException.ThrowIfNull(lists);
        if (k < 0)
        {
            throw new SiftException($"RRF k must be 0 or more (got {k}); the usual value is 60");
        }
        var w = ResolveWeights(lists.Count, weights, defaultWeight: 1f);
        return Combine(lists, (list, i, c) => w[list] / (double)(k + c.Rank), topN);
    }

    /// <summary>Weighted fusion of min-max normalized scores. A list whose scores are all equal normalizes to 1 for every entry.</summary>
    public static IReadOnlyList<Candidate> WeightedScore(IReadOnlyList<IReadOnlyList<Candidate>> lists, IReadOnlyList<float>? weights = null, int? topN = null)
    {
        ArgumentNullException.ThrowIfNull(lists);
        var w = ResolveWeights(lists.Count, weights, defaultWeight: lists.Count == 0 ? 1f : 1f / lists.Count);
        var mins = new double[lists.Count];
        var ranges = new double[lists.Count];
        for (var l = 0; l < lists.Count; l++)
        {
            if (lists[l].Count == 0)
            {
                continue;
            }
            double min = double.PositiveInfinity, max = double.NegativeInfinity;
            foreach (var c in lists[l])
            {
                min = Math.Min(min, c.Score);
                max = Math.Max(max, c.Score);
            }
            mins[l] = min;
            ranges[l] = max - min;
        }
        return Combine(lists, (list, i, c) => w[list] * (ranges[list] > 0 ? (c.Score - mins[list]) / ranges[list] : 1.0), topN);
    }

    private static float[] ResolveWeights(int count, IReadOnlyList<float>? weights, float defaultWeight)
    {
        if (weights is null)
        {
            return Enumerable.Repeat(defaultWeight, count).ToArray();
        }
        if (weights.Count != count)
        {
            throw new SiftException($"fusion needs one weight per retriever: got {weights.Count} weights for {count} result lists; pass e.g. --weights {string.Join(",", Enumerable.Repeat("0.5", count))}");
        }
        if (weights.Any(x => !float.IsFinite(x) || x < 0) || weights.All(x => x == 0))
        {
            throw new SiftException($"fusion weights must be finite, non-negative and not all zero (got {string.Join(",", weights)})");
        }
        return weights.ToArray();
    }

    private sealed class Entry(Document document, int order)
    {
        public Document Document { get; } = document;
        public int Order { get; } = order;
        public double Score;
        public int BestRank = int.MaxValue;
    }

    private static List<Candidate> Combine(IReadOnlyList<IReadOnlyList<Candidate>> lists, Func<int, int, Candidate, double> contribution, int? topN)
    {
        if (topN is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(topN));
        }
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var l = 0; l < lists.Count; l++)
        {
            seen.Clear();
            // Best rank first, so a duplicate inside one list is counted once at its best position.
            foreach (var (c, i) in lists[l].Select((c, i) => (c, i)).OrderBy(x => x.c.Rank).ThenBy(x => x.i))
            {
                var key = KeyOf(c.Document);
                if (!seen.Add(key))
                {
                    continue;
                }
                if (!entries.TryGetValue(key, out var e))
                {
                    entries[key] = e = new Entry(c.Document, entries.Count);
                }
                e.Score += contribution(l, i, c);
                e.BestRank = Math.Min(e.BestRank, c.Rank);
            }
        }
        var ordered = entries.Values
            .OrderByDescending(e => e.Score)
            .ThenBy(e => e.BestRank)
            .ThenBy(e => e.Order);
        var take = topN ?? int.MaxValue;
        var result = new List<Candidate>(Math.Min(entries.Count, take));
        foreach (var e in ordered)
        {
            if (result.Count >= take)
            {
                break;
            }
            result.Add(new Candidate(e.Document, (float)e.Score, result.Count + 1));
        }
        return result;
    }

    /// <summary>The identity fusion dedupes on: the id, or (for documents without one) the text.</summary>
    public static string KeyOf(Document document) => document.Id is { } id ? "id:" + id : "text:" + document.Text;
}
