using System.Diagnostics;

namespace Sift;

/// <summary>Per-search settings of <see cref="SearchPipeline"/>.</summary>
public sealed record SearchOptions
{
    /// <summary>Candidates fetched from the first stage and handed to the reranker. Ignored without a reranker
    /// (the retriever is then asked for <see cref="TopK"/> directly).</summary>
    public int TopN { get; init; } = 100;

    /// <summary>Hits returned.</summary>
    public int TopK { get; init; } = 10;

    /// <summary>Drop hits whose final score (the rerank score, or the stage-1 score without a reranker) is below this.</summary>
    public float? Threshold { get; init; }

    /// <summary>Extra options passed to the reranker; its TopK and Threshold are overridden by the values above.</summary>
    public RerankOptions? Rerank { get; init; }

    public static SearchOptions Default { get; } = new();

    /// <summary>
    /// Throws a <see cref="SiftException"/> naming the field (<see cref="TopN"/>, <see cref="TopK"/>,
    /// <see cref="Threshold"/>) of a value that cannot work (also in its Data[<see cref="FieldKey"/>]). The message names
    /// fields by their property names unless <paramref name="name"/> spells them the way the caller's users know them
    /// (the CLI: <c>--top-n</c>; the server: <c>top_n</c>).
    /// </summary>
    public void Validate(bool hasReranker, Func<string, string>? name = null)
    {
        name ??= static field => field;
        if (TopK < 1)
        {
            throw Invalid(nameof(TopK), $"{name(nameof(TopK))} must be at least 1 (got {TopK}); pass e.g. {name(nameof(TopK))} 10");
        }
        if (hasReranker && TopN < 1)
        {
            throw Invalid(nameof(TopN), $"{name(nameof(TopN))} must be at least 1 (got {TopN}); pass e.g. {name(nameof(TopN))} 100");
        }
        if (hasReranker && TopK > TopN)
        {
            throw Invalid(nameof(TopK), $"{name(nameof(TopK))} ({TopK}) is larger than {name(nameof(TopN))} ({TopN}): the reranker can only return documents the first stage found; raise {name(nameof(TopN))} to at least {TopK} or lower {name(nameof(TopK))}");
        }
        if (Threshold is { } t && float.IsNaN(t))
        {
            throw Invalid(nameof(Threshold), $"{name(nameof(Threshold))} must be a number; pass e.g. {name(nameof(Threshold))} 0.5 or leave it out");
        }
    }

    /// <summary>The key in <see cref="Exception.Data"/> of <see cref="Validate"/>'s exception that holds the offending property's name ("TopN").</summary>
    public const string FieldKey = "SearchOptions.Field";

    private static SiftException Invalid(string field, string message)
    {
        var ex = new SiftException(message);
        ex.Data[FieldKey] = field;
        return ex;
    }
}

/// <summary>One search hit.</summary>
/// <param name="Document">The document, as stored.</param>
/// <param name="Score">Final score: the rerank score when reranked, else the stage-1 score.</param>
/// <param name="Rank">Final 1-based rank.</param>
/// <param name="Stage1Rank">1-based rank in the first stage.</param>
/// <param name="Stage1Score">First-stage score (BM25, cosine, fused...).</param>
/// <param name="RerankScore">The reranker's score; null without a reranker.</param>
/// <param name="Window">For long documents, the window that produced the rerank score.</param>
public sealed record SearchHit(Document Document, float Score, int Rank, int Stage1Rank, float Stage1Score, float? RerankScore, TextWindow? Window = null);

/// <summary>Wall-clock time per stage, in milliseconds.</summary>
public sealed record SearchTimings(double RetrieveMs, double RerankMs, double TotalMs);

