using Sift.Evaluation.Loaders;

namespace Sift.Evaluation.Tests;

/// <summary>Synthetic files: CRLF handling, bad input, run round-trip.</summary>
public sealed class FormatTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sift-eval-tests-" + Guid.NewGuid().ToString("N"));

    public FormatTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private string Write(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void Run_write_then_read_round_trips()
    {
        var run = new Run("sift-test");
        run.Add("q2", "d9", 0.5, 1);
        run.Add("q1", "d1", 12.25, 2);
        run.Add("q1", "d2", 13.0000001, 1);
        run.Add("q1", "d3", 12.25, 3);     // ties d1 → written after d3 (docid descending)
        run.Add("q1", "d4", -1.5e-7, 4);
        var path = Path.Combine(_dir, "out", "run.txt");
        TrecFormat.WriteRun(path, run);

        var lines = File.ReadAllLines(path);
        Assert.Equal("q2 Q0 d9 1 0.5 sift-test", lines[0]);
        Assert.Equal("q1 Q0 d2 1 13.0000001 sift-test", lines[1]);
        Assert.Equal("q1 Q0 d3 2 12.25 sift-test", lines[2]);
        Assert.Equal("q1 Q0 d1 3 12.25 sift-test", lines[3]);

        var back = TrecFormat.ReadRun(path);
        Assert.Equal("sift-test", back.Tag);
        Assert.Equal(run.Count, back.Count);
        Assert.Equal(run.QueryIds, back.QueryIds);
        foreach (var q in run.QueryIds)
        {
            var a = run.Ranked(q);
            var b = back.Ranked(q);
            Assert.Equal(a.Select(e => (e.DocId, e.Score)), b.Select(e => (e.DocId, e.Score)));
            Assert.Equal(Enumerable.Range(1, b.Count), b.Select(e => e.Rank));
        }
    }

    [Fact]
    public void Readers_accept_crlf()
    {
        var qrels = TrecFormat.ReadQrels(Write("q.txt", "1 0 a 2\r\n1 0 b 0\r\n\r\n2 0 c 1\r\n"));
        Assert.Equal(3, qrels.Count);
        Assert.Equal(2, qrels.For("1")["a"]);

        var run = TrecFormat.ReadRun(Write("r.txt", "1 Q0 a 1 2.5 tag\r\n1 Q0 b 2 1.5 tag\r\n"));
        Assert.Equal(["a", "b"], run.Ranked("1").Select(e => e.DocId));
        Assert.Equal("tag", run.Tag);

        var topics = TrecFormat.ReadTopics(Write("t.tsv", "1\tfirst query \r\n2\tsecond\r\n"));
        Assert.Equal("first query", topics["1"]);

        Write("beir/corpus.jsonl", "{\"_id\": \"d1\", \"title\": \"T\", \"text\": \"x\"}\r\n{\"_id\": 7, \"text\": \"y\"}\r\n");
        Write("beir/queries.jsonl", "{\"_id\": \"q1\", \"text\": \"hello\"}\r\n{\"_id\": \"q2\", \"text\": \"unjudged\"}\r\n");
        Write("beir/qrels/test.tsv", "query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq1\t7\t0\r\n");
        var ds = BeirLoader.Load(Path.Combine(_dir, "beir"));
        Assert.Equal(2, ds.Documents.Count);
        Assert.Equal("7", ds.Documents[1].Id);
        Assert.Equal(["q1"], ds.Queries.Keys);
        Assert.Equal(1, ds.Qrels.For("q1")["d1"]);
    }

    [Fact]
    public void Sgml_topics_are_read()
    {
        var path = Write("topics.301-302.txt", """
            <top>
            <num> Number: 301
            <title> International Organized Crime

            <desc> Description:
            Identify organizations.
            </top>

            <top>
            <num> Number: 302
            <title> Poliomyelitis and Post-Polio
            <desc> Description:
            Is the disease under control?
            </top>
            """);
        var topics = TrecFormat.ReadTopics(path);
        Assert.Equal("International Organized Crime", topics["301"]);
        Assert.Equal("Poliomyelitis and Post-Polio", topics["302"]);
    }

    [Theory]
    [InlineData("1 0 a\n", "line 1")]
    [InlineData("1 0 a 1\n1 0 b x\n", "line 2")]
    public void Bad_qrels_name_file_and_line(string content, string where)
    {
        var path = Write("bad.qrels", content);
        var ex = Assert.Throws<SiftException>(() => TrecFormat.ReadQrels(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(where, ex.Message);
    }

    [Theory]
    [InlineData("1 Q0 a 1 2.5\n", "line 1")]
    [InlineData("1 Q0 a 1 2.5 t\n1 Q0 b 2 high t\n", "line 2")]
    [InlineData("1 Q0 a 1 2.5 t\n1 Q0 a 2 1.5 t\n", "twice")]
    public void Bad_runs_name_file_and_line(string content, string expected)
    {
        var path = Write("bad.run", content);
        var ex = Assert.Throws<SiftException>(() => TrecFormat.ReadRun(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Bad_jsonl_names_file_and_line()
    {
        Write("bj/corpus.jsonl", "{\"_id\": \"d1\", \"text\": \"x\"}\n{not json\n");
        Write("bj/queries.jsonl", "{\"_id\": \"q1\", \"text\": \"x\"}\n");
        Write("bj/qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\n");
        var ex = Assert.Throws<SiftException>(() => BeirLoader.Load(Path.Combine(_dir, "bj")));
        Assert.Contains("corpus.jsonl", ex.Message);
        Assert.Contains("line 2", ex.Message);

        Write("bj2/corpus.jsonl", "{\"title\": \"no id\", \"text\": \"x\"}\n");
        var ex2 = Assert.Throws<SiftException>(() => BeirLoader.ReadCorpus(Path.Combine(_dir, "bj2", "corpus.jsonl")));
        Assert.Contains("_id", ex2.Message);
    }

    [Fact]
    public void Missing_files_raise_sift_exceptions()
    {
        Assert.Throws<SiftException>(() => TrecFormat.ReadQrels(Path.Combine(_dir, "nope.txt")));
        Assert.Throws<SiftException>(() => BeirLoader.Load(Path.Combine(_dir, "nope")));
        Assert.Throws<SiftException>(() => SmartLoader.LoadCranfield(_dir));
        Assert.Throws<SiftException>(() => CandidateListLoader.Load(Path.Combine(_dir, "nope.json")));
    }

    [Fact]
    public void Bad_candidate_list_is_reported()
    {
        var path = Write("c.json", "{\"query\": \"x\"}");
        var ex = Assert.Throws<SiftException>(() => CandidateListLoader.Load(path));
        Assert.Contains("array", ex.Message);
        var path2 = Write("c2.json", "[{\"query\": \"x\", \"hits\": [{\"qid\": 1, \"docid\": \"a\", \"rank\": 1}]}]");
        var ex2 = Assert.Throws<SiftException>(() => CandidateListLoader.Load(path2));
        Assert.Contains("score", ex2.Message);
    }

    [Fact]
    public void Cranfield_qrels_outside_the_query_range_are_rejected()
    {
        Write("cran/cran.all.1400", ".I 1\r\n.T\r\ntitle\r\n.W\r\ntext\r\n");
        Write("cran/cran.qry", ".I 001\r\n.W\r\nquery one\r\n.I 004\r\n.W\r\nquery two\r\n");
        Write("cran/cranqrel", "1 1 1\r\n3 1 2\r\n");
        var ex = Assert.Throws<SiftException>(() => SmartLoader.LoadCranfield(Path.Combine(_dir, "cran")));
        Assert.Contains("cranqrel, line 2", ex.Message);

        Write("cran/cranqrel", "1 1 1\r\n2 1 4\r\n");
        var ds = SmartLoader.LoadCranfield(Path.Combine(_dir, "cran"));
        Assert.Equal("query two", ds.Queries["2"]);
        Assert.Equal(4, ds.Qrels.For("1")["1"]);
        Assert.Equal(1, ds.Qrels.For("2")["1"]);
    }
}
