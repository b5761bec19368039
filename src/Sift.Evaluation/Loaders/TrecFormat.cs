using System.Globalization;
using System.Text;

namespace Sift.Evaluation.Loaders;

/// <summary>Readers and writers for the TREC text formats: qrels, topics and run files.</summary>
public static class TrecFormat
{
    /// <summary>
    /// Reads a TREC qrels file: <c>qid iter docid rel</c>, whitespace separated (the iteration column is ignored).
    /// Labels are kept as given, including 0 and negative values.
    /// </summary>
    public static Qrels ReadQrels(string path)
    {
        DataFile.RequireFile(path, "TREC qrels file");
        var qrels = new Qrels();
        foreach (var (n, line) in DataFile.Lines(path))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            var parts = DataFile.SplitWhitespace(line);
            if (parts.Length != 4)
            {
                throw DataFile.Error(path, n, $"expected 4 columns 'qid 0 docid rel' but found {parts.Length}",
                    "A TREC qrels line is 'query-id iteration doc-id relevance'; BEIR .tsv qrels (with a header) are read by the BEIR loader instead");
            }
            if (!int.TryParse(parts[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out var rel))
            {
                throw DataFile.Error(path, n, $"relevance '{parts[3]}' is not an integer",
                    "The 4th column must be an integer grade (e.g. 0, 1, 2)");
            }
            qrels.Add(parts[0], parts[2], rel);
        }
        return qrels;
    }

