namespace Sift.Evaluation;

/// <summary>
/// Relevance judgments: query id → document id → graded label, as in a TREC qrels file.
/// Labels are kept exactly as given (graded, possibly 0 or negative); metrics decide how to use them.
/// </summary>
public sealed class Qrels
{
    private readonly Dictionary<string, Dictionary<string, int>> _byQuery = new(StringComparer.Ordinal);

    /// <summary>Number of (query, document) judgments held.</summary>
    public int Count { get; private set; }

    /// <summary>Query ids that have at least one judgment, in first-seen order.</summary>
    public IReadOnlyCollection<string> QueryIds => _byQuery.Keys;

    /// <summary>
    /// Adds one judgment. A repeated (query, document) pair keeps the higher label
    /// (trec_eval refuses duplicates outright; the public collections here have none).
    /// </summary>
    public void Add(string queryId, string docId, int relevance)
    {
        ArgumentException.ThrowIfNullOrEmpty(queryId);
        ArgumentException.ThrowIfNullOrEmpty(docId);
        if (!_byQuery.TryGetValue(queryId, out var docs))
        {
            docs = new Dictionary<string, int>(StringComparer.Ordinal);
            _byQuery[queryId] = docs;
        }
        if (docs.TryGetValue(docId, out var existing))
        {
            docs[docId] = Math.Max(existing, relevance);
            return;
        }
        docs[docId] = relevance;
        Count++;
    }

    /// <summary>The judgments of one query (document id → label); empty when the query has none.</summary>
    public IReadOnlyDictionary<string, int> For(string queryId) =>
        _byQuery.TryGetValue(queryId, out var docs) ? docs : EmptyJudgments;

    /// <summary>True when the query has a judged document with label ≥ <paramref name="relevanceLevel"/>.</summary>
    public bool HasRelevant(string queryId, int relevanceLevel = 1) =>
        _byQuery.TryGetValue(queryId, out var docs) && docs.Values.Any(r => r >= relevanceLevel);

    /// <summary>Whether any judgment exists for the query.</summary>
    public bool Contains(string queryId) => _byQuery.ContainsKey(queryId);

    /// <summary>
    /// Reads a qrels file in either TREC format (<c>qid iter docid rel</c>, 4 columns) or BEIR .tsv format
    /// (<c>query-id corpus-id score</c>, 3 columns, optional header), detected from the first non-empty line.
    /// Gzipped files are unpacked transparently.
    /// </summary>
    public static Qrels Load(string path)
    {
        Loaders.DataFile.RequireFile(path, "Qrels file");
        foreach (var (n, line) in Loaders.DataFile.Lines(path))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            var columns = Loaders.DataFile.SplitWhitespace(line).Length;
            return columns switch
            {
                4 => Loaders.TrecFormat.ReadQrels(path),
                3 => Loaders.BeirLoader.ReadQrels(path),
                _ => throw Loaders.DataFile.Error(path, n, $"{columns} columns: neither TREC qrels (4 columns) nor BEIR qrels (3 columns)",
                    "Pass a TREC qrels file ('qid 0 docid rel') or a BEIR qrels .tsv ('query-id corpus-id score')"),
            };
        }
        return new Qrels();
    }

    private static readonly IReadOnlyDictionary<string, int> EmptyJudgments = new Dictionary<string, int>();
}
