using Microsoft.AspNetCore.Http;
using Sift.Onnx;
using Sift.Retrieval;
using Sift.Server.Http;
using Sift.Server.Scoring;

namespace Sift.Server.Hosting;

/// <summary>
/// <c>POST /search</c>: retrieve from the server's index (bm25, dense or hybrid) and rerank the candidates with the
/// default model through the same batching queue as /rerank, via <see cref="SearchPipeline"/>.
/// The dense query encoder (the model the index was built with) is loaded on the first dense or hybrid search.
/// </summary>
public sealed class SearchService : IDisposable
{
    private readonly SiftIndex _index;
    private readonly IReranker _reranker;
    private readonly Lazy<BiEncoder> _embedder;

    private SearchService(SiftIndex index, IReranker reranker, ServerOptions? options)
    {
        _index = index;
        _reranker = reranker;
        _embedder = new Lazy<BiEncoder>(() =>
        {
            var dense = _index.Manifest.Dense ?? throw new SiftException("the index has no dense vectors; search with \"mode\": \"bm25\"");
            return BiEncoder.Load(dense.Model, new BiEncoderOptions { IntraOpThreads = options?.Threads ?? 0 });
        }, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    internal static SearchService Open(string indexPath, ServedModel reranker, ServerOptions? options = null) =>
        new(SiftIndex.Open(indexPath), new BatchedReranker(reranker), options);

    /// <summary>The index directory.</summary>
    public string IndexPath => _index.Path;

    /// <summary>Whether dense (and hybrid) search is possible.</summary>
    public bool HasDense => _index.Manifest.Dense is not null;

    /// <summary>The mode used when a request names none: hybrid with dense vectors, else bm25.</summary>
    public string DefaultMode => HasDense ? "hybrid" : "bm25";

    public async Task<SearchResult> SearchAsync(string query, string? mode, int topN, int topK, float? threshold, CancellationToken cancellationToken)
    {
        mode ??= DefaultMode;
        IRetriever retriever;
        try
        {
            retriever = mode switch
            {
                "bm25" => _index.Bm25(),
                "dense" => _index.Dense(_embedder.Value, _embedder.Value.QueryPrompt),
                "hybrid" => _index.Hybrid(_embedder.Value, queryPrefix: _embedder.Value.QueryPrompt),
                _ => throw ApiException.Invalid("mode", $"'mode' must be bm25, dense or hybrid (got '{mode}')"),
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
        _index.Dispose();
    }
}
