using System.Text.Json;

namespace Sift;

/// <summary>
/// Reads a list of documents to rerank: JSONL objects parsed like corpus lines (<see cref="CorpusReader.ParseJsonLine"/>:
/// <c>text</c>, optional <c>id</c>/<c>_id</c> and <c>title</c>, every other field kept as metadata), or plain text
/// with one document per line (id = line number). Also reads query/document pair files for scoring. The format is detected
/// from the first non-blank line.
/// </summary>
public static class DocumentListReader
{
    public static IReadOnlyList<Document> ReadFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new SiftException($"Documents file not found: '{path}'. Pass a JSONL file with a \"text\" field per line, or plain text with one document per line.");
        }
        // Sniff the content rather than trust the extension (docs.txt full of JSON objects is common), then read it
        // exactly as a corpus of that format would be read.
        var firstLine = File.ReadLines(path).FirstOrDefault(l => !string.IsNullOrWhiteSpace(l));
        var format = firstLine?.TrimStart().StartsWith('{') == true ? CorpusFormat.Jsonl : CorpusFormat.Lines;
        return CorpusReader.Read(path, new CorpusOptions { Format = format }).ToList();
    }

    /// <summary>Reads JSONL pairs <c>{"query": ..., "document": ...}</c> (also accepts "passage"/"text" for the document).</summary>
    public static IReadOnlyList<(string Query, string Document)> ReadPairsFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new SiftException($"Pairs file not found: '{path}'. Pass a JSONL file with one {{\"query\": ..., \"document\": ...}} object per line.");
        }
        var pairs = new List<(string, string)>();
        var lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            var line = raw.TrimEnd('\r');
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var json = JsonDocument.Parse(line);
                var root = json.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw new JsonException("not an object");
                string? Get(params string[] names)
                {
                    foreach (var n in names)
                    {
                        if (root.TryGetProperty(n, out var v) && v.ValueKind == JsonValueKind.String) return v.GetString();
                    }
                    return null;
                }
                var q = Get("query") ?? throw new SiftException($"{path}:{lineNo}: missing string field \"query\".");
                var d = Get("document", "passage", "text") ?? throw new SiftException($"{path}:{lineNo}: missing string field \"document\".");
                pairs.Add((q, d));
            }
            catch (JsonException ex)
            {
                throw new SiftException($"{path}:{lineNo}: not a JSON object ({ex.Message}). Each line must look like {{\"query\": \"...\", \"document\": \"...\"}}.");
            }
        }
        return pairs;
    }
}
