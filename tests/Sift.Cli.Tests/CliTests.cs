using System.Text.Json;
using Sift.Onnx;
using Sift.Testing;

namespace Sift.Cli.Tests;

public sealed class CliTests : IDisposable
{
    private readonly string _tmp = Directory.CreateTempSubdirectory("sift-cli-").FullName;
    private static readonly string Model = TestPaths.Fixture("ce-bert-tiny");
    private static readonly string Dl19 = Path.Combine(TestPaths.Data, "trec-dl19-passage");

    public void Dispose() => Directory.Delete(_tmp, recursive: true);

    private string Write(string name, string content)
    {
        var path = Path.Combine(_tmp, name);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void ScorePrintsScoresAndLogitsInInputOrder()
    {
        var pairs = Write("pairs.jsonl", "{\"query\":\"what is bm25\",\"document\":\"BM25 ranks documents\"}\n\n{\"query\":\"capital of france\",\"document\":\"Paris.\"}\n");
        var r = CliRunner.Run("score", "--model", Model, "--pairs", pairs, "--format", "json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var rows = r.Json.EnumerateArray().ToArray();
        Assert.Equal(2, rows.Length);
        using var ce = CrossEncoder.Load(Model);
        var expected = ce.Score([("what is bm25", "BM25 ranks documents"), ("capital of france", "Paris.")]);
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(i, rows[i].GetProperty("index").GetInt32());
            Assert.Equal(expected[i], rows[i].GetProperty("score").GetSingle(), 6);
            Assert.Equal(1, rows[i].GetProperty("logits").GetArrayLength());
        }
    }

    [Fact]
    public void RerankPrintsBestFirstWithIdsAndTopK()
    {
        var docs = Write("docs.jsonl", "{\"id\":\"a\",\"text\":\"BM25 is a ranking function\",\"lang\":\"en\"}\n{\"id\":\"b\",\"text\":\"Paris is in France\"}\n{\"_id\":\"c\",\"text\":\"Rerankers read pairs\"}\n");
        var r = CliRunner.Run("rerank", "--model", Model, "--query", "ranking function", "--docs", docs, "--format", "json", "--top-k", "2");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var rows = r.Json.EnumerateArray().ToArray();
        Assert.Equal(2, rows.Length);
        Assert.True(rows[0].GetProperty("score").GetSingle() >= rows[1].GetProperty("score").GetSingle());
        foreach (var row in rows)
        {
            Assert.Contains(row.GetProperty("id").GetString(), new[] { "a", "b", "c" });
            Assert.False(string.IsNullOrEmpty(row.GetProperty("text").GetString()));
            Assert.InRange(row.GetProperty("index").GetInt32(), 0, 2);
        }

        var plain = Write("docs.txt", "first doc\nsecond doc\n");
        var r2 = CliRunner.Run("rerank", "--model", Model, "--query", "second", "--docs", plain, "--format", "json");
        Assert.Equal(2, r2.Json.GetArrayLength());
    }

    [Fact]
    public void BadInputGivesOneClearLineAndExitCode2()
    {
        var r = CliRunner.Run("rerank", "--model", Model, "--query", "q", "--docs", Path.Combine(_tmp, "missing.jsonl"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("missing.jsonl", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr); // no stack trace

        var bad = Write("bad.jsonl", "{\"query\":\"q\"}\n");
        var r2 = CliRunner.Run("score", "--model", Model, "--pairs", bad);
        Assert.Equal(2, r2.ExitCode);
        Assert.Contains("bad.jsonl:1", r2.Stderr);

        var r3 = CliRunner.Run("rerank", "--query", "q", "--docs", Write("ok.txt", "a document\n"));
        Assert.Equal(2, r3.ExitCode);
        Assert.Contains("sift model pull cross-encoder/ms-marco-MiniLM-L-6-v2", r3.Stderr);

        var r4 = CliRunner.Run("rerank", "--model", Model, "--query", "q", "--docs", Write("d.txt", "x\n"), "--top-k", "0");
        Assert.Equal(2, r4.ExitCode);
        Assert.Contains("TopK", r4.Stderr);
    }

    [Fact]
    public void CudaOnTheCpuBuildSaysHowToGetTheGpuBuild()
    {
        var pairs = Write("p.jsonl", "{\"query\":\"q\",\"document\":\"d\"}\n");
        var r = CliRunner.Run("score", "--model", Model, "--pairs", pairs, "--device", "cuda");
        Assert.Equal(2, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("sift: error: device cuda:0: ONNX Runtime has no CUDA provider", lines[0]);
        Assert.Contains("-p:SiftGpu=true", lines[0]);

        var bench = CliRunner.Run("bench", "--model", Model, "--candidates", Path.Combine(Dl19, "retrieve_results_dl19_top100.json"), "--queries", "1", "--device", "cuda:1");
        Assert.Equal(2, bench.ExitCode);
        Assert.Contains("device cuda:1:", bench.Stderr);

        var bad = CliRunner.Run("rerank", "--model", Model, "--query", "q", "--docs", Write("d1.txt", "x\n"), "--device", "tpu");
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("--device: device 'tpu' is not one of cpu, cuda, cuda:N", bad.Stderr);
    }

    [Fact]
    public void Fp16ScoresRankLikeFp32()
    {
        var pairs = Write("p16.jsonl", "{\"query\":\"what is bm25\",\"document\":\"BM25 ranks documents\"}\n{\"query\":\"capital of france\",\"document\":\"Paris.\"}\n");
        var fp16 = CliRunner.Run("score", "--model", Model, "--pairs", pairs, "--precision", "fp16", "--format", "json");
        Assert.True(fp16.ExitCode == 0, fp16.Stderr);
        using var ce = CrossEncoder.Load(Model);
        var expected = ce.PredictLogits([("what is bm25", "BM25 ranks documents"), ("capital of france", "Paris.")]);
        var rows = fp16.Json.EnumerateArray().ToArray();
        for (var i = 0; i < 2; i++) Assert.Equal(expected[i][0], rows[i].GetProperty("logits")[0].GetSingle(), 2e-2);
    }

    [Fact]
    public void IndexThenSearchWithRerankingAndErrorsLeaveTheIndexIntact()
    {
        var corpus = Write("corpus.jsonl", string.Join('\n',
            "{\"_id\":\"d1\",\"title\":\"Fleas\",\"text\":\"A flea can live up to a year.\"}",
            "{\"_id\":\"d2\",\"title\":\"Cats\",\"text\":\"Cats sleep most of the day.\"}",
            "{\"_id\":\"d3\",\"title\":\"Flea life cycle\",\"text\":\"The flea life cycle has four stages: egg, larva, pupa, adult.\"}") + "\n");
        var index = Path.Combine(_tmp, "idx");

        var before = CliRunner.Run("search", "--index", index, "--query", "flea");
        Assert.Equal(2, before.ExitCode);
        Assert.Contains("sift index --corpus", before.Stderr);

        var built = CliRunner.Run("index", "--corpus", corpus, "--index", index);
        Assert.True(built.ExitCode == 0, built.Stderr);

        // Core names options by field; the CLI spells them as its flags.
        var impossible = CliRunner.Run("search", "--index", index, "--query", "flea", "--top-n", "5", "--top-k", "10", "--rerank-model", Model);
        Assert.Equal(2, impossible.ExitCode);
        Assert.Contains("raise --top-n to at least 10", impossible.Stderr);

        var s = CliRunner.Run("search", "--index", index, "--query", "flea life cycle", "--top-k", "2", "--rerank-model", Model, "--format", "json");
        Assert.True(s.ExitCode == 0, s.Stderr);
        var hits = s.Json.EnumerateArray().ToArray();
        Assert.Equal(2, hits.Length);
        foreach (var h in hits)
        {
            foreach (var key in new[] { "id", "score", "stage1_rank", "stage1_score", "text" }) Assert.True(h.TryGetProperty(key, out _), key);
            Assert.True(h.GetProperty("stage1_rank").GetInt32() >= 1);
        }

        // Errors: missing corpus, empty corpus, a document without text. Each leaves the 3 documents searchable.
        Assert.Contains("not", CliRunner.Run("index", "--corpus", Path.Combine(_tmp, "nope.jsonl"), "--index", index).Stderr);
        var empty = CliRunner.Run("index", "--corpus", Write("empty.jsonl", ""), "--index", index);
        Assert.Equal(2, empty.ExitCode);
        var noText = CliRunner.Run("index", "--corpus", Write("notext.jsonl", "{\"_id\":\"d9\",\"text\":\"ok\"}\n{\"_id\":\"d10\"}\n"), "--index", index);
        Assert.Equal(2, noText.ExitCode);
        Assert.Contains("notext.jsonl", noText.Stderr);
        var after = CliRunner.Run("search", "--index", index, "--query", "flea cats", "--top-k", "10", "--format", "json");
        Assert.Equal(3, after.Json.GetArrayLength());
        Assert.DoesNotContain(after.Json.EnumerateArray(), h => h.GetProperty("id").GetString() == "d9");

        // Interactive mode: one query per stdin line until EOF.
        var inter = CliRunner.RunWithInput("flea\ncats\n", "search", "--index", index, "--format", "json", "--top-k", "1");
        Assert.True(inter.ExitCode == 0, inter.Stderr);
        var lines = inter.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Equal("d2", JsonDocument.Parse(lines[1]).RootElement[0].GetProperty("id").GetString());

        // A YAML config file sets the same options; flags override it.
        var yaml = Write("search.yaml", $"index: idx\ntop_k: 1\nmode: bm25\n");
        var fromConfig = CliRunner.Run("search", "--config", yaml, "--query", "cats", "--format", "json");
        Assert.True(fromConfig.ExitCode == 0, fromConfig.Stderr);
        Assert.Equal(1, fromConfig.Json.GetArrayLength());
        Assert.Equal(2, CliRunner.Run("search", "--config", yaml, "--query", "flea", "--top-k", "2", "--format", "json").Json.GetArrayLength());

        // Delete by id.
        Assert.Equal(0, CliRunner.Run("index", "--index", index, "--delete", "d2").ExitCode);
        var deleted = CliRunner.Run("search", "--index", index, "--query", "cats", "--format", "json");
        Assert.DoesNotContain(deleted.Json.EnumerateArray(), h => h.GetProperty("id").GetString() == "d2");
    }

    [Fact]
    public void EvalOnDl19CandidatesReproducesAnserini()
    {
        var r = CliRunner.Run("eval", "--candidates", Path.Combine(Dl19, "retrieve_results_dl19_top100.json"),
            "--qrels", Path.Combine(Dl19, "qrels.dl19-passage.txt"), "--metrics", "ndcg@10,recall@100", "--format", "json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var agg = r.Json.GetProperty("aggregate");
        Assert.Equal(0.5058, agg.GetProperty("ndcg@10").GetDouble(), 0.0005);
        Assert.Equal(0.4531, agg.GetProperty("recall@100").GetDouble(), 0.0005);
        Assert.Equal(43, r.Json.GetProperty("per_query").EnumerateObject().Count());
    }

    [Fact]
    public void EvalRefusesQrelsOfAnotherTopicSetAndCountsQueriesMissingFromTheRun()
    {
        var candidates = Path.Combine(Dl19, "retrieve_results_dl19_top100.json");
        var other = Write("other.qrels", "301 0 FBIS3-1 1\n302 0 FT911-3 2\n");
        var r = CliRunner.Run("eval", "--candidates", candidates, "--qrels", other);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no query id in common", r.Stderr);
        Assert.Contains("'301'", r.Stderr);

        // The real qrels plus one judged query the candidate list lacks: evaluated as 0, and said so.
        var extended = Write("extended.qrels", File.ReadAllText(Path.Combine(Dl19, "qrels.dl19-passage.txt")) + "999999 0 7 3\n");
        var r2 = CliRunner.Run("eval", "--candidates", candidates, "--qrels", extended, "--metrics", "ndcg@10", "--format", "json");
        Assert.True(r2.ExitCode == 0, r2.Stderr);
        Assert.Contains("1 of 44 judged queries have no results in the run (e.g. 999999); they count as 0", r2.Stderr.ReplaceLineEndings(" ").Replace("  ", " "));
        Assert.Equal(["999999"], r2.Json.GetProperty("queries_without_results").EnumerateArray().Select(e => e.GetString()!).ToArray());
        Assert.Equal(0.5058 * 43 / 44, r2.Json.GetProperty("aggregate").GetProperty("ndcg@10").GetDouble(), 0.0005);
    }

    [Fact]
    public void RerankingSeveralFirstStagesScoresSharedPairsOnceWithTheSameResult()
    {
        var ds = Path.Combine(TestPaths.Data, "cisi");
        var index = Path.Combine(_tmp, "cisi-index");
        string[] common = ["eval", "--dataset", ds, "--index", index, "--dense-model", TestPaths.Fixture("bi-bert-tiny"), "--rerank-model", Model,
            "--top-n", "10", "--metrics", "ndcg@10,map", "--format", "json"];
        var both = CliRunner.Run([.. common, "--compare", "bm25,bm25+rerank,hybrid+rerank", "--interpolate", "0", "1"]);
        Assert.True(both.ExitCode == 0, both.Stderr);
        var alone = CliRunner.Run([.. common, "--compare", "hybrid+rerank"]);
        Assert.True(alone.ExitCode == 0, alone.Stderr);
        var configs = both.Json.GetProperty("configurations").EnumerateArray().ToDictionary(c => c.GetProperty("configuration").GetString()!);
        Assert.Equal(["bm25", "bm25+rerank", "bm25+rerank@0", "bm25+rerank@1", "hybrid+rerank", "hybrid+rerank@0", "hybrid+rerank@1"], configs.Keys.ToArray());
        // Weight 0 keeps the first stage's order, weight 1 the reranker's.
        double Ndcg(string c) => configs[c].GetProperty("aggregate").GetProperty("ndcg@10").GetDouble();
        Assert.Equal(Ndcg("bm25"), Ndcg("bm25+rerank@0"), 1e-9);
        Assert.Equal(Ndcg("bm25+rerank"), Ndcg("bm25+rerank@1"), 1e-9);
        var hybrid = configs["hybrid+rerank"];
        Assert.True(long.Parse(hybrid.GetProperty("parameters").GetProperty("pairs_reused_from_earlier_configurations").GetString()!) > 0);
        foreach (var q in alone.Json.GetProperty("per_query").EnumerateObject())
            foreach (var m in q.Value.EnumerateObject())
                Assert.Equal(m.Value.GetDouble(), hybrid.GetProperty("per_query").GetProperty(q.Name).GetProperty(m.Name).GetDouble(), 1e-9);
    }

    [Fact]
    public void EmptyQueriesAreRefused()
    {
        var r = CliRunner.Run("search", "--index", Path.Combine(_tmp, "no-index"), "--query", "");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--query is empty", r.Stderr);
        var r2 = CliRunner.Run("rerank", "--model", Model, "--query", "  ", "--docs", Write("e.txt", "a document\n"));
        Assert.NotEqual(0, r2.ExitCode);
        Assert.Contains("--query is empty", r2.Stderr);
    }

    [Fact]
    public void EvalRerankingACandidateListWritesRunsAndReport()
    {
        var runs = Path.Combine(_tmp, "runs");
        var report = Path.Combine(_tmp, "report");
        var r = CliRunner.Run("eval", "--candidates", Path.Combine(Dl19, "retrieve_results_dl19_top100.json"),
            "--qrels", Path.Combine(Dl19, "qrels.dl19-passage.txt"), "--rerank-model", Model, "--top-n", "20",
            "--run-out", runs, "--report", report, "--format", "json", "--relevance-level", "2");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("candidates+rerank", r.Json.GetProperty("configuration").GetString());
        Assert.Equal(2, r.Json.GetProperty("configurations").GetArrayLength());
        Assert.True(r.Json.GetProperty("timings_ms").GetProperty("rerank").GetDouble() > 0);
        var runLines = File.ReadAllLines(Path.Combine(runs, "candidates+rerank.run"));
        Assert.Equal(43 * 20, runLines.Length);
        Assert.Equal(6, runLines[0].Split(' ').Length);
        Assert.True(File.Exists(Path.Combine(report, "comparison.md")));
        var png = File.ReadAllBytes(Path.Combine(report, "comparison.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
    }
}
