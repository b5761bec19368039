using System.Diagnostics;
using Sift.Evaluation;
using Sift.Evaluation.Loaders;
using Sift.Onnx;
using Sift.Retrieval;
using Sift.Store.Postgres;

namespace Sift.Hosting;

/// <summary>One configuration to evaluate: a first stage, optionally followed by reranking its candidates.</summary>
/// <param name="Stage1">bm25, fts (PostgreSQL full-text, with a store), dense, hybrid, or "candidates" (a given candidate list).</param>
public sealed record EvalConfiguration(string Stage1, bool Rerank)
{
    public string Name => Rerank ? Stage1 + "+rerank" : Stage1;

    /// <summary>Parses "bm25,bm25+rerank,hybrid+rerank".</summary>
    public static IReadOnlyList<EvalConfiguration> ParseList(string spec)
    {
        var list = new List<EvalConfiguration>();
        foreach (var raw in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = raw.ToLowerInvariant().Split('+');
            var stage = parts[0];
            if (stage is not ("bm25" or "fts" or "dense" or "hybrid" or "candidates") || parts.Length > 2 || (parts.Length == 2 && parts[1] != "rerank"))
            {
                throw new SiftException($"Configuration '{raw}' is not understood. Use bm25, fts (with --store), dense, hybrid or candidates, optionally followed by +rerank (e.g. bm25,bm25+rerank,hybrid+rerank).");
            }
            list.Add(new EvalConfiguration(stage, parts.Length == 2));
        }
        return list.Count > 0 ? list : throw new SiftException("No configuration given; e.g. --compare bm25,bm25+rerank.");
    }
}

/// <summary>Progress of an evaluation: which stage and how many queries are done.</summary>
public readonly record struct EvalProgress(string Stage, int Done, int Total);

/// <summary>What to evaluate.</summary>
public sealed record EvalRequest
{
    /// <summary>A dataset with a corpus to index (BEIR, Cranfield, CISI). Either this or <see cref="Candidates"/>.</summary>
    public EvaluationDataset? Dataset { get; init; }

    /// <summary>A fixed candidate list to rerank (e.g. DL19 BM25 top-100), with <see cref="Qrels"/>.</summary>
    public CandidateList? Candidates { get; init; }

    /// <summary>Judgments for <see cref="Candidates"/> (datasets carry their own).</summary>
    public Qrels? Qrels { get; init; }

    public required IReadOnlyList<EvalConfiguration> Configurations { get; init; }
    public required IReadOnlyList<Metric> Metrics { get; init; }
    public int RelevanceLevel { get; init; } = 1;
    public int TopN { get; init; } = 100;

    /// <summary>Cross-encoder for +rerank configurations.</summary>
    public CrossEncoder? Reranker { get; init; }

    /// <summary>Bi-encoder for dense/hybrid configurations.</summary>
    public BiEncoder? Embedder { get; init; }

    /// <summary>Index directory to build or reuse (null: a temporary one, deleted afterwards).</summary>
    public string? IndexDirectory { get; init; }

    /// <summary>A PostgreSQL store (postgres://...) to fill or reuse instead of an index directory: lexical stage fts, dense via pgvector HNSW.</summary>
    public string? Store { get; init; }

    /// <summary>How hybrid configurations fuse BM25 and dense lists (default: reciprocal rank fusion).</summary>
    public FusionOptions? Fusion { get; init; }

    /// <summary>
    /// For each weight w (0..1), every +rerank configuration is also reported interpolated with its first stage:
    /// w x reranker + (1 - w) x first stage, each min-max normalized per query (a common way to keep what the
    /// first stage knows). Reported as "&lt;name&gt;@w" beside the pure reranker; choose w on a dev split, never on test.
    /// </summary>
    public IReadOnlyList<double> Interpolation { get; init; } = [];
    /// <summary>Keep an HNSW graph with these settings in the index (built, or rebuilt when a reused index has none
    /// or other settings); null: none is built.</summary>
    public AnnOptions? Ann { get; init; }

