using System.Globalization;
using System.Text.Json;

namespace Sift.Evaluation.Loaders;

/// <summary>
/// Loads a dataset in the BEIR layout: <c>corpus.jsonl</c> (<c>_id</c>, <c>title</c>, <c>text</c>),
/// <c>queries.jsonl</c> (<c>_id</c>, <c>text</c>) and <c>qrels/&lt;split&gt;.tsv</c>
/// (header <c>query-id corpus-id score</c>). CRLF line endings are accepted everywhere.
/// </summary>
public static class BeirLoader
{
    /// <summary>
    /// Loads corpus, queries and the qrels of <paramref name="split"/>. Like BEIR's <c>GenericDataLoader</c>,
    /// only queries that have qrels in the split are kept (so SciFact test has 300 of its 1,109 queries).
    /// </summary>
    /// <param name="folder">The dataset folder.</param>
    /// <param name="split">The qrels split file name without extension (<c>test</c>, <c>dev</c>, <c>train</c>).</param>
    /// <param name="onlyJudgedQueries">Keep only queries that appear in the split's qrels (BEIR behaviour).</param>
    public static EvaluationDataset Load(string folder, string split = "test", bool onlyJudgedQueries = true)
    {
        if (!Directory.Exists(folder))
        {
            throw new SiftException($"BEIR dataset folder not found: '{folder}'. Pass a folder holding corpus.jsonl, queries.jsonl and qrels/{split}.tsv.");
        }
        var qrelsPath = Path.Combine(folder, "qrels", split + ".tsv");
        if (!File.Exists(qrelsPath))
        {
            var available = Directory.Exists(Path.Combine(folder, "qrels"))
                ? string.Join(", ", Directory.GetFiles(Path.Combine(folder, "qrels"), "*.tsv").Select(Path.GetFileNameWithoutExtension))
                : "none (no qrels folder)";
            throw new SiftException($"BEIR qrels for split '{split}' not found: '{qrelsPath}'. Available splits: {available}.");
        }
        var warnings = new List<string>();
        var qrels = ReadQrels(qrelsPath);
        var allQueries = ReadQueries(Path.Combine(folder, "queries.jsonl"), warnings);
        IReadOnlyDictionary<string, string> queries = allQueries;
        if (onlyJudgedQueries)
        {
            var filtered = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (id, text) in allQueries)
            {
                if (qrels.Contains(id))
                {
                    filtered[id] = text;
                }
            }
            var missing = qrels.QueryIds.FirstOrDefault(q => !allQueries.ContainsKey(q));
            if (missing is not null)
            {
                throw new SiftException($"{qrelsPath}: query '{missing}' has qrels but no entry in queries.jsonl. Use the queries.jsonl that belongs to this dataset.");
            }
            queries = filtered;
        }
        var corpus = ReadCorpus(Path.Combine(folder, "corpus.jsonl"), warnings);
        return new EvaluationDataset(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))), corpus, queries, qrels) { Warnings = warnings };
    }

    /// <summary>Reads <c>corpus.jsonl</c>: one JSON object per line with <c>_id</c>, optional <c>title</c>, <c>text</c>.</summary>
    public static IReadOnlyList<Document> ReadCorpus(string path, ICollection<string>? warnings = null)
    {
        DataFile.RequireFile(path, "BEIR corpus.jsonl");
        var docs = new List<Document>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (n, line) in DataFile.Lines(path, warnings))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            using var json = ParseLine(path, n, line);
            var root = json.RootElement;
            var id = ReadId(path, n, root);
            var text = ReadString(root, "text") ?? throw DataFile.Error(path, n, "document has no \"text\" field",
                "Each corpus line needs {\"_id\": ..., \"title\": ..., \"text\": ...}");
            var title = ReadString(root, "title");
            Dictionary<string, object?>? metadata = null;
            if (root.TryGetProperty("metadata", out var meta) && meta.ValueKind == JsonValueKind.Object && meta.EnumerateObject().Any())
            {
                metadata = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var p in meta.EnumerateObject())
                {
                    metadata[p.Name] = p.Value.Clone();
                }
            }
            if (!ids.Add(id))
            {
                throw DataFile.Error(path, n, $"document id '{id}' appears twice", "Document ids must be unique; remove the duplicate line");
            }
            docs.Add(new Document(text, id, string.IsNullOrEmpty(title) ? null : title, metadata));
        }
        return docs;
    }

    /// <summary>Reads <c>queries.jsonl</c> into query id → text.</summary>
    public static IReadOnlyDictionary<string, string> ReadQueries(string path, ICollection<string>? warnings = null)
    {
        DataFile.RequireFile(path, "BEIR queries.jsonl");
        var queries = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (n, line) in DataFile.Lines(path, warnings))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            using var json = ParseLine(path, n, line);
            var id = ReadId(path, n, json.RootElement);
            var text = ReadString(json.RootElement, "text") ?? throw DataFile.Error(path, n, "query has no \"text\" field",
                "Each query line needs {\"_id\": ..., \"text\": ...}");
            if (!queries.TryAdd(id, text))
            {
                throw DataFile.Error(path, n, $"query id '{id}' appears twice", "Query ids must be unique; remove the duplicate line");
            }
        }
        return queries;
    }

    /// <summary>
    /// Reads BEIR qrels: tab-separated <c>query-id corpus-id score</c> with a header line.
    /// The header is recognised by a non-integer score column on the first line.
    /// </summary>
    public static Qrels ReadQrels(string path)
    {
        DataFile.RequireFile(path, "BEIR qrels .tsv");
        var qrels = new Qrels();
        var headerSeen = false;
        foreach (var (n, line) in DataFile.Lines(path))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            var parts = line.Split('\t');
            if (parts.Length != 3)
            {
                parts = DataFile.SplitWhitespace(line);
            }
            if (parts.Length != 3)
            {
                throw DataFile.Error(path, n, $"expected 3 tab-separated columns 'query-id corpus-id score' but found {parts.Length}",
                    "BEIR qrels are 'query-id<TAB>corpus-id<TAB>score'; TREC qrels (4 columns) are read with TrecFormat.ReadQrels");
            }
            if (!int.TryParse(parts[2].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var score))
            {
                if (!headerSeen && qrels.Count == 0)
                {
                    headerSeen = true; // the header line "query-id corpus-id score"
                    continue;
                }
                throw DataFile.Error(path, n, $"score '{parts[2]}' is not an integer", "The 3rd column must be an integer grade");
            }
            qrels.Add(parts[0].Trim(), parts[1].Trim(), score);
        }
        return qrels;
    }

    private static JsonDocument ParseLine(string path, int n, string line)
    {
        try
        {
            var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                doc.Dispose();
                throw DataFile.Error(path, n, "line is not a JSON object", "JSONL files hold one JSON object per line");
            }
            return doc;
        }
        catch (JsonException ex)
        {
            throw DataFile.Error(path, n, $"invalid JSON ({JsonErrors.Describe(ex)})", "Each line of a .jsonl file must be one complete JSON object");
        }
    }

    private static string ReadId(string path, int n, JsonElement root)
    {
        if (!root.TryGetProperty("_id", out var id))
        {
            throw DataFile.Error(path, n, "object has no \"_id\" field", "BEIR files identify each line with \"_id\"");
        }
        var value = id.ValueKind switch
        {
            JsonValueKind.String => id.GetString(),
            JsonValueKind.Number => id.GetRawText(),
            _ => null,
        };
        if (string.IsNullOrEmpty(value))
        {
            throw DataFile.Error(path, n, "\"_id\" is empty or not a string/number", "Give every line a non-empty \"_id\"");
        }
        return value;
    }

    private static string? ReadString(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
