namespace Sift;

/// <summary>A first-stage hit: a document, its stage-1 score and 1-based rank.</summary>
public sealed record Candidate(Document Document, float Score, int Rank);

/// <summary>A first-stage retriever (BM25, dense, hybrid...). Implementations are thread-safe.</summary>
public interface IRetriever
{
    /// <summary>Short name used in reports and timings ("bm25", "dense", "hybrid").</summary>
    string Name { get; }

    /// <summary>Returns up to <paramref name="topN"/> candidates, best first.</summary>
    Task<IReadOnlyList<Candidate>> RetrieveAsync(string query, int topN, CancellationToken cancellationToken = default);
}
