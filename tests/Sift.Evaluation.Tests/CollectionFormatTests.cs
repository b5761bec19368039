using System.Text;
using Sift.Evaluation.Loaders;

namespace Sift.Evaluation.Tests;

/// <summary>
/// CACM (SMART) and TREC-layout collections, invalid UTF-8 reporting and JSON error text. CACM and NPL/Vaswani are not in
/// ../shared, so each test writes a small collection in the exact layout of the real release to a temporary folder.
/// </summary>
public sealed class CollectionFormatTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sift-collections-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Cacm_reads_zero_padded_query_ids_and_title_only_documents()
    {
        // As in the SMART release: CRLF, title-only records, .B/.A/.N/.X fields, qrels ids zero-padded.
        Write("cacm.all", ".I 1\r\n.T\r\nPreliminary Report-International Algebraic Language\r\n.B\r\nCACM December, 1958\r\n.A\r\nPerlis, A. J.\r\n.N\r\nCA581203 JB March 22, 1978  8:28 PM\r\n.X\r\n100\t5\t1\r\n"
            + ".I 2\r\n.T\r\nExtraction of Roots by Repeated Subtractions for Digital Computers\r\n.W\r\nA method of extracting roots.\r\n.B\r\nCACM December, 1958\r\n"
            + ".I 3\r\n.T\r\nTechniques Department on Matrix Program Schemes\r\n");
        Write("query.text", ".I 1\r\n.W\r\n What articles exist which deal with TSS (Time Sharing System)?\r\n.N\r\n 1. Richard Alexander\r\n"
            + ".I 2\r\n.W\r\n I am interested in articles on roots.\r\n.N\r\n 2. Someone\r\n.I 3\r\n.W\r\n unjudged query\r\n");
        Write("qrels.text", "01 1410  0 0\r\n01 3  0 0\r\n02 2  0 0\r\n");
        var ds = DatasetLoader.Load(_dir);
        Assert.Equal("cacm", ds.Name);
        Assert.Equal(3, ds.Documents.Count);
        Assert.Equal("Preliminary Report-International Algebraic Language", ds.Documents[0].Text); // no .W: the title is the text
        Assert.Equal("A method of extracting roots.", ds.Documents[1].Text);
        Assert.Equal(["1", "2"], ds.Queries.Keys.Order().ToArray()); // query 3 has no judgments
        Assert.Equal(1, ds.Qrels.For("1")["3"]);
        Assert.Equal(1, ds.Qrels.For("2")["2"]);
        Assert.Empty(ds.Warnings);
    }

    [Fact]
    public void Cacm_qrels_naming_an_unknown_query_blames_qrels_text()
    {
        Write("cacm.all", ".I 1\n.T\nA title\n");
        Write("query.text", ".I 1\n.W\nq\n");
        Write("qrels.text", "07 1 0 0\n");
        var e = Assert.Throws<SiftException>(() => DatasetLoader.Load(_dir));
        Assert.Contains("qrels.text, line 1", e.Message);
        Assert.Contains("query 07 is not in query.text", e.Message);
    }

    [Fact]
    public void Trec_layout_with_classic_topics_and_several_document_files()
    {
        Write("docs/fbis.1", "<DOC>\n<DOCNO> FBIS3-1 </DOCNO>\n<HT> header </HT>\n<HEADLINE>\nBoats &amp; ships\n</HEADLINE>\n<TEXT>\nThe fleet sailed at dawn.\n</TEXT>\n</DOC>\n"
            + "<DOC><DOCNO>FBIS3-2</DOCNO><TEXT>Grain exports rose.</TEXT></DOC>\n");
        Write("docs/ft.gz.txt", "<DOC>\n<DOCNO>FT911-3</DOCNO>\n<TEXT>Interest rates\nfell sharply.</TEXT>\n</DOC>\n");
        Write("topics.301", "<top>\n<num> Number: 301\n<title> International Organized Crime\n\n<desc> Description:\nIdentify organizations.\n\n<narr> Narrative:\nA relevant document...\n</top>\n\n"
            + "<top>\n<num> Number: 302\n<title> Poliomyelitis and Post-Polio\n<desc> Description:\nIs the disease under control?\n</top>\n");
        Write("qrels.301", "301 0 FBIS3-1 1\n301 0 FBIS3-2 0\n302 0 FT911-3 2\n");
        var ds = DatasetLoader.Load(_dir);
        Assert.Equal(3, ds.Documents.Count);
        var first = ds.Documents.Single(d => d.Id == "FBIS3-1");
        Assert.Equal("Boats & ships", first.Title);
        Assert.Equal("header The fleet sailed at dawn.", first.Text);
        Assert.Equal("Grain exports rose.", ds.Documents.Single(d => d.Id == "FBIS3-2").Text);
        Assert.Equal("Interest rates fell sharply.", ds.Documents.Single(d => d.Id == "FT911-3").Text);
        Assert.Equal("International Organized Crime", ds.Queries["301"]);
        Assert.Equal("Poliomyelitis and Post-Polio", ds.Queries["302"]);
        Assert.Equal(2, ds.Qrels.For("302")["FT911-3"]);
    }

    [Fact]
    public void Trec_layout_as_terrier_ships_vaswani()
    {
        // Terrier's vaswani: upper-case tags, "<NUM>1<NUM>", the title on its tag's line, qrels 'qid 0 docno 1'.
        Write("corpus/doc-text.trec", "<DOC>\n<DOCNO>1</DOCNO>\ncompact memories have flexible capacities  a digital data storage\nsystem with capacity up to bits\n</DOC>\n<DOC>\n<DOCNO>2</DOCNO>\nan electronic analogue computer for solving systems of linear equations\n</DOC>\n");
        Write("query-text.trec", "<TOP>\n<NUM>1<NUM>\n<TITLE>MEASUREMENT OF DIELECTRIC CONSTANT OF LIQUIDS BY THE USE OF\nMICROWAVE TECHNIQUES\n</TOP>\n<TOP>\n<NUM>2<NUM>\n<TITLE>MATHEMATICAL ANALYSIS AND DESIGN DETAILS OF WAVEGUIDE FED\n</TOP>\n");
        Write("qrels", "1 0 1 1\n2 0 2 1\n");
        var ds = DatasetLoader.Load(_dir);
        Assert.Equal(2, ds.Documents.Count);
        Assert.Equal("compact memories have flexible capacities a digital data storage system with capacity up to bits", ds.Documents[0].Text);
        Assert.Equal("MEASUREMENT OF DIELECTRIC CONSTANT OF LIQUIDS BY THE USE OF MICROWAVE TECHNIQUES", ds.Queries["1"]);
        Assert.Equal("MATHEMATICAL ANALYSIS AND DESIGN DETAILS OF WAVEGUIDE FED", ds.Queries["2"]);
    }

    [Fact]
    public void Trec_layout_errors_name_the_file_and_the_fix()
    {
        Write("docs.trec", "<DOC>\n<DOCNO>1</DOCNO>\ntext\n</DOC>\n<DOC>\n<DOCNO>1</DOCNO>\nagain\n</DOC>\n");
        Write("topics", "<top>\n<num> Number: 1\n<title> t\n</top>\n");
        Write("qrels.txt", "1 0 1 1\n");
        var e = Assert.Throws<SiftException>(() => DatasetLoader.Load(_dir));
        Assert.Contains("docs.trec, line 5: DOCNO '1' appears twice", e.Message);

        Write("docs.trec", "<DOC>\n<DOCNO>1</DOCNO>\ntext\n");
        e = Assert.Throws<SiftException>(() => DatasetLoader.Load(_dir));
        Assert.Contains("never closed", e.Message);

        Write("docs.trec", "<DOC>\n<DOCNO>1</DOCNO>\ntext\n</DOC>\n");
        File.Delete(Path.Combine(_dir, "qrels.txt"));
        e = Assert.Throws<SiftException>(() => DatasetLoader.Load(_dir));
        Assert.Contains("no qrels file", e.Message);
    }

    [Fact]
    public void Unrecognised_folder_says_how_to_convert()
    {
        Write("notes.txt", "hello\n");
        var e = Assert.Throws<SiftException>(() => DatasetLoader.Load(_dir));
        Assert.Contains("not a recognised dataset", e.Message);
        Assert.Contains("corpus.jsonl lines {\"_id\"", e.Message);
        Assert.Contains("qrels/test.tsv", e.Message);
    }

    [Fact]
    public void Invalid_utf8_in_a_beir_corpus_is_replaced_counted_and_reported()
    {
        var bad = new List<byte>();
        bad.AddRange(Encoding.UTF8.GetBytes("{\"_id\": \"d1\", \"text\": \"clean\"}\n{\"_id\": \"d2\", \"text\": \"ab"));
        bad.AddRange([0xFF, 0xFE]);
        bad.AddRange(Encoding.UTF8.GetBytes("cd\"}\n{\"_id\": \"d3\", \"text\": \"caf"));
        bad.Add(0xE9); // latin-1 é
        bad.AddRange(Encoding.UTF8.GetBytes("\"}\n"));
        File.WriteAllBytes(Path.Combine(_dir, "corpus.jsonl"), bad.ToArray());
        Write("queries.jsonl", "{\"_id\": \"q1\", \"text\": \"q\"}\n");
        Write("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\n");
        var ds = DatasetLoader.Load(_dir);
        Assert.Equal("ab\uFFFD\uFFFDcd", ds.Documents[1].Text);
        var w = Assert.Single(ds.Warnings);
        Assert.Contains("corpus.jsonl: 3 invalid UTF-8 byte sequence(s) in 2 line(s)", w);
        Assert.Contains("(first on line 2)", w);
        Assert.Contains("iconv", w);
    }

    [Fact]
    public void Invalid_utf8_in_an_index_corpus_is_counted_on_the_final_progress_report()
    {
        var path = Path.Combine(_dir, "lines.txt");
        File.WriteAllBytes(path, [.. Encoding.UTF8.GetBytes("first line\nsecond "), 0xC3, 0x28, .. Encoding.UTF8.GetBytes(" line\n")]);
        CorpusProgress? last = null;
        var docs = CorpusReader.Read(path, progress: new Sync<CorpusProgress>(p => last = p)).ToList();
        Assert.Equal(2, docs.Count);
        Assert.Equal("second \uFFFD( line", docs[1].Text);
        Assert.True(last!.Completed);
        Assert.Equal(1, last.InvalidUtf8);
        Assert.Contains("1 invalid UTF-8 byte sequence(s) in 1 line(s)", last.Warning);

        File.WriteAllText(path, "clean\n");
        CorpusReader.Read(path, progress: new Sync<CorpusProgress>(p => last = p)).ToList();
        Assert.Null(last!.Warning);
    }

    [Fact]
    public void Json_errors_give_one_consistent_position()
    {
        Write("corpus.jsonl", "{\"_id\": \"d1\", \"text\": \"a\"}\n{\"_id\": \"d2\", \"text\": x}\n");
        Write("queries.jsonl", "{\"_id\": \"q1\", \"text\": \"q\"}\n");
        Write("qrels/test.tsv", "q1\td1\t1\n");
        var e = Assert.Throws<SiftException>(() => DatasetLoader.Load(_dir));
        Assert.Contains("corpus.jsonl, line 2: invalid JSON", e.Message);
        Assert.DoesNotContain("LineNumber", e.Message);
        Assert.Matches(@"At byte \d+ of the line", e.Message);

        var corpus = Write("c.jsonl", "{\"_id\": \"d1\", \"text\": \"a\"}\n{\"_id\": \"d2\" \"text\": \"b\"}\n");
        var e2 = Assert.Throws<SiftException>(() => CorpusReader.Read(corpus).ToList());
        Assert.Contains("line 2 is not valid JSON", e2.Message);
        Assert.DoesNotContain("LineNumber", e2.Message);
    }

    private sealed class Sync<T>(Action<T> a) : IProgress<T>
    {
        public void Report(T value) => a(value);
    }
}
