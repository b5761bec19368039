using Sift.Onnx;
using Sift.Retrieval;
using Sift.Store.Postgres;

namespace Sift.Hosting;

/// <summary>
/// The composition root shared by the CLI and the server: opens an index, loads the bi-encoder recorded in it
/// (for dense/hybrid) and the cross-encoder, and wires them into a <see cref="SearchPipeline"/>. Owns and
/// disposes what it loaded. Thread-safe for searching.
/// </summary>
public sealed class SearchService : IDisposable
{
    private readonly BiEncoder? _embedder;
    private readonly CrossEncoder? _reranker;
    private readonly bool _ownsReranker;

    private SearchService(ISearchCorpus corpus, BiEncoder? embedder, CrossEncoder? reranker, bool ownsReranker, SearchSettings settings)
    {
        Corpus = corpus;
        _embedder = embedder;
        _reranker = reranker;
        _ownsReranker = ownsReranker;
        Settings = settings;
        IRetriever retriever = settings.Mode switch
        {
            RetrievalMode.Bm25 or RetrievalMode.Fts => LexicalFor(corpus, settings.Mode),
            RetrievalMode.Dense => corpus.Dense(embedder!, embedder!.QueryPrompt),
            _ => corpus.Hybrid(embedder!, new FusionOptions { Method = settings.Fusion, Weights = settings.FusionWeights }, embedder!.QueryPrompt),
        };
        Pipeline = new SearchPipeline(retriever, reranker, DefaultOptions(settings));
    }

    /// <summary>What is searched: Sift's index folder or a PostgreSQL store.</summary>
    public ISearchCorpus Corpus { get; }

    /// <summary>The index folder (null when searching a store).</summary>
    public SiftIndex? Index => (Corpus as SiftIndexCorpus)?.Index;

    /// <summary>The lexical retriever the mode names, or an error saying which one this corpus has (bm25 or fts).</summary>
    public static IRetriever LexicalFor(ISearchCorpus corpus, RetrievalMode mode)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        var name = mode.ToString().ToLowerInvariant();
        if (name != corpus.LexicalName)
        {
            throw new SiftException(corpus.LexicalName == "fts"
                ? $"{corpus.Location} is a PostgreSQL store: its lexical search is PostgreSQL full-text search ranked by ts_rank_cd, which is not BM25. Use --mode fts (or dense, hybrid)."
                : $"{corpus.Location} is a Sift index: its lexical search is BM25. Use --mode bm25 (fts is PostgreSQL full-text search, for --store).");
        }
        return corpus.Lexical();
    }
    public SearchPipeline Pipeline { get; }
    public SearchSettings Settings { get; }
    public CrossEncoder? Reranker => _reranker;

    /// <summary>
    /// Opens the index in <paramref name="settings"/> and loads the models it needs. Pass <paramref name="reranker"/>
    /// to share an already-loaded cross-encoder (the server does); otherwise <see cref="SearchSettings.RerankModel"/> is loaded.
    /// </summary>
    public static SearchService Open(SearchSettings settings, CrossEncoder? reranker = null)
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
        BiEncoder? embedder = null;
        var ownsReranker = false;
        try
        {
            if (settings.Mode is not (RetrievalMode.Bm25 or RetrievalMode.Fts))
            {
                var dense = index.DenseModel;
                var model = settings.DenseModel ?? dense;
                if (dense is null)
                {
                    throw new SiftException(
                        $"The index at {index.Location} has no dense vectors, so --mode {settings.Mode.ToString().ToLowerInvariant()} cannot run. " +
                        $"Rebuild it with `sift index --corpus PATH {(index is PostgresStore ? "--store ADDRESS --overwrite" : "--index DIR")} --dense-model MODEL`, or use --mode {index.LexicalName}.");
                }
                // The index records the exact ONNX file its vectors came from; queries must use the same weights, so
                // --precision (which is about the reranker) does not apply here.
                embedder = BiEncoder.Load(model!, new BiEncoderOptions { IntraOpThreads = settings.Threads });
            }
            if (reranker is null && settings.RerankModel is not null)
            {
                reranker = CrossEncoder.Load(settings.RerankModel, RerankerOptions(settings));
                ownsReranker = true;
            }
            return new SearchService(index, embedder, reranker, ownsReranker, settings);
        }
        catch
        {
            embedder?.Dispose();
            if (ownsReranker) reranker?.Dispose();
            index.Dispose();
            throw;
        }
    }

    /// <summary>Dense search (exact or HNSW) implied by the settings.</summary>
    public static DenseSearchOptions DenseSearch(SearchSettings settings) => new() { Kind = settings.Ann, ExpansionSearch = settings.AnnExpansionSearch };

    /// <summary>Cross-encoder options implied by the settings.</summary>
    public static CrossEncoderOptions RerankerOptions(SearchSettings settings) => new()
    {
        Precision = settings.Precision,
        MaxLength = settings.MaxLength,
        BatchSize = settings.BatchSize,
        IntraOpThreads = settings.Threads,
        LongDocuments = settings.LongDocs,
    };

    /// <summary>Pipeline options implied by the settings.</summary>
    public static SearchOptions DefaultOptions(SearchSettings settings) => new()
    {
        TopN = settings.TopN,
        TopK = settings.TopK,
        Threshold = settings.Threshold,
    };

    /// <summary>Runs one query with the configured top-N/top-K/threshold (or <paramref name="options"/>).</summary>
    public Task<SearchResult> SearchAsync(string query, SearchOptions? options = null, CancellationToken cancellationToken = default) =>
        Pipeline.SearchAsync(query, options, cancellationToken);

    public void Dispose()
    {
        _embedder?.Dispose();
        if (_ownsReranker) _reranker?.Dispose();
        Corpus.Dispose();
    }
}
