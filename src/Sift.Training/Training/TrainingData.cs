using System.Text.Json;
using Sift.Evaluation;
using Sift.Evaluation.Loaders;
using Sift.Retrieval;

namespace Sift.Training.Training;

/// <summary>One training group: a query, one positive and its negatives (listwise loss uses it whole, BCE flattens it).</summary>
public sealed record TrainGroup(string QueryId, string Query, string Positive, IReadOnlyList<string> Negatives);

/// <summary>A dev query: its text, the first stage's candidates (document id, text, score) and its qrels.</summary>
public sealed record DevQuery(string Id, string Text, IReadOnlyList<(string DocId, string Text, float Score)> Candidates);

/// <summary>Which first stage mines the negatives (and gives the dev split its candidates).</summary>
public enum MiningSource { Bm25, Dense, Hybrid }

/// <summary>Options of hard-negative mining, after sentence-transformers' <c>mine_hard_negatives</c>.</summary>
public sealed record MiningOptions
{
    /// <summary>
    /// First stage the negatives come from. Hybrid matters when the model will rerank hybrid candidates: BM25-only
    /// negatives never show it the semantically close but wrong documents a dense retriever brings in.
    /// </summary>
    public MiningSource Source { get; init; } = MiningSource.Bm25;
    /// <summary>Negatives kept per (query, positive): the pool sampled from each epoch.</summary>
    public int PoolSize { get; init; } = 30;
    /// <summary>Only candidates ranked in [RangeMin, RangeMax] (1-based) by the first stage are eligible.</summary>
    public int RangeMin { get; init; } = 5;
    public int RangeMax { get; init; } = 50;
    /// <summary>
    /// Skip a candidate whose first-stage score is within <c>Margin</c> of the query's lowest-scored retrieved
    /// positive (score &gt; positive - margin): likely an unjudged positive. Applies only when a positive was retrieved.
    /// </summary>
    public double? Margin { get; init; }
    /// <summary>Skip a candidate whose score exceeds this fraction of that positive's score (sentence-transformers' max_score idea, relative).</summary>
    public double? MaxScoreRatio { get; init; }
}

/// <summary>The training set: groups from train queries, and dev queries held out of them.</summary>
public sealed record TrainingSet(IReadOnlyList<TrainGroup> Groups, IReadOnlyList<DevQuery> Dev, Qrels DevQrels, string Description);

