using System.Text.Json;

namespace Sift.Core.Tests;

public class CorpusReaderTests
{
    [Fact]
    public void Reads_beir_jsonl_with_crlf_blank_lines_and_metadata()
    {
        using var tmp = new TempDir();
        var path = tmp.File("corpus.jsonl",
            "{\"_id\": \"4983\", \"title\": \"Microstructural development\", \"text\": \"Alterations of the architecture.\", \"metadata\": {}}\r\n" +
            "\r\n" +
            "{\"_id\": 5836, \"title\": \"\", \"text\": \"Second doc.\", \"metadata\": {\"year\": 2004, \"tags\": [\"a\"]}, \"url\": \"http://x\"}\r\n");

        var docs = CorpusReader.Read(path).ToList();

        Assert.Equal(2, docs.Count);
        Assert.Equal("4983", docs[0].Id);
        Assert.Equal("Microstructural development", docs[0].Title);
        Assert.Equal("Alterations of the architecture.", docs[0].Text);
        Assert.Null(docs[0].Metadata); // BEIR's empty "metadata": {} adds nothing
        Assert.Equal("5836", docs[1].Id); // numeric ids become strings
        Assert.Null(docs[1].Title);
        Assert.Equal(2004L, docs[1].Metadata!["year"]);
        Assert.Equal("http://x", docs[1].Metadata!["url"]);
        Assert.Equal(JsonValueKind.Array, ((JsonElement)docs[1].Metadata!["tags"]!).ValueKind);
    }

    [Fact]
    public void Reads_generic_and_pyserini_jsonl()
    {
        using var tmp = new TempDir();
        var path = tmp.File("docs.ndjson", "{\"id\": \"a\", \"text\": \"alpha\", \"lang\": \"en\"}\n{\"id\": \"b\", \"contents\": \"beta\"}\n{\"text\": \"no id\"}\n");
        var docs = CorpusReader.Read(path).ToList();
        Assert.Equal(["a", "b", "3"], docs.Select(d => d.Id)); // missing id: the line number
        Assert.Equal(["alpha", "beta", "no id"], docs.Select(d => d.Text));
        Assert.Equal("en", docs[0].Metadata!["lang"]);
    }

    [Fact]
    public void Document_without_text_names_file_and_line()
    {
        using var tmp = new TempDir();
        var path = tmp.File("bad.jsonl", "{\"_id\": \"1\", \"text\": \"fine\"}\n{\"_id\": \"2\", \"text\": \"fine\"}\n{\"_id\": \"3\", \"title\": \"only a title\"}\n");

        // Streaming: the first documents arrive before the bad line is even read.
        using var e = CorpusReader.Read(path).GetEnumerator();
        Assert.True(e.MoveNext());
        Assert.Equal("1", e.Current.Id);
        Assert.True(e.MoveNext());
        var ex = Assert.Throws<SiftException>(() => e.MoveNext());
        Assert.Contains("bad.jsonl line 3", ex.Message);
        Assert.Contains("\"text\"", ex.Message);
    }

    [Fact]
    public void Empty_text_and_title_and_invalid_json_are_errors()
    {
        using var tmp = new TempDir();
        var empty = tmp.File("empty-text.jsonl", "{\"_id\": \"1\", \"text\": \"  \"}\n");
        Assert.Contains("line 1", Assert.Throws<SiftException>(() => CorpusReader.Read(empty).ToList()).Message);
        var broken = tmp.File("broken.jsonl", "{\"_id\": \"1\", \"text\": \"ok\"}\n{not json\n");
        var ex = Assert.Throws<SiftException>(() => CorpusReader.Read(broken).ToList());
        Assert.Contains("broken.jsonl line 2 is not valid JSON", ex.Message);
    }

    [Fact]
    public void Title_only_documents_are_kept()
    {
        using var tmp = new TempDir();
        var path = tmp.File("t.jsonl", "{\"_id\": \"1\", \"title\": \"Just a title\", \"text\": \"\"}\n");
        var doc = Assert.Single(CorpusReader.Read(path));
        Assert.Equal("Just a title", doc.Title);
        Assert.Equal("", doc.Text);
    }

