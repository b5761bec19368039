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
                    : new SiftIndexCorpus(await OpenOrBuildIndexAsync(dir, dataset, needDense ? request.Embedder : null, progress, cancellationToken).ConfigureAwait(false));
                indexMs = sw.Elapsed.TotalMilliseconds;
                foreach (var stage in request.Configurations.Select(c => c.Stage1).Distinct())
                {
                    IRetriever retriever = stage switch
                    {
                        "bm25" => SearchService.LexicalFor(index, RetrievalMode.Bm25),
                        "fts" => SearchService.LexicalFor(index, RetrievalMode.Fts),
                        "dense" => index.Dense(request.Embedder!, request.Embedder!.QueryPrompt),
                        _ => index.Hybrid(request.Embedder!, request.Fusion, request.Embedder!.QueryPrompt),
                    };
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
        foreach (var config in request.Configurations)
        {
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
                    var docs = candidates.Select(c => c.Document).ToArray();
                    var results = await request.Reranker!.RerankAsync(queries[qid], docs, null, cancellationToken).ConfigureAwait(false);
                    reranked[qid] = results.Select((r, i) => new Candidate(r.Document, r.Score, i + 1)).ToArray();
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
            }
            if (config.Stage1 is "dense" or "hybrid") parameters["dense_model"] = request.Embedder!.Model.Root;
            reports.Add(EvaluationReport.From(config.Name, result, request.Dataset?.Name ?? "candidates", t, parameters));
        }
        return new EvalOutcome(reports, runs, indexMs);
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

    private static async Task<SiftIndex> OpenOrBuildIndexAsync(string dir, EvaluationDataset dataset, BiEncoder? embedder, IProgress<EvalProgress>? progress, CancellationToken ct)
    {
        if (SiftIndex.Exists(dir))
        {
            var existing = SiftIndex.Open(dir);
            if (existing.Count == dataset.Documents.Count && (embedder is null || existing.HasDense))
            {
                return existing; // reuse: same size and has what the configurations need
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