    /// <summary>Exact or HNSW dense search for dense/hybrid configurations (default: HNSW when the index has a graph).</summary>
    public DenseSearchOptions? DenseSearch { get; init; }
}

/// <summary>The evaluated configurations, their runs and reports.</summary>
public sealed record EvalOutcome(IReadOnlyList<EvaluationReport> Reports, IReadOnlyDictionary<string, Run> Runs, double IndexMs);

/// <summary>
/// Runs benchmark evaluations the way the field does: index the corpus (BM25 with Anserini's settings, optional
/// dense vectors), retrieve top-N per query once per first stage, rerank those same candidates with the
/// cross-encoder, and score every run with trec_eval's rules.
/// </summary>
public static class EvaluationRunner
{
    public static async Task<EvalOutcome> RunAsync(EvalRequest request, IProgress<EvalProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Configurations.Any(c => c.Rerank) && request.Reranker is null)
        {
            throw new SiftException("A +rerank configuration needs a cross-encoder: pass --rerank-model DIR.");
        }
        if (request.Interpolation.FirstOrDefault(x => !(x >= 0 && x <= 1), 0.5) is var iw && !(iw >= 0 && iw <= 1))
        {
            throw new SiftException($"--interpolate must be between 0 and 1 (got {iw}): the reranker's weight, the first stage getting the rest.");
        }
        if (request.TopN <= 0)
        {
            throw new SiftException($"--top-n must be positive (got {request.TopN}).");
        }

        var qrels = request.Dataset?.Qrels ?? request.Qrels ?? throw new SiftException("No relevance judgments: pass --qrels FILE with --candidates.");
        Dictionary<string, string> queries;
        var perStage = new Dictionary<string, Dictionary<string, IReadOnlyList<Candidate>>>();
        var timings = new Dictionary<string, double>();
        double indexMs = 0;
        var runs = new Dictionary<string, Run>();

        if (request.Candidates is { } list)
        {
            if (request.Configurations.Any(c => c.Stage1 != "candidates"))
            {
                throw new SiftException("With --candidates the configurations are 'candidates' and 'candidates+rerank'.");
            }
            queries = list.Queries.ToDictionary(q => q.QueryId, q => q.Query);
            RequireCommonQueries(queries.Keys, qrels);
            perStage["candidates"] = list.Queries.ToDictionary(q => q.QueryId, q => (IReadOnlyList<Candidate>)q.Candidates.Take(request.TopN).ToArray());
            // The given order with its exact (double) scores, as published baselines evaluate it.
            runs["candidates"] = list.ToRun("candidates");
            timings["candidates"] = 0;
        }
        else if (request.Dataset is { } dataset)
        {
            queries = dataset.Queries.ToDictionary();
            if (request.Configurations.Any(c => c.Stage1 == "candidates"))
            {
                throw new SiftException("'candidates' configurations need --candidates FILE; with --dataset use bm25, dense or hybrid.");
            }
            var needDense = request.Configurations.Any(c => c.Stage1 is not ("bm25" or "fts"));
            if (needDense && request.Embedder is null)
            {
                throw new SiftException("dense and hybrid configurations need a bi-encoder: pass --dense-model DIR.");
            }
            if (request.IndexDirectory is not null && request.Store is not null)
            {
                throw new SiftException("Pass either --index DIR or --store postgres://..., not both.");
            }
            var temp = request.IndexDirectory is null && request.Store is null;
            var dir = request.IndexDirectory ?? Directory.CreateTempSubdirectory("sift-eval-").FullName;
            try
            {
                var sw = Stopwatch.StartNew();
                using ISearchCorpus index = request.Store is { } store
                    ? await OpenOrFillStoreAsync(store, dataset, needDense ? request.Embedder : null, progress, cancellationToken).ConfigureAwait(false)
                    : new SiftIndexCorpus(await OpenOrBuildIndexAsync(dir, dataset, needDense ? request.Embedder : null, needDense ? request.Ann : null, progress, cancellationToken).ConfigureAwait(false), request.DenseSearch);
                indexMs = sw.Elapsed.TotalMilliseconds;
                foreach (var stage in request.Configurations.Select(c => c.Stage1).Distinct())
                {
                    var mode = stage switch { "bm25" => RetrievalMode.Bm25, "fts" => RetrievalMode.Fts, "dense" => RetrievalMode.Dense, _ => RetrievalMode.Hybrid };
                    var retriever = SearchService.RetrieverFor(index, mode, request.Embedder, request.Fusion);
                    var results = new Dictionary<string, IReadOnlyList<Candidate>>();
                    sw.Restart();
                    var done = 0;
                    foreach (var (qid, text) in queries)
                    {
                        results[qid] = await retriever.RetrieveAsync(text, request.TopN, cancellationToken).ConfigureAwait(false);
                        progress?.Report(new EvalProgress($"retrieve ({stage})", ++done, queries.Count));
                    }
                    timings[stage] = sw.Elapsed.TotalMilliseconds;
                    perStage[stage] = results;
                    runs[stage] = Run.FromCandidates(results, stage);
                }
            }
            finally
            {
                if (temp)
                {
                    try { Directory.Delete(dir, recursive: true); } catch (IOException) { /* best effort */ }
                }
            }
        }
        else
        {
            throw new SiftException("Nothing to evaluate: pass --dataset DIR, or --candidates FILE with --qrels FILE.");
        }

