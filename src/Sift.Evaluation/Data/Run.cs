namespace Sift.Evaluation;

/// <summary>One retrieved document of a run (a line of a TREC run file).</summary>
/// <param name="DocId">Document id as it appears in the qrels.</param>
/// <param name="Score">System score; higher is better. This, not <paramref name="Rank"/>, orders the list for evaluation.</param>
/// <param name="Rank">The rank the producing system assigned (1-based). Informational only, as in trec_eval.</param>
public sealed record RunEntry(string DocId, double Score, int Rank);

/// <summary>
/// A ranked result list per query, as in a TREC run file (<c>qid Q0 docid rank score tag</c>).
/// </summary>
public sealed class Run
{
    private readonly Dictionary<string, List<RunEntry>> _byQuery = new(StringComparer.Ordinal);

    public Run(string tag = "sift") => Tag = tag;

    /// <summary>The run tag (last column of a TREC run file).</summary>
    public string Tag { get; set; }

    /// <summary>Query ids with results, in first-seen order.</summary>
    public IReadOnlyCollection<string> QueryIds => _byQuery.Keys;

    /// <summary>Total number of entries over all queries.</summary>
    public int Count => _byQuery.Values.Sum(l => l.Count);

    public void Add(string queryId, RunEntry entry)
    {
        ArgumentException.ThrowIfNullOrEmpty(queryId);
        ArgumentNullException.ThrowIfNull(entry);
        if (!_byQuery.TryGetValue(queryId, out var list))
        {
            list = [];
            _byQuery[queryId] = list;
        }
        list.Add(entry);
    }

    public void Add(string queryId, string docId, double score, int rank) => Add(queryId, new RunEntry(docId, score, rank));

    /// <summary>Entries of one query in insertion order (empty when the query has none).</summary>
    public IReadOnlyList<RunEntry> For(string queryId) =>
        _byQuery.TryGetValue(queryId, out var list) ? list : [];

    /// <summary>
    /// The entries of one query in trec_eval's evaluation order: score descending, ties broken by
    /// document id descending (byte-wise string comparison). This mirrors <c>comp_sim_docno</c> in
    /// trec_eval's <c>form_res_rels.c</c> (usnistgov/trec_eval), which qsorts by
    /// <c>sim</c> descending and then returns <c>strcmp(p2-&gt;docno, p1-&gt;docno)</c>; the rank column
    /// of the run file is ignored. pytrec_eval embeds the same code.
    /// </summary>
    public IReadOnlyList<RunEntry> Ranked(string queryId)
    {
        var list = For(queryId);
        var sorted = list.ToArray();
        Array.Sort(sorted, TrecEvalOrder);
        return sorted;
    }

    /// <summary>Comparison implementing trec_eval's result order (score desc, then docid desc, ordinal).</summary>
    public static int TrecEvalOrder(RunEntry a, RunEntry b)
    {
        var byScore = b.Score.CompareTo(a.Score);
        return byScore != 0 ? byScore : string.CompareOrdinal(b.DocId, a.DocId);
    }

    /// <summary>
    /// Builds a run from reranker/retriever output. Each candidate's <see cref="Document.Id"/> is the doc id;
    /// <see cref="Candidate.Score"/> and <see cref="Candidate.Rank"/> are copied.
    /// </summary>
    public static Run FromCandidates(IEnumerable<KeyValuePair<string, IReadOnlyList<Candidate>>> perQuery, string tag = "sift")
    {
        ArgumentNullException.ThrowIfNull(perQuery);
        var run = new Run(tag);
        foreach (var (queryId, candidates) in perQuery)
        {
            foreach (var c in candidates)
            {
                var id = c.Document.Id;
                if (string.IsNullOrEmpty(id))
                {
                    throw new SiftException(
                        $"A result for query '{queryId}' has a document without an id, so it cannot be matched to the qrels. " +
                        "Give every document an id (BEIR _id / TREC docno) before evaluating.");
                }
                run.Add(queryId, id, c.Score, c.Rank);
            }
        }
        return run;
    }

    /// <summary>Builds a run from documents given in ranked order (scores descending: n, n-1, ..., 1).</summary>
    public static Run FromRankedIds(IEnumerable<KeyValuePair<string, IReadOnlyList<string>>> perQuery, string tag = "sift")
    {
        ArgumentNullException.ThrowIfNull(perQuery);
        var run = new Run(tag);
        foreach (var (queryId, ids) in perQuery)
        {
            for (var i = 0; i < ids.Count; i++)
            {
                run.Add(queryId, ids[i], ids.Count - i, i + 1);
            }
        }
        return run;
    }
}
