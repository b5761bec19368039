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
}
