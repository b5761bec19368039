namespace Sift.Retrieval.Tests;

/// <summary>A fresh temp folder, deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir(string? name = null)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sift-retrieval-" + (name ?? "") + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public string File(string relative, string content)
    {
        var full = System.IO.Path.Combine(Path, relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        System.IO.File.WriteAllText(full, content);
        return full;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

internal static class Corpus
{
    /// <summary>A small corpus with distinct vocabulary per document, so expectations are easy to reason about.</summary>
    public static readonly Document[] Animals =
    [
        new("Cats are small carnivorous mammals that often sleep sixteen hours a day.", "cat", "Domestic cat",
            new Dictionary<string, object?> { ["year"] = 2001L, ["lang"] = "en" }),
        new("Dogs were the first species to be domesticated, and they bark at strangers.", "dog", "Dog"),
        new("The hamster is a rodent that stores food in its cheek pouches.", "hamster", "Hamster"),
        new("Parrots can imitate human speech and some species live for eighty years.", "parrot", "Parrot"),
        new("Goldfish are freshwater fish kept in bowls and ponds.", "goldfish", "Goldfish"),
        new("A cat and a dog can live together when introduced while young.", "catdog", "Pets living together"),
    ];
}

/// <summary>A deterministic reranker for pipeline tests: score = fraction of the query's words that occur in the
/// document (title + text), compared lowercased. A real (if simple) relevance signal, not canned answers.</summary>
internal sealed class TermOverlapReranker : IReranker
{
    public int Calls;
    public int LastDocumentCount;
    public RerankOptions? LastOptions;

    public static float Score(string query, Document doc)
    {
        var q = Words(query).Distinct().ToList();
        if (q.Count == 0)
        {
            return 0;
        }
        var d = Words(doc.Title + " " + doc.Text).ToHashSet();
        return q.Count(d.Contains) / (float)q.Count;
    }

    private static IEnumerable<string> Words(string s) =>
        s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Select(w => w.Trim('.', ',', '?', '!').ToLowerInvariant()).Where(w => w.Length > 0);

    public Task<IReadOnlyList<RerankResult>> RerankAsync(string query, IReadOnlyList<Document> documents, RerankOptions? options = null, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Calls);
        LastDocumentCount = documents.Count;
        LastOptions = options;
        IEnumerable<RerankResult> results = documents
            .Select((d, i) => new RerankResult(i, Score(query, d), d, [Score(query, d)]))
            .OrderByDescending(r => r.Score); // stable: ties keep input order, as the contract says
        if (options?.Threshold is { } t)
        {
            results = results.Where(r => r.Score >= t);
        }
        if (options?.TopK is { } k)
        {
            results = results.Take(k);
        }
        return Task.FromResult<IReadOnlyList<RerankResult>>(results.ToList());
    }
}
