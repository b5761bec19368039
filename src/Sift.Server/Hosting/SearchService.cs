using Microsoft.AspNetCore.Http;
using Sift.Onnx;
using Sift.Retrieval;
using Sift.Server.Http;
using Sift.Store.Postgres;

namespace Sift.Server.Hosting;

/// <summary>
/// <c>POST /search</c>: retrieve from the server's index or store (bm25 or fts, dense, hybrid) and rerank the candidates with the
/// default model through the same batching queue as /rerank, via <see cref="SearchPipeline"/>.
/// The dense query encoder (the model the index was built with) is loaded on the first dense or hybrid search.
/// </summary>
public sealed class SearchService : IDisposable
{
    private readonly ISearchCorpus _corpus;
    private readonly IReranker _reranker;
    private readonly Lazy<BiEncoder> _embedder;

    private SearchService(ISearchCorpus corpus, IReranker reranker, ServerOptions? options)
    {
        _corpus = corpus;
        _reranker = reranker;
        _embedder = new Lazy<BiEncoder>(() =>
        {
            var model = _corpus.DenseModel ?? throw new SiftException($"the index has no dense vectors; search with \"mode\": \"{_corpus.LexicalName}\"");
            return BiEncoder.Load(model, new BiEncoderOptions { IntraOpThreads = options?.Threads ?? 0 });
        }, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    internal static SearchService Open(string indexPath, ServedModel reranker, ServerOptions? options = null) =>
        new(new SiftIndexCorpus(SiftIndex.Open(indexPath)), reranker.Encoder, options);

    /// <summary>Searches a shared PostgreSQL store (postgres://...) instead of an index folder.</summary>
    internal static SearchService OpenStore(string address, ServedModel reranker, ServerOptions? options = null) =>
        new(PostgresStore.Open(address), reranker.Encoder, options);

    /// <summary>The index directory, or the store's address without credentials.</summary>
    public string IndexPath => _corpus.Location;

    /// <summary>Whether dense (and hybrid) search is possible.</summary>
    public bool HasDense => _corpus.DenseModel is not null;

    /// <summary>The mode used when a request names none: hybrid with dense vectors, else the lexical one (bm25 or fts).</summary>
    public string DefaultMode => HasDense ? "hybrid" : _corpus.LexicalName;

    public async Task<SearchResult> SearchAsync(string query, string? mode, int topN, int topK, float? threshold, CancellationToken cancellationToken)
    {
        mode ??= DefaultMode;
        IRetriever retriever;
        try
        {
            retriever = mode switch
            {
                "bm25" or "fts" when mode == _corpus.LexicalName => _corpus.Lexical(),
                "bm25" or "fts" => throw new SiftException($"this server's first stage ranks lexically with {_corpus.LexicalName}{(_corpus.LexicalName == "fts" ? " (PostgreSQL full-text search, ts_rank_cd: not BM25)" : "")}; use \"mode\": \"{_corpus.LexicalName}\""),
                "dense" => _corpus.Dense(_embedder.Value, _embedder.Value.QueryPrompt),
                "hybrid" => _corpus.Hybrid(_embedder.Value, queryPrefix: _embedder.Value.QueryPrompt),
                _ => throw ApiException.Invalid("mode", $"'mode' must be {_corpus.LexicalName}, dense or hybrid (got '{mode}')"),
            };
        }
        catch (SiftException ex)
        {
            throw new ApiException(StatusCodes.Status422UnprocessableEntity, "mode_unavailable", ex.Message, "mode");
        }
        var options = new SearchOptions { TopN = topN, TopK = topK, Threshold = threshold };
        try
        {
            options.Validate(hasReranker: true, JsonName);
        }
        catch (SiftException ex) when (ex.Data[SearchOptions.FieldKey] is string field)
        {
            throw ApiException.Invalid(JsonName(field), ex.Message);
        }
        var pipeline = new SearchPipeline(retriever, _reranker, options);
        return await pipeline.SearchAsync(query, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>TopN → top_n, the request's field names.</summary>
    private static string JsonName(string field) => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(field);

    public void Dispose()
    {
        if (_embedder.IsValueCreated && _embedder.Value is IDisposable d)
        {
            d.Dispose();
        }
        _corpus.Dispose();
    }
}