        var reports = new List<EvaluationReport>();
        var scoreCache = new Dictionary<string, Dictionary<string, float>>(StringComparer.Ordinal);
        foreach (var config in request.Configurations)
        {
            long reusedPairs = 0;
            var stageMs = timings[config.Stage1];
            var t = new Dictionary<string, double> { ["stage1"] = stageMs };
            if (config.Rerank && !runs.ContainsKey(config.Name))
            {
                var sw = Stopwatch.StartNew();
                var reranked = new Dictionary<string, IReadOnlyList<Candidate>>();
                var done = 0;
                var stage = perStage[config.Stage1];
                foreach (var (qid, candidates) in stage)
                {
                    // A cross-encoder scores each (query, document) pair on its own, so a pair that an earlier
                    // configuration reranked (BM25 and hybrid top-100 overlap heavily) is looked up, not scored again.
                    if (candidates.Any(c => c.Document.Id is null))
                    {
                        var all = await request.Reranker!.RerankAsync(queries[qid], candidates.Select(c => c.Document).ToArray(), null, cancellationToken).ConfigureAwait(false);
                        reranked[qid] = all.Select((r, i) => new Candidate(r.Document, r.Score, i + 1)).ToArray();
                    }
                    else
                    {
                        if (!scoreCache.TryGetValue(qid, out var cached)) scoreCache[qid] = cached = new Dictionary<string, float>(StringComparer.Ordinal);
                        var fresh = candidates.Where(c => !cached.ContainsKey(c.Document.Id!)).Select(c => c.Document).ToArray();
                        reusedPairs += candidates.Count - fresh.Length;
                        if (fresh.Length > 0)
                        {
                            foreach (var r in await request.Reranker!.RerankAsync(queries[qid], fresh, null, cancellationToken).ConfigureAwait(false))
                                cached[r.Document.Id!] = r.Score;
                        }
                        // Best first; ties keep the first stage's order, as a full rerank would.
                        reranked[qid] = candidates.Select(c => (c.Document, Score: cached[c.Document.Id!]))
                            .OrderByDescending(x => x.Score).Select((x, i) => new Candidate(x.Document, x.Score, i + 1)).ToArray();
                    }
                    progress?.Report(new EvalProgress($"rerank ({config.Stage1})", ++done, stage.Count));
                }
                timings[config.Name] = sw.Elapsed.TotalMilliseconds;
                runs[config.Name] = Run.FromCandidates(reranked, config.Name);
            }
            if (config.Rerank) t["rerank"] = timings[config.Name];
            t["total"] = t.Values.Sum();
            var result = Evaluator.Evaluate(qrels, runs[config.Name], request.Metrics, new EvaluationOptions { RelevanceLevel = request.RelevanceLevel });
            var parameters = new Dictionary<string, string>
            {
                ["stage1"] = config.Stage1,
                ["top_n"] = request.TopN.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["relevance_level"] = request.RelevanceLevel.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            if (config.Rerank)
            {
                parameters["rerank_model"] = request.Reranker!.Model.Root;
                parameters["precision"] = request.Reranker.Options.Precision.ToString().ToLowerInvariant();
                parameters["max_length"] = request.Reranker.MaxLength.ToString(System.Globalization.CultureInfo.InvariantCulture);
                if (reusedPairs > 0) parameters["pairs_reused_from_earlier_configurations"] = reusedPairs.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            if (config.Stage1 is "dense" or "hybrid") parameters["dense_model"] = request.Embedder!.Model.Root;
            reports.Add(EvaluationReport.From(config.Name, result, request.Dataset?.Name ?? "candidates", t, parameters));
            foreach (var w in config.Rerank ? request.Interpolation : [])
            {
                var name = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{config.Name}@{w:0.###}");
                runs[name] = Interpolate(perStage[config.Stage1], runs[config.Name], w, name);
                var interpolated = Evaluator.Evaluate(qrels, runs[name], request.Metrics, new EvaluationOptions { RelevanceLevel = request.RelevanceLevel });
                reports.Add(EvaluationReport.From(name, interpolated, request.Dataset?.Name ?? "candidates", t,
                    new Dictionary<string, string>(parameters) { ["interpolation"] = w.ToString(System.Globalization.CultureInfo.InvariantCulture) }));
            }
        }
        return new EvalOutcome(reports, runs, indexMs);
    }

    /// <summary>w x min-max(reranker) + (1 - w) x min-max(first stage) per query; ties keep the reranker's order.</summary>
    private static Run Interpolate(Dictionary<string, IReadOnlyList<Candidate>> firstStage, Run reranked, double w, string tag)
    {
        var result = new Dictionary<string, IReadOnlyList<Candidate>>(StringComparer.Ordinal);
        foreach (var (qid, stage1) in firstStage)
        {
            var rr = reranked.For(qid).ToDictionary(e => e.DocId, e => e.Score, StringComparer.Ordinal);
            if (stage1.Count == 0 || rr.Count == 0) { result[qid] = []; continue; }
            var first = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var c in stage1) first[c.Document.Id ?? ""] = c.Score;
            double flo = first.Values.Min(), fhi = first.Values.Max();
            double rlo = rr.Values.Min(), rhi = rr.Values.Max();
            static double Norm(double v, double lo, double hi) => hi > lo ? (v - lo) / (hi - lo) : 0;
            result[qid] = stage1
                .Select(c => (c.Document, Score: w * Norm(rr[c.Document.Id ?? ""], rlo, rhi) + (1 - w) * Norm(c.Score, flo, fhi)))
                .OrderByDescending(x => x.Score)
                .Select((x, i) => new Candidate(x.Document, (float)x.Score, i + 1)).ToArray();
        }
        return Run.FromCandidates(result, tag);
    }

    /// <summary>
    /// Candidates and qrels that share no query id would evaluate to zeros that look like a real (terrible) result;
    /// that is always a mismatch of files (another topic set, or ids written differently), so it is an error.
    /// </summary>
    private static void RequireCommonQueries(IEnumerable<string> runQueries, Qrels qrels)
    {
        var run = runQueries.ToList();
        if (run.Count == 0)
            throw new SiftException("The candidate list holds no queries; nothing to evaluate.");
        if (run.Any(qrels.Contains)) return;
        static string Sample(IEnumerable<string> ids) => string.Join(", ", ids.Take(3).Select(i => $"'{i}'"));
        throw new SiftException($"The candidates and the qrels have no query id in common (candidates: {run.Count} queries, e.g. {Sample(run)}; qrels: {qrels.QueryIds.Count()} queries, e.g. {Sample(qrels.QueryIds)}). Pass the qrels of the same topic set, or make the ids match (zero-padding and prefixes count).");
    }

    private static async Task<PostgresStore> OpenOrFillStoreAsync(string address, EvaluationDataset dataset, BiEncoder? embedder, IProgress<EvalProgress>? progress, CancellationToken ct)
    {
        var store = await PostgresStore.OpenAsync(address, create: true, cancellationToken: ct).ConfigureAwait(false);
        try
        {
            var count = store.Count;
            if (count == dataset.Documents.Count && (embedder is null || store.DenseModel is not null))
            {
                return store; // reuse: same size and has what the configurations need
            }
            if (count > 0)
            {
                throw new SiftException($"{store.Location} holds {count} documents{(embedder is not null && store.DenseModel is null ? " without vectors" : "")}, not this dataset's {dataset.Documents.Count}. Use another schema (?schema=NAME) or refill it with `sift index --store ... --overwrite`.");
            }
            var total = dataset.Documents.Count;
            await store.AddAsync(dataset.Documents, new IndexAddOptions
            {
                Embedder = embedder,
                DenseModel = embedder?.Model.OnnxPath,
                DocumentPrefix = embedder?.DocumentPrompt,
                Progress = progress is null ? null : new SyncProgress<IndexProgress>(p => progress.Report(new EvalProgress("index", (int)p.Documents, total))),
            }, overwrite: false, ct).ConfigureAwait(false);
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    private static async Task<SiftIndex> OpenOrBuildIndexAsync(string dir, EvaluationDataset dataset, BiEncoder? embedder, AnnOptions? ann, IProgress<EvalProgress>? progress, CancellationToken ct)
    {
        if (SiftIndex.Exists(dir))
        {
            var existing = SiftIndex.Open(dir);
            if (existing.Count == dataset.Documents.Count && (embedder is null || existing.HasDense))
            {
                // Reuse: same size and has what the configurations need; a graph with other settings is rebuilt from
                // the stored vectors (no re-embedding).
                if (ann is not null && existing.Ann?.Options != ann)
                {
                    try
                    {
                        await existing.BuildAnnAsync(ann, progress is null ? null : new SyncProgress<AnnProgress>(p => progress.Report(new EvalProgress("hnsw", (int)p.Done, (int)p.Total))), ct).ConfigureAwait(false);
                    }
                    catch
                    {
                        existing.Dispose();
                        throw;
                    }
                }
                return existing;
            }
            existing.Dispose();
            throw new SiftException($"{dir} holds an index of {existing.Count} documents{(embedder is not null && !existing.HasDense ? " without dense vectors" : "")}, not this dataset's {dataset.Documents.Count}. Pass another --index directory or delete it.");
        }
        var index = SiftIndex.Create(dir, new SiftIndexOptions { Corpus = dataset.Name });
        try
        {
            var total = dataset.Documents.Count;
            await index.AddAsync(dataset.Documents, new IndexAddOptions
            {
                Embedder = embedder,
                DenseModel = embedder?.Model.OnnxPath,
                DocumentPrefix = embedder?.DocumentPrompt,
                Ann = ann,
                AnnProgress = progress is null ? null : new SyncProgress<AnnProgress>(p => progress.Report(new EvalProgress("hnsw", (int)p.Done, (int)p.Total))),
                Progress = progress is null ? null : new SyncProgress<IndexProgress>(p => progress.Report(new EvalProgress("index", (int)p.Documents, total))),
            }, ct).ConfigureAwait(false);
            return index;
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }

    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
