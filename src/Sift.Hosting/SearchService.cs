using Sift.Onnx;
using Sift.Retrieval;
using Sift.Store.Postgres;

namespace Sift.Hosting;

/// <summary>
/// The composition root shared by the CLI and the server: opens an index or store, loads the bi-encoder recorded in
/// it (for dense/hybrid) and the reranker, and runs retrieve → rerank through a <see cref="SearchPipeline"/>, in the
/// configured mode or one named per search. Owns and disposes what it loaded (not a reranker it was handed).
/// Thread-safe for searching.
/// </summary>
public sealed class SearchService : IDisposable
{
    private readonly Lazy<BiEncoder> _embedder;
    private readonly IReranker? _reranker;
    private readonly bool _ownsReranker;
    private readonly Func<string, string>? _fieldName;

    private SearchService(ISearchCorpus corpus, IReranker? reranker, bool ownsReranker, SearchSettings settings, Func<string, string>? fieldName)
    {
        Corpus = corpus;
        _reranker = reranker;
        _ownsReranker = ownsReranker;
        _fieldName = fieldName;
        Settings = settings;
        _embedder = new Lazy<BiEncoder>(() =>
        {
            var dense = corpus.DenseModel ?? throw new InvalidOperationException("checked by Retriever");
            // The index records the exact ONNX file its vectors came from; queries must use the same weights, so
            // --precision (which is about the reranker) does not apply here.
            return BiEncoder.Load(settings.DenseModel ?? dense, new BiEncoderOptions { IntraOpThreads = settings.Threads });
        }, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>What is searched: Sift's index folder or a PostgreSQL store.</summary>
    public ISearchCorpus Corpus { get; }

    /// <summary>The index folder (null when searching a store).</summary>
    public SiftIndex? Index => (Corpus as SiftIndexCorpus)?.Index;

    public SearchSettings Settings { get; }

    /// <summary>The second stage (null: first-stage results only).</summary>
    public IReranker? Reranker => _reranker;

    /// <summary>Whether dense (and hybrid) search is possible.</summary>
    public bool HasDense => Corpus.DenseModel is not null;

    /// <summary>The mode a search that names none uses when the settings leave it to the corpus: hybrid with dense vectors, else the lexical one.</summary>
    public RetrievalMode DefaultMode => HasDense ? RetrievalMode.Hybrid : Corpus.LexicalName == "fts" ? RetrievalMode.Fts : RetrievalMode.Bm25;

    /// <summary>
    /// Opens the index or store in <paramref name="settings"/> and loads the models the configured mode needs. Pass
    /// <paramref name="reranker"/> to share an already-loaded reranker (the server's batched cross-encoder); otherwise
    /// <see cref="SearchSettings.RerankModel"/> is loaded. <paramref name="fieldName"/> spells an option the way the
    /// caller's users know it in validation errors (the CLI: <c>--top-n</c>, the server: <c>top_n</c>).
    /// </summary>
    public static SearchService Open(SearchSettings settings, IReranker? reranker = null, Func<string, string>? fieldName = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (string.IsNullOrEmpty(settings.Index) && string.IsNullOrEmpty(settings.Store))
        {
            throw new SiftException("No index given. Pass --index DIR (create one with `sift index --corpus PATH --index DIR`) or --store postgres://USER@HOST:PORT/DB.");
        }
        if (!string.IsNullOrEmpty(settings.Index) && !string.IsNullOrEmpty(settings.Store))
        {
            throw new SiftException("Pass either --index DIR or --store postgres://..., not both.");
        }
        ISearchCorpus index = settings.Store is { Length: > 0 } store ? PostgresStore.Open(store) : new SiftIndexCorpus(SiftIndex.Open(settings.Index!), DenseSearch(settings));
        var ownsReranker = false;
        SearchService? service = null;
        try
        {
            if (reranker is null && settings.RerankModel is not null)
            {
                reranker = CrossEncoder.Load(settings.RerankModel, settings.Reranker.ToOptions());
                ownsReranker = true;
            }
            DefaultOptions(settings).Validate(reranker is not null, fieldName);
            service = new SearchService(index, reranker, ownsReranker, settings, fieldName);
            // The configured mode is checked (and its bi-encoder loaded) now, so a mistake shows before the first query.
            _ = service.Retriever(settings.Mode);
            return service;
        }
        catch
        {
            if (service is not null)
            {
                service.Dispose();
            }
            else
            {
                if (ownsReranker) (reranker as IDisposable)?.Dispose();
                index.Dispose();
            }
            throw;
        }
    }

    /// <summary>The first stage for a mode: the one place a mode becomes a retriever (CLI, server, evaluation).</summary>
    /// <exception cref="SiftException">The corpus cannot search that way (no dense vectors; bm25 on a store).</exception>
    public IRetriever Retriever(RetrievalMode mode)
    {
        var option = _fieldName?.Invoke("Mode") ?? "mode";
        if (mode is RetrievalMode.Bm25 or RetrievalMode.Fts)
        {
            return LexicalFor(Corpus, mode, option);
        }
        if (!HasDense)
        {
            throw NoDenseVectors(Corpus, mode, option);
        }
        return RetrieverFor(Corpus, mode, _embedder.Value, new FusionOptions { Method = Settings.Fusion, Weights = Settings.FusionWeights });
    }

    /// <summary>The first stage for a mode over any corpus (<see cref="Retriever"/> for a service's own).</summary>
    public static IRetriever RetrieverFor(ISearchCorpus corpus, RetrievalMode mode, BiEncoder? embedder, FusionOptions? fusion = null)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        return mode switch
        {
            RetrievalMode.Bm25 or RetrievalMode.Fts => LexicalFor(corpus, mode),
            RetrievalMode.Dense => corpus.Dense(embedder ?? throw new ArgumentNullException(nameof(embedder)), embedder.QueryPrompt),
            _ => corpus.Hybrid(embedder ?? throw new ArgumentNullException(nameof(embedder)), fusion, embedder.QueryPrompt),
        };
    }

    /// <summary>The lexical retriever the mode names, or an error saying which one this corpus has (bm25 or fts).</summary>
    /// <param name="corpus">What is searched.</param>
    /// <param name="mode">Bm25 or Fts.</param>
    /// <param name="option">How the caller's users name the mode option in the message (the CLI: --mode).</param>
    public static IRetriever LexicalFor(ISearchCorpus corpus, RetrievalMode mode, string option = "mode")
    {
        ArgumentNullException.ThrowIfNull(corpus);
        var name = mode.ToString().ToLowerInvariant();
        if (name != corpus.LexicalName)
        {
            throw new SiftException(corpus.LexicalName == "fts"
                ? $"{corpus.Location} is a PostgreSQL store: its lexical search is PostgreSQL full-text search ranked by ts_rank_cd, which is not BM25. Use {option} fts (or dense, hybrid)."
                : $"{corpus.Location} is a Sift index: its lexical search is BM25. Use {option} bm25 (fts is PostgreSQL full-text search, for a store).");
        }
        return corpus.Lexical();
    }

    /// <summary>Dense search (exact or HNSW) implied by the settings.</summary>
    public static DenseSearchOptions DenseSearch(SearchSettings settings) => new() { Kind = settings.Ann, ExpansionSearch = settings.AnnExpansionSearch };

    /// <summary>Pipeline options implied by the settings.</summary>
    public static SearchOptions DefaultOptions(SearchSettings settings) => new()
    {
        TopN = settings.TopN,
        TopK = settings.TopK,
        Threshold = settings.Threshold,
    };

    /// <summary>Runs one query in the configured mode with the configured top-N/top-K/threshold (or <paramref name="options"/>).</summary>
    public Task<SearchResult> SearchAsync(string query, SearchOptions? options = null, CancellationToken cancellationToken = default) =>
        SearchAsync(query, Settings.Mode, options, cancellationToken);

    /// <summary>Runs one query in <paramref name="mode"/>.</summary>
    /// <exception cref="SiftException">The mode cannot run on this corpus, or the options cannot work (Data[<see cref="SearchOptions.FieldKey"/>] names the option).</exception>
    public Task<SearchResult> SearchAsync(string query, RetrievalMode mode, SearchOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= DefaultOptions(Settings);
        options.Validate(_reranker is not null, _fieldName);
        var pipeline = new SearchPipeline(Retriever(mode), _reranker, options);
        return pipeline.SearchAsync(query, options, cancellationToken);
    }

    private static SiftException NoDenseVectors(ISearchCorpus index, RetrievalMode mode, string option) => new(
        $"The index at {index.Location} has no dense vectors, so {option} {mode.ToString().ToLowerInvariant()} cannot run. " +
        $"Rebuild it with `sift index --corpus PATH {(index is PostgresStore ? "--store ADDRESS --overwrite" : "--index DIR")} --dense-model MODEL`, or use {option} {index.LexicalName}.");

    public void Dispose()
    {
        if (_embedder.IsValueCreated)
        {
            _embedder.Value.Dispose();
        }
        if (_ownsReranker) (_reranker as IDisposable)?.Dispose();
        Corpus.Dispose();
    }
}
