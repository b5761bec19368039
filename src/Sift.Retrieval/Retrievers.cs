using Microsoft.Extensions.AI;

namespace Sift.Retrieval;

/// <summary>BM25 over a <see cref="SiftIndex"/> (see there for the exact settings). Thread-safe.</summary>
public sealed class Bm25Retriever(SiftIndex index) : IRetriever
{
    private readonly SiftIndex _index = index ?? throw new ArgumentNullException(nameof(index));

    public string Name => "bm25";

    public Task<IReadOnlyList<Candidate>> RetrieveAsync(string query, int topN, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(_index.SearchBm25(query, topN));
    }
}

/// <summary>
/// Dense retrieval: embeds the query with the same bi-encoder the index was built with and returns the documents
/// whose vectors have the highest cosine similarity, exactly (see <see cref="VectorStore"/>) or through the index's
/// HNSW graph (see <see cref="DenseSearchOptions"/>). Thread-safe when the embedder is.
/// </summary>
public sealed class DenseRetriever : IRetriever
{
    private readonly SiftIndex _index;
    private readonly IEmbeddingGenerator<string, Embedding<float>> _embedder;
    private readonly string? _queryPrefix;
    private readonly DenseSearchOptions _search;

    public DenseRetriever(SiftIndex index, IEmbeddingGenerator<string, Embedding<float>> embedder, string? queryPrefix = null, DenseSearchOptions? search = null)
    {
        _index = index ?? throw new ArgumentNullException(nameof(index));
        _embedder = embedder ?? throw new ArgumentNullException(nameof(embedder));
        _queryPrefix = queryPrefix;
        _search = search ?? DenseSearchOptions.Default;
    }

    /// <summary>Exact or HNSW, and the HNSW search expansion.</summary>
    public DenseSearchOptions Search => _search;

    public string Name => "dense";

    public async Task<IReadOnlyList<Candidate>> RetrieveAsync(string query, int topN, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (topN <= 0 || string.IsNullOrWhiteSpace(query))
        {
            return []; // same contract as BM25: no terms, no hits
        }
        var embeddings = await _embedder.GenerateAsync([(_queryPrefix ?? "") + query], null, cancellationToken).ConfigureAwait(false);
        return _index.SearchDense(embeddings[0].Vector.ToArray(), topN, _search);
    }
}

/// <summary>
/// Runs several retrievers in parallel and fuses their lists with <see cref="RankFusion"/> (reciprocal rank fusion by
/// default; <see cref="FusionOptions.Weights"/> are in retriever order). Each retriever is asked for
/// max(topN, <c>depth</c>) candidates. Thread-safe when the inner retrievers are.
/// </summary>
public sealed class HybridRetriever : IRetriever
{
    private readonly IReadOnlyList<IRetriever> _retrievers;
    private readonly FusionOptions _fusion;
    private readonly int? _depth;

    /// <param name="retrievers">The retrievers to fuse (at least one).</param>
    /// <param name="fusion">Fusion method and weights.</param>
    /// <param name="depth">Candidates fetched per retriever (null: topN).</param>
    public HybridRetriever(IReadOnlyList<IRetriever> retrievers, FusionOptions? fusion = null, int? depth = null)
    {
        ArgumentNullException.ThrowIfNull(retrievers);
        if (retrievers.Count == 0)
        {
            throw new ArgumentException("at least one retriever is needed", nameof(retrievers));
        }
        _retrievers = retrievers.ToArray();
        _fusion = fusion ?? FusionOptions.Default;
        _depth = depth;
        if (_fusion.Weights is { } w && w.Count != _retrievers.Count)
        {
            throw new SiftException($"hybrid search needs one weight per retriever ({string.Join(", ", _retrievers.Select(r => r.Name))}): got {w.Count}");
        }
    }

    public string Name => "hybrid";

    public IReadOnlyList<IRetriever> Retrievers => _retrievers;

    public async Task<IReadOnlyList<Candidate>> RetrieveAsync(string query, int topN, CancellationToken cancellationToken = default)
    {
        if (topN <= 0)
        {
            return [];
        }
        var depth = Math.Max(topN, _depth ?? topN);
        var lists = await Task.WhenAll(_retrievers.Select(r => r.RetrieveAsync(query, depth, cancellationToken))).ConfigureAwait(false);
        return RankFusion.Fuse(lists, _fusion, topN);
    }
}

/// <summary>A <see cref="SiftIndex"/> seen as an <see cref="ISearchCorpus"/> (BM25 + exact dense). Owns the index.</summary>
public sealed class SiftIndexCorpus(SiftIndex index, DenseSearchOptions? denseSearch = null) : ISearchCorpus
{
    public SiftIndex Index { get; } = index ?? throw new ArgumentNullException(nameof(index));

    public string Location => Index.Path;

    public string LexicalName => "bm25";

    public string? DenseModel => Index.Manifest.Dense?.Model;

    public long Count => Index.Count;

    public IRetriever Lexical() => Index.Bm25();

    public IRetriever Dense(IEmbeddingGenerator<string, Embedding<float>> embedder, string? queryPrefix = null) => Index.Dense(embedder, queryPrefix, denseSearch);

    public void Dispose() => Index.Dispose();
}

/// <summary>Hybrid retrieval over any <see cref="ISearchCorpus"/>.</summary>
public static class SearchCorpusExtensions
{
    /// <summary>Lexical + dense fused (reciprocal rank fusion unless <paramref name="fusion"/> says otherwise); weights in (lexical, dense) order.</summary>
    public static HybridRetriever Hybrid(this ISearchCorpus corpus, IEmbeddingGenerator<string, Embedding<float>> embedder, FusionOptions? fusion = null, string? queryPrefix = null)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        return new HybridRetriever([corpus.Lexical(), corpus.Dense(embedder, queryPrefix)], fusion);
    }
}
