namespace Sift.Evaluation;

/// <summary>
/// A test collection in one shape whatever its source format (BEIR, SMART, ...): documents, queries and qrels.
/// </summary>
/// <param name="Name">A short name (usually the folder name).</param>
/// <param name="Documents">The corpus; every document has an <see cref="Document.Id"/>.</param>
/// <param name="Queries">Query id → query text. For BEIR splits only queries that have qrels in the split are kept.</param>
/// <param name="Qrels">Relevance judgments, keyed by the same query and document ids.</param>
public sealed record EvaluationDataset(
    string Name,
    IReadOnlyList<Document> Documents,
    IReadOnlyDictionary<string, string> Queries,
    Qrels Qrels)
{
    /// <summary>Problems the loader repaired rather than refused (e.g. invalid UTF-8 replaced), to show the user.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>The same collection with only the queries (and their judgments) whose ids are in <paramref name="queryIds"/>.</summary>
    /// <exception cref="SiftException">An id is not a query of this dataset, or the list is empty.</exception>
    public EvaluationDataset Restrict(IReadOnlySet<string> queryIds, string source = "the query id list")
    {
        if (queryIds.Count == 0) throw new SiftException($"{source} lists no query ids.");
        var unknown = queryIds.Where(q => !Queries.ContainsKey(q)).Take(3).ToList();
        if (unknown.Count > 0)
            throw new SiftException($"{source}: {string.Join(", ", unknown.Select(u => $"'{u}'"))} {(unknown.Count == 1 ? "is" : "are")} not a judged query of {Name} in this split; check the split (--split) and the file.");
        var qrels = new Qrels();
        foreach (var q in queryIds)
            foreach (var (doc, rel) in Qrels.For(q)) qrels.Add(q, doc, rel);
        return this with { Queries = Queries.Where(kv => queryIds.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal), Qrels = qrels };
    }
}
