using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Sift.Evaluation.Loaders;

/// <summary>
/// Loads a collection in TREC's own layout: documents as <c>&lt;DOC&gt;&lt;DOCNO&gt;id&lt;/DOCNO&gt; … &lt;/DOC&gt;</c>
/// (one or many files, gzip allowed), topics as <c>&lt;top&gt;&lt;num&gt; … &lt;title&gt; …</c> and qrels as
/// <c>qid 0 docid rel</c>. That is how TREC distributes its ad-hoc collections and how Terrier ships NPL/Vaswani.
/// Files are recognised by content, not by name, because every collection names them differently.
/// </summary>
public static partial class TrecCollectionLoader
{
    /// <summary>What a folder holds, by content: document files, topic files and qrels files.</summary>
    public sealed record Layout(IReadOnlyList<string> DocumentFiles, IReadOnlyList<string> TopicFiles, IReadOnlyList<string> QrelsFiles)
    {
        public bool LooksLikeTrec => DocumentFiles.Count > 0;
    }

    /// <summary>Sniffs every file under <paramref name="folder"/> (first non-blank line) into documents, topics and qrels.</summary>
    public static Layout Detect(string folder)
    {
        var docs = new List<string>();
        var topics = new List<string>();
        var qrels = new List<string>();
        foreach (var file in Directory.EnumerateFiles(folder, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.Hidden })
                     .Order(StringComparer.Ordinal))
        {
            var first = FirstLine(file);
            if (first is null) continue;
            if (first.StartsWith("<DOC>", StringComparison.OrdinalIgnoreCase)) docs.Add(file);
            else if (first.StartsWith("<top>", StringComparison.OrdinalIgnoreCase)) topics.Add(file);
            else if (QrelsLine().IsMatch(first)) qrels.Add(file);
        }
        return new Layout(docs, topics, qrels);
    }

    /// <summary>Loads the collection in <paramref name="folder"/>; only judged topics are kept (as BEIR keeps judged queries).</summary>
    public static EvaluationDataset Load(string folder)
    {
        var layout = Detect(folder);
        if (layout.DocumentFiles.Count == 0)
            throw new SiftException($"{folder}: no TREC document file (one whose first line is <DOC>) was found.");
        var topicsFile = Single(folder, layout.TopicFiles, "topics file (first line <top>)");
        var qrelsFile = Single(folder, layout.QrelsFiles, "qrels file ('qid 0 docid relevance' lines)");

        var documents = new List<Document>();
        var warnings = new List<string>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in layout.DocumentFiles)
        {
            foreach (var (doc, line) in ReadDocuments(file, warnings))
            {
                if (!ids.Add(doc.Id!))
                    throw DataFile.Error(file, line, $"DOCNO '{doc.Id}' appears twice", "Document numbers must be unique across the collection's files");
                documents.Add(doc);
            }
        }
        var allTopics = TrecFormat.ReadTopics(topicsFile);
        var qrels = TrecFormat.ReadQrels(qrelsFile);
        var judged = allTopics.Where(kv => qrels.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        if (judged.Count == 0)
        {
            throw new SiftException($"{topicsFile} and {qrelsFile} share no topic number (topics e.g. {string.Join(", ", allTopics.Keys.Take(3))}; qrels e.g. {string.Join(", ", qrels.QueryIds.Take(3))}). Use the qrels that belong to these topics.");
        }
        return new EvaluationDataset(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))), documents, judged, qrels) { Warnings = warnings };
    }

    /// <summary>
    /// Streams the &lt;DOC&gt; records of one file. The id is DOCNO's text; a HEADLINE/TITLE/HEAD element becomes the
    /// title; the text is every other element's content with tags removed and entities decoded.
    /// </summary>
    public static IEnumerable<(Document Document, int Line)> ReadDocuments(string path, ICollection<string>? warnings = null)
    {
        var sb = new StringBuilder();
        var start = 0;
        var inDoc = false;
        var done = new List<(Document, int)>();
        foreach (var (n, line) in DataFile.Lines(path, warnings))
        {
            // Tags may share a line ("<DOC><DOCNO>1</DOCNO>…</DOC>") or stand alone; scan the line for both.
            var pos = 0;
            while (true)
            {
                if (!inDoc)
                {
                    var open = line.IndexOf("<DOC>", pos, StringComparison.OrdinalIgnoreCase);
                    if (open < 0)
                    {
                        if (!string.IsNullOrWhiteSpace(line[pos..]))
                            throw DataFile.Error(path, n, "text outside a <DOC> … </DOC> record", "Every document must sit between <DOC> and </DOC>");
                        break;
                    }
                    inDoc = true;
                    start = n;
                    sb.Clear();
                    pos = open + 5;
                }
                var close = line.IndexOf("</DOC>", pos, StringComparison.OrdinalIgnoreCase);
                if (close < 0)
                {
                    sb.Append(line, pos, line.Length - pos).Append('\n');
                    break;
                }
                sb.Append(line, pos, close - pos);
                done.Add((ParseDocument(path, start, sb.ToString()), start));
                inDoc = false;
                pos = close + 6;
            }
            foreach (var d in done) yield return d;
            done.Clear();
        }
        if (inDoc) throw DataFile.Error(path, start, "a <DOC> record is never closed", "Add the missing </DOC>");
    }

    private static Document ParseDocument(string path, int line, string body)
    {
        var no = DocNo().Match(body);
        if (!no.Success || string.IsNullOrWhiteSpace(no.Groups[1].Value))
            throw DataFile.Error(path, line, "a <DOC> record has no <DOCNO>", "TREC documents carry their id as <DOCNO>id</DOCNO>");
        var id = no.Groups[1].Value.Trim();
        body = body.Remove(no.Index, no.Length);
        string? title = null;
        var t = TitleElement().Match(body);
        if (t.Success)
        {
            title = Clean(t.Groups[2].Value);
            body = body.Remove(t.Index, t.Length);
        }
        var text = Clean(body);
        if (text.Length == 0 && string.IsNullOrEmpty(title))
            throw DataFile.Error(path, line, $"document {id} has no text", "Remove the empty record or give it text");
        return new Document(text.Length == 0 ? title! : text, id, string.IsNullOrEmpty(title) ? null : title);
    }

    /// <summary>Tags out, entities decoded, runs of whitespace to one space.</summary>
    private static string Clean(string s) => Spaces().Replace(WebUtility.HtmlDecode(Tag().Replace(s, " ")), " ").Trim();

    private static string Single(string folder, IReadOnlyList<string> files, string what) => files.Count switch
    {
        1 => files[0],
        0 => throw new SiftException($"{folder}: TREC documents found but no {what}. Put the collection's topics and qrels in the folder."),
        _ => throw new SiftException($"{folder}: more than one {what}: {string.Join(", ", files.Select(Path.GetFileName))}. Keep one per folder (e.g. move the other topic sets aside)."),
    };

    private static string? FirstLine(string file)
    {
        try
        {
            using var reader = DataFile.OpenText(file);
            for (var i = 0; i < 50 && reader.ReadLine() is { } l; i++)
                if (!string.IsNullOrWhiteSpace(l)) return l.TrimStart();
        }
        catch (IOException) { }
        catch (InvalidDataException) { } // not gzip after all, or binary
        return null;
    }

    [GeneratedRegex(@"<DOCNO>\s*(.*?)\s*</DOCNO>", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex DocNo();

    [GeneratedRegex(@"<(HEADLINE|TITLE|HEAD)>(.*?)</\1>", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex TitleElement();

    [GeneratedRegex(@"<[^>]*>")]
    private static partial Regex Tag();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();

    [GeneratedRegex(@"^\S+\s+\S+\s+\S+\s+-?\d+\s*$")]
    private static partial Regex QrelsLine();
}