public static class TrainingData
{
    /// <summary>
    /// BEIR train split: queries of qrels/train.tsv, a fraction held out as dev (by seeded shuffle of query ids),
    /// hard negatives mined by BM25 over the corpus for the rest. The test split is never read.
    /// </summary>
    public static TrainingSet FromBeir(string folder, string indexDir, MiningOptions mining, double devFraction, int devTopK, int seed, string split = "train", Action<string>? log = null,
        Sift.Onnx.BiEncoder? embedder = null)
    {
        if (mining.Source != MiningSource.Bm25 && embedder is null)
            throw new ArgumentException($"Mining with the {mining.Source.ToString().ToLowerInvariant()} first stage needs a bi-encoder (sift train --mine-model).", nameof(embedder));
        var ds = BeirLoader.Load(folder, split);
        var byId = ds.Documents.ToDictionary(d => d.Id!, d => d.Text, StringComparer.Ordinal);
        var ids = ds.Queries.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        Shuffle(ids, new Random(seed));
        int nDev = (int)Math.Round(ids.Count * devFraction);
        var devIds = ids.Take(nDev).ToHashSet(StringComparer.Ordinal);

        using var index = OpenIndex(indexDir, ds, mining.Source == MiningSource.Bm25 ? null : embedder, log);
        int depth = Math.Max(mining.RangeMax, devTopK);
        IRetriever stage = mining.Source switch
        {
            MiningSource.Bm25 => index.Bm25(),
            MiningSource.Dense => index.Dense(embedder!, embedder!.QueryPrompt),
            _ => index.Hybrid(embedder!, null, embedder!.QueryPrompt),
        };
        var groups = new List<TrainGroup>();
        var dev = new List<DevQuery>();
        var devQrels = new Qrels();
        int noNeg = 0;
        foreach (var qid in ids)
        {
            var q = ds.Queries[qid];
            var judged = ds.Qrels.For(qid);
            var positives = judged.Where(kv => kv.Value > 0).Select(kv => kv.Key).Where(byId.ContainsKey).ToList();
            var hits = stage.RetrieveAsync(q, depth).GetAwaiter().GetResult();
            if (devIds.Contains(qid))
            {
                foreach (var (d, rel) in judged) devQrels.Add(qid, d, rel);
                dev.Add(new DevQuery(qid, q, hits.Take(devTopK).Select(h => (h.Document.Id!, h.Document.Text, h.Score)).ToList()));
                continue;
            }
            var negatives = Mine(hits.Select(h => (h.Document.Id!, h.Score)).ToList(), judged, mining);
            if (negatives.Count == 0) { noNeg++; continue; }
            foreach (var p in positives)
                groups.Add(new TrainGroup(qid, q, byId[p], negatives.Select(n => byId[n]).ToList()));
        }
        var desc = $"BEIR {ds.Name} split '{split}': {ids.Count - nDev} train queries ({groups.Count} query-positive groups, {noNeg} without eligible negatives skipped), {nDev} dev queries held out (seed {seed}); {stage.Name} negatives ranks {mining.RangeMin}-{mining.RangeMax}, pool {mining.PoolSize}"
            + (mining.Margin is { } m ? $", margin {m}" : "") + (mining.MaxScoreRatio is { } r ? $", max score ratio {r}" : "") + ", judged documents excluded";
        return new TrainingSet(groups, dev, devQrels, desc);
    }

    /// <summary>Eligible negatives in first-stage order: in the rank window, not judged for the query, not too close to a positive's score.</summary>
    public static List<string> Mine(IReadOnlyList<(string DocId, float Score)> ranked, IReadOnlyDictionary<string, int> judged, MiningOptions o)
    {
        float? posScore = null;
        foreach (var (id, s) in ranked)
            if (judged.TryGetValue(id, out var rel) && rel > 0) posScore = posScore is null ? s : Math.Min(posScore.Value, s);
        var result = new List<string>();
        for (int i = 0; i < ranked.Count && result.Count < o.PoolSize; i++)
        {
            int rank = i + 1;
            if (rank < o.RangeMin || rank > o.RangeMax) continue;
            var (id, s) = ranked[i];
            if (judged.ContainsKey(id)) continue; // positives, and any judged document, are never negatives
            if (posScore is { } ps)
            {
                if (o.Margin is { } m && s > ps - m) continue;
                if (o.MaxScoreRatio is { } r && s > ps * r) continue;
            }
            result.Add(id);
        }
        return result;
    }

