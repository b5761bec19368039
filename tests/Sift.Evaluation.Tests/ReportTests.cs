using System.Text.Json;
using Sift.Evaluation.Loaders;
using Sift.Testing;

namespace Sift.Evaluation.Tests;

public sealed class ReportTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sift-report-tests-" + Guid.NewGuid().ToString("N"));

    public ReportTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        // Set SIFT_TEST_ARTIFACTS to a folder to keep the generated reports and charts (e.g. as CI artifacts).
        var keep = Environment.GetEnvironmentVariable("SIFT_TEST_ARTIFACTS");
        if (!string.IsNullOrEmpty(keep) && Directory.Exists(_dir))
        {
            Directory.CreateDirectory(keep);
            foreach (var file in Directory.GetFiles(_dir))
            {
                File.Copy(file, Path.Combine(keep, Path.GetFileName(file)), overwrite: true);
            }
        }
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static EvaluationReport Sample(string name, double q1, double q2)
    {
        var qrels = new Qrels();
        qrels.Add("q1", "a", 1);
        qrels.Add("q2", "b", 2);
        var run = new Run();
        run.Add("q1", "a", q1, 1);
        run.Add("q1", "x", 0.5, 2);
        run.Add("q2", "b", q2, 1);
        run.Add("q2", "y", 0.5, 2);
        var result = Evaluator.Evaluate(qrels, run, ["ndcg@10", "mrr@10", "recall@100"]);
        return EvaluationReport.From(name, result, "toy", new Dictionary<string, double> { ["rerank"] = 12.5 });
    }

    [Fact]
    public void Report_json_has_snake_case_properties_and_round_trips()
    {
        var report = Sample("bm25", 1.0, 0.1);
        var json = report.ToJson();
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("bm25", root.GetProperty("configuration").GetString());
        Assert.Equal("toy", root.GetProperty("dataset").GetString());
        Assert.Equal(1, root.GetProperty("relevance_level").GetInt32());
        Assert.Equal(2, root.GetProperty("query_count").GetInt32());
        var aggregate = root.GetProperty("aggregate");
        Assert.Equal(["ndcg@10", "mrr@10", "recall@100"], aggregate.EnumerateObject().Select(p => p.Name));
        Assert.Equal(0.75, aggregate.GetProperty("mrr@10").GetDouble(), 1e-12);
        Assert.Equal(0.5, root.GetProperty("per_query").GetProperty("q2").GetProperty("mrr@10").GetDouble(), 1e-12);
        Assert.Equal(12.5, root.GetProperty("timings_ms").GetProperty("rerank").GetDouble());

        var path = Path.Combine(_dir, "r.json");
        report.Save(path);
        var back = EvaluationReport.Load(path);
        Assert.Equal(report.Configuration, back.Configuration);
        Assert.Equal(report.Aggregate, back.Aggregate);
        Assert.Equal(report.PerQuery["q2"], back.PerQuery["q2"]);
    }

    [Fact]
    public void Invalid_report_json_is_a_sift_exception()
    {
        var path = Path.Combine(_dir, "bad.json");
        File.WriteAllText(path, "{ not json");
        var ex = Assert.Throws<SiftException>(() => EvaluationReport.Load(path));
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void Comparison_writes_markdown_png_and_win_tie_loss()
    {
        var baseline = Sample("bm25", 1.0, 0.1);          // q2 ranked second
        var better = Sample("bm25+ce", 1.0, 2.0);         // q2 fixed: win on q2, tie on q1
        var worse = Sample("other", 0.1, 0.1);            // q1 broken: loss on q1, tie on q2
        var files = ComparisonReport.Write([baseline, better, worse], _dir, new ComparisonOptions { Title = "Toy comparison" });

        var md = File.ReadAllText(files.MarkdownPath);
        Assert.Contains("# Toy comparison", md);
        Assert.Contains("| configuration | ndcg@10 | mrr@10 | recall@100 | queries |", md);
        Assert.Contains("| bm25+ce | **1.0000** | **1.0000** | **1.0000** | 2 |", md);
        Assert.Contains("| bm25+ce | ndcg@10 | 1 | 1 | 0 |", md);
        Assert.Contains("| other | mrr@10 | 0 | 1 | 1 |", md);
        Assert.Contains("](comparison.png)", md);
        Assert.Contains("](comparison-delta-bm25_ce.png)", md);
        Assert.Contains("## Timings (ms)", md);

        var mrr = files.WinTieLoss.Single(w => w.Configuration == "bm25+ce" && w.Metric == "mrr@10");
        Assert.Equal((1, 1, 0), (mrr.Wins, mrr.Ties, mrr.Losses));
        Assert.Equal(0.25, mrr.MeanDelta, 1e-12);

        AssertPng(files.ChartPath, files.Warnings);
        Assert.Equal(2, files.DeltaChartPaths.Count);
        foreach (var p in files.DeltaChartPaths)
        {
            AssertPng(p, files.Warnings);
        }
    }

    [Fact]
    public void Comparison_on_dl19_with_a_shuffled_challenger()
    {
        var dir = Path.Combine(TestPaths.Data, "trec-dl19-passage");
        var list = CandidateListLoader.Load(Path.Combine(dir, "retrieve_results_dl19_top100.json"));
        var qrels = TrecFormat.ReadQrels(Path.Combine(dir, "qrels.dl19-passage.txt"));
        var bm25 = list.ToRun("bm25");
        // Challenger: reversed BM25 order (a deliberately bad "reranker").
        var reversed = new Run("reversed");
        foreach (var q in list.Queries)
        {
            for (var i = 0; i < q.Candidates.Count; i++)
            {
                reversed.Add(q.QueryId, q.Candidates[i].Document.Id!, i, q.Candidates.Count - i);
            }
        }
        var metrics = Metric.ParseList("ndcg@10,mrr@10,recall@100");
        var a = EvaluationReport.From("bm25", Evaluator.Evaluate(qrels, bm25, metrics), "dl19");
        var b = EvaluationReport.From("reversed", Evaluator.Evaluate(qrels, reversed, metrics), "dl19");
        var files = ComparisonReport.Write([a, b], _dir, new ComparisonOptions { FileStem = "dl19" });
        AssertPng(files.ChartPath, files.Warnings);
        var w = files.WinTieLoss.Single(x => x.Metric == "ndcg@10");
        Assert.Equal(43, w.Wins + w.Ties + w.Losses);
        Assert.True(w.Losses > w.Wins);
        var recall = files.WinTieLoss.Single(x => x.Metric == "recall@100");
        Assert.Equal(43, recall.Ties); // same 100 documents, same recall
    }

    [Fact]
    public void Comparison_rejects_bad_input()
    {
        Assert.Throws<SiftException>(() => ComparisonReport.Write([], _dir));
        var a = Sample("same", 1, 1);
        Assert.Throws<SiftException>(() => ComparisonReport.Write([a, a], _dir));
    }

    [Fact]
    public void Comparison_with_an_explicit_font_file()
    {
        var font = Environment.GetEnvironmentVariable("SIFT_CHART_FONT");
        if (string.IsNullOrEmpty(font))
        {
            // A regular text face (not e.g. DejaVuMathTeXGyre, whose metrics make odd charts).
            font = Directory.Exists("/usr/share/fonts")
                ? Directory.EnumerateFiles("/usr/share/fonts", "*.ttf", SearchOption.AllDirectories)
                    .OrderBy(f => Path.GetFileName(f) == "DejaVuSans.ttf" ? 0 : 1)
                    .FirstOrDefault()
                : null;
        }
        if (font is null)
        {
            return; // no font file on this machine to point at
        }
        var before = ComparisonReport.Write([Sample("a", 1.0, 0.1), Sample("b", 0.1, 2.0)], _dir, new ComparisonOptions { FileStem = "before" });
        var files = ComparisonReport.Write(
            [Sample("a", 1.0, 0.1), Sample("b", 0.1, 2.0)], _dir, new ComparisonOptions { FileStem = "font", FontFile = font });
        AssertPng(files.ChartPath, files.Warnings);
        var after = ComparisonReport.Write([Sample("a", 1.0, 0.1), Sample("b", 0.1, 2.0)], _dir, new ComparisonOptions { FileStem = "after" });
        // A custom font must not leak into later charts (ScottPlot's own Font.Set would).
        if (Environment.GetEnvironmentVariable("SIFT_CHART_FONT") is null or "")
        {
            Assert.Equal(File.ReadAllBytes(before.ChartPath!), File.ReadAllBytes(after.ChartPath!));
        }

        var missing = new ComparisonOptions { FontFile = Path.Combine(_dir, "missing.ttf") };
        Assert.Throws<SiftException>(() => ComparisonReport.Write([Sample("a", 1, 1)], _dir, missing));
    }

    private static void AssertPng(string? path, IReadOnlyList<string> warnings)
    {
        // A null chart means no fonts were found: install fonts-dejavu-core (or set SIFT_CHART_FONT) on this machine.
        Assert.True(path is not null, "chart not drawn: " + string.Join(" ", warnings));
        Assert.True(File.Exists(path), path);
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 5_000, $"{path} is only {bytes.Length} bytes");
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
    }
}