    /// <summary>
    /// Reads a topics file into query id → text. Supported, detected from content (gzip is unpacked transparently):
    /// <list type="bullet">
    /// <item>tab-separated <c>qid&lt;TAB&gt;text</c> (Anserini <c>topics.*.tsv.gz</c>, <c>topics.dl19-passage.txt</c>,
    /// MS MARCO <c>queries.tsv</c>);</item>
    /// <item>classic TREC SGML topics (<c>&lt;top&gt; &lt;num&gt; Number: N &lt;title&gt; ...</c>), using the title.</item>
    /// </list>
    /// Query text is trimmed.
    /// </summary>
    public static IReadOnlyDictionary<string, string> ReadTopics(string path)
    {
        DataFile.RequireFile(path, "TREC topics file");
        string? firstContent = null;
        using (var reader = DataFile.OpenText(path))
        {
            while (reader.ReadLine() is { } l)
            {
                if (!string.IsNullOrWhiteSpace(l))
                {
                    firstContent = l.Trim();
                    break;
                }
            }
        }
        if (firstContent is not null && firstContent.StartsWith("<top>", StringComparison.OrdinalIgnoreCase))
        {
            return ReadSgmlTopics(path);
        }

        var topics = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (n, line) in DataFile.Lines(path))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            var tab = line.IndexOf('\t', StringComparison.Ordinal);
            if (tab <= 0)
            {
                throw DataFile.Error(path, n, "no tab between query id and query text",
                    "Topics files must be 'qid<TAB>text' per line (or TREC <top> SGML)");
            }
            var id = line[..tab].Trim();
            var text = line[(tab + 1)..].Trim();
            if (!topics.TryAdd(id, text))
            {
                throw DataFile.Error(path, n, $"query id '{id}' appears twice", "Remove the duplicate topic line");
            }
        }
        return topics;
    }

    private static Dictionary<string, string> ReadSgmlTopics(string path)
    {
        // Classic TREC (<num> Number: 301, <title> Topic: …, <desc> Description: …) and the looser files other
        // collections ship (Terrier's Vaswani/NPL: upper-case tags, "<NUM>1<NUM>", text on the tag's line).
        // The title is the query; a topic without one uses its description.
        var topics = new Dictionary<string, string>(StringComparer.Ordinal);
        string? num = null;
        StringBuilder? title = null, desc = null;
        StringBuilder? current = null;
        foreach (var (n, raw) in DataFile.Lines(path))
        {
            var line = raw.Trim();
            if (line.StartsWith('<'))
            {
                current = null;
                if (StartsWithTag(line, "num", out var value))
                {
                    num = value.StartsWith("Number:", StringComparison.OrdinalIgnoreCase) ? value[7..].Trim() : value;
                }
                else if (StartsWithTag(line, "title", out value))
                {
                    title = new StringBuilder(value.StartsWith("Topic:", StringComparison.OrdinalIgnoreCase) ? value[6..].Trim() : value);
                    current = title;
                }
                else if (StartsWithTag(line, "desc", out value))
                {
                    desc = new StringBuilder(value.StartsWith("Description:", StringComparison.OrdinalIgnoreCase) ? value[12..].Trim() : value);
                    current = desc;
                }
                else if (line.StartsWith("</top>", StringComparison.OrdinalIgnoreCase))
                {
                    var text = (title is { Length: > 0 } ? title : desc)?.ToString().Trim();
                    if (string.IsNullOrEmpty(num) || string.IsNullOrEmpty(text))
                    {
                        throw DataFile.Error(path, n, "a topic ends without <num> or without <title>/<desc> text", "Each <top> needs a <num> and a <title> (or <desc>)");
                    }
                    if (!topics.TryAdd(num, text))
                    {
                        throw DataFile.Error(path, n, $"topic number '{num}' appears twice", "Remove the duplicate topic");
                    }
                    num = null;
                    title = desc = null;
                }
            }
            else if (current is not null && line.Length > 0)
            {
                // Title and description may continue on the following lines until the next tag.
                (current.Length > 0 ? current.Append(' ') : current).Append(line);
            }
        }
        return topics;

        // "<num> Number: 301", "<num>301</num>", "<NUM>1<NUM>": the tag's own text with any tags removed.
        static bool StartsWithTag(string line, string tag, out string value)
        {
            value = "";
            if (!line.StartsWith("<" + tag + ">", StringComparison.OrdinalIgnoreCase)) return false;
            value = System.Text.RegularExpressions.Regex.Replace(line[(tag.Length + 2)..], "<[^>]*>", " ").Trim();
            return true;
        }
    }

    /// <summary>
    /// Reads a TREC run file: <c>qid Q0 docid rank score tag</c>, whitespace separated.
    /// The run's <see cref="Run.Tag"/> is taken from the first line.
    /// A document listed twice for one query is an error (as in trec_eval).
    /// </summary>
    public static Run ReadRun(string path)
    {
        DataFile.RequireFile(path, "TREC run file");
        Run? run = null;
        var seen = new HashSet<(string, string)>();
        foreach (var (n, line) in DataFile.Lines(path))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            var parts = DataFile.SplitWhitespace(line);
            if (parts.Length != 6)
            {
                throw DataFile.Error(path, n, $"expected 6 columns 'qid Q0 docid rank score tag' but found {parts.Length}",
                    "Write run files in TREC format (one result per line)");
            }
            if (!int.TryParse(parts[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out var rank))
            {
                throw DataFile.Error(path, n, $"rank '{parts[3]}' is not an integer", "The 4th column is the 1-based rank");
            }
            if (!double.TryParse(parts[4], NumberStyles.Float, CultureInfo.InvariantCulture, out var score))
            {
                throw DataFile.Error(path, n, $"score '{parts[4]}' is not a number", "The 5th column is the score, e.g. 12.5 or 1.2e-3");
            }
            if (!seen.Add((parts[0], parts[2])))
            {
                throw DataFile.Error(path, n, $"document '{parts[2]}' is listed twice for query '{parts[0]}'",
                    "trec_eval rejects duplicate documents per query; remove the repeated line");
            }
            run ??= new Run(parts[5]);
            run.Add(parts[0], parts[2], score, rank);
        }
        return run ?? new Run();
    }

    /// <summary>
    /// Writes a run in TREC format. Each query's entries are written in trec_eval order
    /// (score descending, docid descending on ties) with ranks renumbered 1..n, so that the file's
    /// rank column agrees with how trec_eval will read it. Scores are written round-trippably ("R").
    /// Queries are written in the run's insertion order.
    /// </summary>
    public static void WriteRun(string path, Run run, string? tag = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir))
        {
            Directory.CreateDirectory(dir);
        }
        var runTag = tag ?? run.Tag;
        if (string.IsNullOrWhiteSpace(runTag) || runTag.IndexOfAny(DataFile.Whitespace) >= 0)
        {
            throw new SiftException($"Run tag '{runTag}' is empty or contains whitespace, which would break the TREC run format. Use a tag like 'sift-bm25'.");
        }
        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false)) { NewLine = "\n" };
        foreach (var queryId in run.QueryIds)
        {
            if (queryId.IndexOfAny(DataFile.Whitespace) >= 0)
            {
                throw new SiftException($"Query id '{queryId}' contains whitespace and cannot be written to a TREC run file. Use ids without spaces.");
            }
            var ranked = run.Ranked(queryId);
            for (var i = 0; i < ranked.Count; i++)
            {
                var e = ranked[i];
                if (e.DocId.IndexOfAny(DataFile.Whitespace) >= 0)
                {
                    throw new SiftException($"Document id '{e.DocId}' contains whitespace and cannot be written to a TREC run file. Use ids without spaces.");
                }
                writer.Write(queryId);
                writer.Write(" Q0 ");
                writer.Write(e.DocId);
                writer.Write(' ');
                writer.Write((i + 1).ToString(CultureInfo.InvariantCulture));
                writer.Write(' ');
                writer.Write(e.Score.ToString("R", CultureInfo.InvariantCulture));
                writer.Write(' ');
                writer.WriteLine(runTag);
            }
        }
    }
}