    /// <summary>
    /// JSONL: one object per line, either {"query", "document", "label"} pairs (grouped by query: each positive
    /// with that query's label-0 documents as negatives) or {"query", "positive", "negatives": [...]}.
    /// A dev fraction of queries is held out; their labelled documents become the dev candidates.
    /// </summary>
    public static TrainingSet FromJsonl(string path, double devFraction, int seed)
    {
        var pos = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var neg = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var explicitGroups = new List<(string Q, string P, List<string> N)>();
        int n = 0;
        foreach (var line in File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            var q = r.GetProperty("query").GetString() ?? throw new InvalidDataException($"{path}:{n}: null query");
            if (r.TryGetProperty("positive", out var p))
            {
                var negs = r.TryGetProperty("negatives", out var na) ? na.EnumerateArray().Select(x => x.GetString()!).ToList() : [];
                explicitGroups.Add((q, p.GetString()!, negs));
            }
            else if (r.TryGetProperty("document", out var d) && r.TryGetProperty("label", out var l))
            {
                var target = l.GetDouble() > 0 ? pos : neg;
                if (!target.TryGetValue(q, out var list)) target[q] = list = [];
                list.Add(d.GetString()!);
            }
            else throw new InvalidDataException($"{path}:{n}: expected {{query, document, label}} or {{query, positive, negatives}}");
        }
        foreach (var (q, ps) in pos)
            foreach (var p in ps)
                explicitGroups.Add((q, p, neg.GetValueOrDefault(q) ?? []));
        var queries = explicitGroups.Select(g => g.Q).Distinct().OrderBy(x => x, StringComparer.Ordinal).ToList();
        Shuffle(queries, new Random(seed));
        var devSet = queries.Take((int)Math.Round(queries.Count * devFraction)).ToHashSet(StringComparer.Ordinal);
        var qid = queries.Select((q, i) => (q, i)).ToDictionary(t => t.q, t => "q" + t.i, StringComparer.Ordinal);
        var groups = explicitGroups.Where(g => !devSet.Contains(g.Q) && g.N.Count > 0).Select(g => new TrainGroup(qid[g.Q], g.Q, g.P, g.N)).ToList();
        var dev = new List<DevQuery>();
        var qrels = new Qrels();
        foreach (var q in devSet)
        {
            var cands = new List<(string, string, float)>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var g in explicitGroups.Where(g => g.Q == q))
            {
                if (seen.Add(g.P)) { var id = "d" + seen.Count; cands.Add((id, g.P, 0f)); qrels.Add(qid[q], id, 1); }
                foreach (var x in g.N) if (seen.Add(x)) { var id = "d" + seen.Count; cands.Add((id, x, 0f)); qrels.Add(qid[q], id, 0); }
            }
            dev.Add(new DevQuery(qid[q], q, cands));
        }
        return new TrainingSet(groups, dev, qrels, $"JSONL {Path.GetFileName(path)}: {groups.Count} groups, {dev.Count} dev queries held out (seed {seed})");
    }

    private static SiftIndex OpenIndex(string dir, EvaluationDataset ds, Sift.Onnx.BiEncoder? embedder, Action<string>? log)
    {
        if (SiftIndex.Exists(dir))
        {
            var existing = SiftIndex.Open(dir);
            if (existing.Count == ds.Documents.Count && (embedder is null || existing.HasDense)) return existing;
            existing.Dispose();
            throw new InvalidOperationException($"{dir} holds an index of another size or without dense vectors; pass another --index or delete it.");
        }
        log?.Invoke($"indexing {ds.Documents.Count} documents ({(embedder is null ? "BM25" : "BM25 + dense")}) into {dir}");
        var index = SiftIndex.Create(dir, new SiftIndexOptions { Corpus = ds.Name });
        var sw = System.Diagnostics.Stopwatch.StartNew();
        long lastLog = 0;
        index.AddAsync(ds.Documents, new IndexAddOptions
        {
            Embedder = embedder,
            DenseModel = embedder?.Model.OnnxPath,
            DocumentPrefix = embedder?.DocumentPrompt,
            // Dense indexing takes minutes on a CPU: a line every ~500 documents with the rate.
            Progress = log is null || embedder is null ? null : new LogProgress<IndexProgress>(p =>
            {
                if (p.Embedded - lastLog < 500 && !p.Completed) return;
                lastLog = p.Embedded;
                var rate = p.Embedded / Math.Max(1e-9, sw.Elapsed.TotalSeconds);
                log($"embedded {p.Embedded}/{ds.Documents.Count} documents, {rate:F1} docs/s, ETA {TimeSpan.FromSeconds((ds.Documents.Count - p.Embedded) / Math.Max(rate, 1e-9)):mm\\:ss}");
            }),
        }).GetAwaiter().GetResult();
        return index;
    }

    public static void Shuffle<T>(IList<T> list, Random rng)
    {
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }
}

/// <summary>Synchronous progress sink (System.Progress posts to the thread pool and reorders lines).</summary>
internal sealed class LogProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