    [Fact]
    public void Missing_path_and_empty_corpus_are_errors()
    {
        using var tmp = new TempDir();
        var missing = System.IO.Path.Combine(tmp.Path, "nope.jsonl");
        var ex = Assert.Throws<SiftException>(() => CorpusReader.Read(missing));
        Assert.Contains("corpus not found", ex.Message);
        Assert.Contains(missing, ex.Message);

        var blank = tmp.File("blank.txt", "\n  \n");
        Assert.Contains("no documents", Assert.Throws<SiftException>(() => CorpusReader.Read(blank).ToList()).Message);

        var emptyFolder = Directory.CreateDirectory(System.IO.Path.Combine(tmp.Path, "empty")).FullName;
        tmp.File("empty/image.png", "not text");
        Assert.Contains("no documents", Assert.Throws<SiftException>(() => CorpusReader.Read(emptyFolder).ToList()).Message);
    }

    [Fact]
    public void Reads_plain_text_one_document_per_line()
    {
        using var tmp = new TempDir();
        var path = tmp.File("lines.txt", "first document\r\n\r\n  second document  \nthird");
        var docs = CorpusReader.Read(path).ToList();
        Assert.Equal(["1", "3", "4"], docs.Select(d => d.Id));
        Assert.Equal(["first document", "second document", "third"], docs.Select(d => d.Text));
    }

    [Fact]
    public void Reads_folders_one_document_per_file_in_stable_order()
    {
        using var tmp = new TempDir();
        tmp.File("b.txt", "bee");
        tmp.File("a/z.md", "# Zed\nzed text");
        tmp.File("a/y.TXT", "why");
        tmp.File("a/skip.json", "{}");
        tmp.File("empty.md", "   ");
        var progress = new List<CorpusProgress>();

        var docs = CorpusReader.Read(tmp.Path, progress: new SyncProgress<CorpusProgress>(progress.Add)).ToList();

        Assert.Equal(["a/y.TXT", "a/z.md", "b.txt"], docs.Select(d => d.Id));
        Assert.Equal("a/z.md", docs[1].Metadata!["source"]);
        Assert.Equal("# Zed\nzed text", docs[1].Text);
        var last = Assert.Single(progress, p => p.Completed);
        Assert.Equal(3, last.Documents);
        Assert.Equal(1, last.Skipped);
    }

    [Fact]
    public void Folder_passages_carry_source_and_offsets()
    {
        using var tmp = new TempDir();
        var text = string.Join(' ', Enumerable.Range(0, 10).Select(i => "w" + i));
        tmp.File("notes/long.txt", text);
        tmp.File("short.txt", "tiny file");

        var docs = CorpusReader.Read(tmp.Path, new CorpusOptions { Chunking = new PassageChunking(4, 1) }).ToList();

        Assert.Equal(["notes/long.txt#0", "notes/long.txt#1", "notes/long.txt#2", "short.txt#0"], docs.Select(d => d.Id));
        foreach (var d in docs.Where(d => d.Id!.StartsWith("notes/", StringComparison.Ordinal)))
        {
            Assert.Equal("notes/long.txt", d.Metadata!["source"]);
            var start = (int)(long)d.Metadata!["start"]!;
            var end = (int)(long)d.Metadata!["end"]!;
            Assert.Equal(text[start..end], d.Text);
        }
        Assert.Equal("w6 w7 w8 w9", docs[2].Text);
    }

    [Fact]
    public void Progress_reports_every_thousand_documents()
    {
        using var tmp = new TempDir();
        var path = tmp.File("many.txt", string.Join('\n', Enumerable.Range(0, 2500).Select(i => "doc " + i)));
        var reports = new List<CorpusProgress>();
        Assert.Equal(2500, CorpusReader.Read(path, progress: new SyncProgress<CorpusProgress>(reports.Add)).Count());
        Assert.Equal([1000L, 2000L, 2500L], reports.Select(r => r.Documents));
        Assert.True(reports[^1].Completed);
        Assert.Equal(reports[^1].TotalBytes, reports[^1].BytesRead);
    }

    // Progress<T> posts to the thread pool; tests need the reports synchronously.
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