/// <summary>The result of one search.</summary>
/// <param name="Query">The query as given.</param>
/// <param name="Hits">Best first.</param>
/// <param name="Candidates">How many candidates the first stage returned.</param>
/// <param name="Retriever">The first stage's <see cref="IRetriever.Name"/>.</param>
/// <param name="Reranked">Whether a reranker scored the candidates.</param>
/// <param name="Timings">Per-stage timings.</param>
public sealed record SearchResult(string Query, IReadOnlyList<SearchHit> Hits, int Candidates, string Retriever, bool Reranked, SearchTimings Timings);

/// <summary>
/// Two-stage search: a first-stage <see cref="IRetriever"/> fetches <see cref="SearchOptions.TopN"/> candidates, an optional
/// <see cref="IReranker"/> rescores them, and the best <see cref="SearchOptions.TopK"/> at or above the threshold are returned.
/// Thread-safe when the retriever and reranker are (the contracts require it).
/// </summary>
public sealed class SearchPipeline
{
    private readonly SearchOptions _defaults;

    public SearchPipeline(IRetriever retriever, IReranker? reranker = null, SearchOptions? defaults = null)
    {
        Retriever = retriever ?? throw new ArgumentNullException(nameof(retriever));
        Reranker = reranker;
        _defaults = defaults ?? SearchOptions.Default;
        _defaults.Validate(reranker is not null);
    }

    public IRetriever Retriever { get; }
    public IReranker? Reranker { get; }

    /// <summary>Runs both stages for <paramref name="query"/> (<paramref name="options"/> null: the constructor's defaults).</summary>
    public async Task<SearchResult> SearchAsync(string query, SearchOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        // An empty query retrieves nothing and reranks noise; it is always a mistake (an unset variable, a blank line).
        if (string.IsNullOrWhiteSpace(query)) throw new SiftException("The query is empty; give the text to search for.");
        options ??= _defaults;
        options.Validate(Reranker is not null);

        var total = Stopwatch.StartNew();
        var candidates = await Retriever.RetrieveAsync(query, Reranker is null ? options.TopK : options.TopN, cancellationToken).ConfigureAwait(false);
        var retrieveMs = total.Elapsed.TotalMilliseconds;

        var hits = new List<SearchHit>(Math.Min(options.TopK, candidates.Count));
        double rerankMs = 0;
        if (Reranker is null)
        {
            foreach (var c in candidates)
            {
                if (hits.Count >= options.TopK)
                {
                    break;
                }
                if (options.Threshold is { } t && !(c.Score >= t))
                {
                    continue;
                }
                hits.Add(new SearchHit(c.Document, c.Score, hits.Count + 1, c.Rank, c.Score, null));
            }
        }
        else if (candidates.Count > 0)
        {
            var rerankStart = total.Elapsed;
            var docs = new Document[candidates.Count];
            for (var i = 0; i < docs.Length; i++)
            {
                docs[i] = candidates[i].Document;
            }
            var rerankOptions = (options.Rerank ?? RerankOptions.Default) with { TopK = options.TopK, Threshold = options.Threshold };
            var results = await Reranker.RerankAsync(query, docs, rerankOptions, cancellationToken).ConfigureAwait(false);
            rerankMs = (total.Elapsed - rerankStart).TotalMilliseconds;

            // The contract says results come best first and already cut; enforce it anyway (the one ranking every
            // reranker uses) so a lax reranker cannot break top-k/threshold semantics.
            foreach (var r in Ranking.Rank(results, options.TopK, options.Threshold))
            {
                if ((uint)r.Index >= (uint)candidates.Count)
                {
                    throw new InvalidOperationException($"reranker returned index {r.Index} for {candidates.Count} documents");
                }
                var c = candidates[r.Index];
                hits.Add(new SearchHit(c.Document, r.Score, hits.Count + 1, c.Rank, c.Score, r.Score, r.Window));
            }
        }
        total.Stop();
        return new SearchResult(query, hits, candidates.Count, Retriever.Name, Reranker is not null, new SearchTimings(retrieveMs, rerankMs, total.Elapsed.TotalMilliseconds));
    }
}
