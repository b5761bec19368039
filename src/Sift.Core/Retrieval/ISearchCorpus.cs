using Microsoft.Extensions.AI;

namespace Sift;

/// <summary>
/// A searchable corpus that hands out first-stage retrievers: Sift's own index folder, a PostgreSQL database, and
/// later other engines (Elasticsearch, Qdrant...). An adapter for another engine is one class implementing this and
/// returning <see cref="IRetriever"/>s; fusion (<see cref="RankFusion"/>) and reranking stay in Sift. Thread-safe.
/// </summary>
public interface ISearchCorpus : IDisposable
{
    /// <summary>Where the corpus lives, safe to print and log: never holds a password.</summary>
    string Location { get; }

    /// <summary>Name of the lexical retriever and of the search mode that selects it: "bm25" for Sift's Lucene index,
    /// "fts" for PostgreSQL full-text search (ts_rank_cd, which is not BM25).</summary>
    string LexicalName { get; }

    /// <summary>The bi-encoder the stored vectors came from (a path or hub id); null when the corpus has no vectors.</summary>
    string? DenseModel { get; }

    /// <summary>Documents in the corpus.</summary>
    long Count { get; }

    /// <summary>The lexical retriever (named <see cref="LexicalName"/>).</summary>
    IRetriever Lexical();

    /// <summary>A dense retriever; <paramref name="embedder"/> must be the model the vectors were built with.</summary>
    /// <exception cref="SiftException">The corpus has no vectors.</exception>
    IRetriever Dense(IEmbeddingGenerator<string, Embedding<float>> embedder, string? queryPrefix = null);
}

/// <summary>
/// A store the first stage depends on (a database) cannot be reached, timed out or went away mid-query. The server
/// answers 503 (retry later) instead of 422; the message names the store without credentials.
/// </summary>
public sealed class StoreUnavailableException : SiftException
{
    public StoreUnavailableException(string message) : base(message) { }
    public StoreUnavailableException(string message, Exception inner) : base(message, inner) { }
}
