using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Sift.Evaluation.Loaders;

/// <summary>
/// Loads the classic SMART-format collections (Cranfield 1400, CISI) into the same
/// <see cref="EvaluationDataset"/> shape as BEIR.
/// SMART files are records that start with <c>.I &lt;id&gt;</c>, followed by fields introduced by a line
/// holding only a field marker (<c>.T</c> title, <c>.A</c> authors, <c>.B</c> bibliography, <c>.W</c> text,
/// <c>.X</c> cross references, ...). A field that repeats within a record is concatenated.
/// </summary>
public static partial class SmartLoader
{
    /// <summary>
    /// Loads Cranfield from a folder holding <c>cran.all.1400</c>, <c>cran.qry</c> and <c>cranqrel</c>.
    /// <para>Quirks handled (see the folder's PROVENANCE.txt):</para>
    /// <list type="bullet">
    /// <item>Query ids: the <c>.I</c> numbers in <c>cran.qry</c> run 001..365 with gaps, but <c>cranqrel</c> numbers
    /// queries 1..225 by position. Queries are therefore identified by position: id "k" is the k-th query in
    /// <c>cran.qry</c>.</item>
    /// <item>Relevance codes are inverted (1 = complete answer, best; 4 = minimum interest). They become graded gains
    /// 5 - code: 1→4, 2→3, 3→2, 4→1. Rows with code -1 carry no grade and are dropped: the standard file has 225 of
    /// them, exactly one per query (PROVENANCE.txt's "2 rows" undercounts because of the CRLF), which leaves 1,612
    /// graded judgments covering all 225 queries.</item>
    /// <item>Files are CRLF; fields may repeat (a few documents have two <c>.A</c>/<c>.W</c> sections); two documents
    /// have an empty <c>.W</c> (their text is then the title).</item>
    /// </list>
    /// </summary>
    public static EvaluationDataset LoadCranfield(string folder)
    {
        var docsPath = Path.Combine(folder, "cran.all.1400");
        var queriesPath = Path.Combine(folder, "cran.qry");
        var qrelsPath = Path.Combine(folder, "cranqrel");
        DataFile.RequireFile(docsPath, "Cranfield documents (cran.all.1400)");
        DataFile.RequireFile(queriesPath, "Cranfield queries (cran.qry)");
        DataFile.RequireFile(qrelsPath, "Cranfield qrels (cranqrel)");

        var warnings = new List<string>();
        var documents = ReadDocuments(docsPath, warnings);

        var queries = new Dictionary<string, string>(StringComparer.Ordinal);
        var position = 0;
        foreach (var record in ReadRecords(queriesPath))
        {
            position++;
            queries[position.ToString(CultureInfo.InvariantCulture)] = record.Field('W') ?? record.Field('T') ?? "";
        }

        var qrels = new Qrels();
        foreach (var (n, line) in DataFile.Lines(qrelsPath))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            var parts = DataFile.SplitWhitespace(line);
            if (parts.Length != 3
                || !int.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var q)
                || !int.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var code))
            {
                throw DataFile.Error(qrelsPath, n, "expected 'query-position doc-id code' (three integers)",
                    "cranqrel lines are e.g. '1 184 2'; use the original file");
            }
            if (q < 1 || q > queries.Count)
            {
                throw DataFile.Error(qrelsPath, n, $"query number {q} is outside 1..{queries.Count} (the number of queries in cran.qry)",
                    "cranqrel numbers queries by position in cran.qry; use the cran.qry that belongs with this cranqrel");
            }
            if (code == -1)
            {
                continue;
            }
            if (code is < 1 or > 4)
            {
                throw DataFile.Error(qrelsPath, n, $"relevance code {code} is not one of 1..4 (or -1)",
                    "Cranfield codes are 1 (best) to 4 (minimum interest)");
            }
            qrels.Add(q.ToString(CultureInfo.InvariantCulture), parts[1], 5 - code);
        }
        return new EvaluationDataset("cranfield", documents, queries, qrels) { Warnings = warnings };
    }

    /// <summary>
    /// Loads CISI from a folder holding <c>CISI.ALL</c>, <c>CISI.QRY</c> and <c>CISI.REL</c>.
    /// Query ids are the <c>.I</c> numbers (1..112, which is also what <c>CISI.REL</c> uses). The query text is the
    /// <c>.W</c> field (some queries also carry a <c>.T</c>/<c>.A</c>/<c>.B</c> citation; the title is prepended when present).
    /// <c>CISI.REL</c> rows are <c>qid docid 0 0.000000</c>: binary judgments, loaded as relevance 1.
    /// Only 76 of the 112 queries have judgments; <see cref="EvaluationDataset.Queries"/> keeps those 76
    /// (like BEIR keeps only judged queries).
    /// </summary>
    public static EvaluationDataset LoadCisi(string folder, bool onlyJudgedQueries = true)
    {
        var docsPath = Path.Combine(folder, "CISI.ALL");
        var queriesPath = Path.Combine(folder, "CISI.QRY");
        var qrelsPath = Path.Combine(folder, "CISI.REL");
        DataFile.RequireFile(docsPath, "CISI documents (CISI.ALL)");
        DataFile.RequireFile(queriesPath, "CISI queries (CISI.QRY)");
        DataFile.RequireFile(qrelsPath, "CISI qrels (CISI.REL)");

        var warnings = new List<string>();
        var documents = ReadDocuments(docsPath, warnings);
        var allQueries = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var record in ReadRecords(queriesPath))
        {
            var title = record.Field('T');
            var text = record.Field('W') ?? "";
            if (!allQueries.TryAdd(record.Id, string.IsNullOrEmpty(title) ? text : title + "\n" + text))
            {
                throw DataFile.Error(queriesPath, record.LineNumber, $"query .I {record.Id} appears twice", "Query numbers must be unique");
            }
        }

        var qrels = new Qrels();
        foreach (var (n, line) in DataFile.Lines(qrelsPath))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            var parts = DataFile.SplitWhitespace(line);
            if (parts.Length is < 2 or > 4)
            {
                throw DataFile.Error(qrelsPath, n, $"expected 'qid docid 0 0.000000' but found {parts.Length} columns",
                    "CISI.REL lines are 'query-id doc-id 0 0.000000'; use the original file");
            }
            if (!allQueries.ContainsKey(parts[0]))
            {
                throw DataFile.Error(qrelsPath, n, $"query {parts[0]} is not in CISI.QRY", "Use the CISI.QRY that belongs with this CISI.REL");
            }
            qrels.Add(parts[0], parts[1], 1);
        }

        IReadOnlyDictionary<string, string> queries = onlyJudgedQueries
            ? allQueries.Where(kv => qrels.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal)
            : allQueries;
        return new EvaluationDataset("cisi", documents, queries, qrels) { Warnings = warnings };
    }

    /// <summary>
    /// Loads CACM from a folder holding <c>cacm.all</c>, <c>query.text</c> and <c>qrels.text</c> (the SMART release).
    /// <para>Quirks handled: <c>qrels.text</c> writes query ids zero-padded (<c>01 1410 0 0</c>) while <c>query.text</c>
    /// says <c>.I 1</c>, so query ids are compared as numbers and kept unpadded; most documents have only a title
    /// (<c>.T</c>, no <c>.W</c>), which then is their text. Only the 52 of 64 queries with judgments are kept.</para>
    /// </summary>
    public static EvaluationDataset LoadCacm(string folder)
    {
        var docsPath = Path.Combine(folder, "cacm.all");
        var queriesPath = Path.Combine(folder, "query.text");
        var qrelsPath = Path.Combine(folder, "qrels.text");
        DataFile.RequireFile(docsPath, "CACM documents (cacm.all)");
        DataFile.RequireFile(queriesPath, "CACM queries (query.text)");
        DataFile.RequireFile(qrelsPath, "CACM qrels (qrels.text)");

        var warnings = new List<string>();
        var documents = ReadDocuments(docsPath, warnings);
        var allQueries = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var record in ReadRecords(queriesPath))
        {
            var id = Unpad(record.Id) ?? throw DataFile.Error(queriesPath, record.LineNumber, $"query id '{record.Id}' is not a number", "CACM query ids are numbers (.I 1 ... .I 64)");
            if (!allQueries.TryAdd(id, record.Field('W') ?? record.Field('T') ?? ""))
            {
                throw DataFile.Error(queriesPath, record.LineNumber, $"query .I {record.Id} appears twice", "Query numbers must be unique");
            }
        }
        var qrels = new Qrels();
        foreach (var (n, line) in DataFile.Lines(qrelsPath))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            var parts = DataFile.SplitWhitespace(line);
            if (parts.Length is < 2 or > 4 || Unpad(parts[0]) is not { } q)
            {
                throw DataFile.Error(qrelsPath, n, "expected 'query-id doc-id 0 0' (e.g. '01 1410  0 0')", "Use the qrels.text of the CACM release");
            }
            if (!allQueries.ContainsKey(q))
            {
                throw DataFile.Error(qrelsPath, n, $"query {parts[0]} is not in query.text", "Use the query.text that belongs with this qrels.text");
            }
            qrels.Add(q, Unpad(parts[1]) ?? parts[1], 1);
        }
        var queries = allQueries.Where(kv => qrels.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        return new EvaluationDataset("cacm", documents, queries, qrels) { Warnings = warnings };

        static string? Unpad(string id) => int.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v.ToString(CultureInfo.InvariantCulture) : null;
    }

    /// <summary>
    /// Reads SMART document records: id from <c>.I</c>, title from <c>.T</c> (lines joined by spaces), text from <c>.W</c>
    /// (line breaks kept; the title when
    /// <c>.W</c> is empty), authors (<c>.A</c>) and bibliography (<c>.B</c>) into metadata.
    /// </summary>
    public static IReadOnlyList<Document> ReadDocuments(string path, ICollection<string>? warnings = null)
    {
        DataFile.RequireFile(path, "SMART document file");
        var docs = new List<Document>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var record in ReadRecords(path, warnings))
        {
            if (!ids.Add(record.Id))
            {
                throw DataFile.Error(path, record.LineNumber, $"document .I {record.Id} appears twice", "Document numbers must be unique");
            }
            var title = record.Field('T')?.Replace('\n', ' ');
            var text = record.Field('W');
            if (string.IsNullOrEmpty(text))
            {
                text = title ?? "";
            }
            Dictionary<string, object?>? metadata = null;
            var authors = record.Field('A');
            var bib = record.Field('B');
            if (!string.IsNullOrEmpty(authors) || !string.IsNullOrEmpty(bib))
            {
                metadata = new Dictionary<string, object?>(StringComparer.Ordinal);
                if (!string.IsNullOrEmpty(authors))
                {
                    metadata["authors"] = authors;
                }
                if (!string.IsNullOrEmpty(bib))
                {
                    metadata["source"] = bib;
                }
            }
            docs.Add(new Document(text, record.Id, string.IsNullOrEmpty(title) ? null : title, metadata));
        }
        return docs;
    }

    /// <summary>One SMART record: its <c>.I</c> id, the line it starts on, and its fields (marker letter → text).</summary>
    public sealed class SmartRecord
    {
        internal SmartRecord(string id, int lineNumber)
        {
            Id = id;
            LineNumber = lineNumber;
        }

        public string Id { get; }
        public int LineNumber { get; }
        internal Dictionary<char, StringBuilder> Fields { get; } = [];

        /// <summary>A field's text (lines joined by '\n', trimmed), or null when the record lacks it.</summary>
        public string? Field(char marker) => Fields.TryGetValue(marker, out var sb) ? sb.ToString().Trim() : null;
    }

    /// <summary>Splits a SMART file into records. Lines before the first <c>.I</c> are an error.</summary>
    public static IEnumerable<SmartRecord> ReadRecords(string path, ICollection<string>? warnings = null)
    {
        DataFile.RequireFile(path, "SMART file");
        SmartRecord? current = null;
        StringBuilder? field = null;
        foreach (var (n, line) in DataFile.Lines(path, warnings))
        {
            var idMatch = IdLine().Match(line);
            if (idMatch.Success)
            {
                if (current is not null)
                {
                    yield return current;
                }
                current = new SmartRecord(idMatch.Groups[1].Value, n);
                field = null;
                continue;
            }
            var markerMatch = MarkerLine().Match(line);
            if (markerMatch.Success)
            {
                if (current is null)
                {
                    throw DataFile.Error(path, n, $"field marker '{line.Trim()}' before the first '.I' record", "SMART files start each record with '.I <id>'");
                }
                var marker = markerMatch.Groups[1].Value[0];
                if (current.Fields.TryGetValue(marker, out var existing))
                {
                    existing.Append('\n'); // repeated field: concatenate
                    field = existing;
                }
                else
                {
                    field = new StringBuilder();
                    current.Fields[marker] = field;
                }
                continue;
            }
            if (current is null)
            {
                if (string.IsNullOrWhiteSpace(line))
                {
                    continue;
                }
                throw DataFile.Error(path, n, "text before the first '.I' record", "SMART files start each record with '.I <id>'");
            }
            if (field is null)
            {
                if (string.IsNullOrWhiteSpace(line))
                {
                    continue;
                }
                throw DataFile.Error(path, n, "text after '.I' but before any field marker (.T, .A, .W, ...)", "Put a field marker line before the text");
            }
            if (field.Length > 0)
            {
                field.Append('\n');
            }
            field.Append(line.TrimEnd());
        }
        if (current is not null)
        {
            yield return current;
        }
    }

    [GeneratedRegex(@"^\.I\s+(\S+)\s*$")]
    private static partial Regex IdLine();

    [GeneratedRegex(@"^\.([A-Z])\s*$")]
    private static partial Regex MarkerLine();
}
