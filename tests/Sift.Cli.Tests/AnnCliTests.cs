using System.Diagnostics;
using Sift.Onnx;
using Sift.Retrieval;
using Sift.Testing;

namespace Sift.Cli.Tests;

/// <summary>
/// <c>--ann hnsw</c> through the real CLI, including a real <c>sift index</c> child process killed (SIGKILL) mid-ingest:
/// the index must reopen at its previous commit with Lucene, the exact vectors and the HNSW graph agreeing, and the
/// re-run must resume and end consistent.
/// </summary>
public sealed class AnnCliTests : IDisposable
{
    private readonly string _tmp = Directory.CreateTempSubdirectory("sift-cli-ann-").FullName;
    private static readonly string Encoder = TestPaths.Fixture("bi-bert-tiny");
    private static readonly string SciFact = Path.Combine(TestPaths.Data, "scifact", "corpus.jsonl");

    public void Dispose() => Directory.Delete(_tmp, recursive: true);

    private string Corpus(string name, int skip, int take)
    {
        var path = Path.Combine(_tmp, name);
        File.WriteAllLines(path, File.ReadLines(SciFact).Where(l => l.Length > 0).Skip(skip).Take(take));
        return path;
    }

    [Fact]
    public async Task A_killed_index_run_leaves_the_previous_commit_consistent_and_the_rerun_resumes()
    {
        var index = Path.Combine(_tmp, "idx");
        var first = CliRunner.Run("index", "--corpus", Corpus("first.jsonl", 0, 100), "--index", index, "--dense-model", Encoder, "--ann", "hnsw", "--ann-connectivity", "12");
        Assert.True(first.ExitCode == 0, first.Stderr);
        Assert.Contains("100 in its HNSW graph", first.Stderr);

        // A second, large ingest in a real child process, killed while it embeds (the journal is growing).
        var rest = Corpus("rest.jsonl", 100, 6000); // the other 5,083 abstracts
        var args = new[] { "index", "--corpus", rest, "--index", index, "--dense-model", Encoder, "--ann", "hnsw", "--ann-connectivity", "12" };
        var journal = Path.Combine(index, SiftIndex.JournalFileName);
        string childLog;
        using (var child = Start(args))
        {
            var stderr = child.StandardError.ReadToEndAsync();
            var stdout = child.StandardOutput.ReadToEndAsync();
            var clock = Stopwatch.StartNew();
            while (!(File.Exists(journal) && new FileInfo(journal).Length > 0) && !child.HasExited && clock.Elapsed < TimeSpan.FromMinutes(3))
            {
                await Task.Delay(5);
            }
            var finishedFirst = child.HasExited;
            child.Kill(); // SIGKILL on Linux: no cleanup runs
            Assert.False(finishedFirst, "the ingest finished before it could be killed: " + await stderr);
            await child.WaitForExitAsync();
            childLog = $"exit {child.ExitCode}; stderr: {await stderr}; files: {string.Join(", ", Directory.GetFiles(index).Select(Path.GetFileName))}";
        }
        Assert.True(File.Exists(journal), "killed mid-embedding, so the journal of the unfinished run is there; " + childLog);

        using (var reopened = SiftIndex.Open(index))
        {
            Assert.Equal(100, reopened.Count);
            var check = reopened.Check();
            Assert.True(check.Consistent, check.ToString());
            Assert.Equal(100, check.AnnVectors);
            Assert.Equal(12, reopened.Ann!.Options.Connectivity);
            using var encoder = BiEncoder.Load(Encoder);
            var doc = reopened.Lookup([File.ReadLines(SciFact).Skip(7).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("_id").GetString()!).First()])[0]!;
            var hit = (await reopened.Dense(encoder, search: new DenseSearchOptions { Kind = DenseSearchKind.Hnsw }).RetrieveAsync(SiftIndex.EmbeddingText(doc), 1))[0];
            Assert.Equal(doc.Id, hit.Document.Id);
        }

        // The same command again: it resumes from the journal and commits everything, graph included.
        var rerun = CliRunner.Run(args);
        Assert.True(rerun.ExitCode == 0, rerun.Stderr);
        Assert.Matches(@"[1-9][\d,]* of them\s+resumed\s+from\s+an\s+unfinished\s+run", rerun.Stderr); // Spectre wraps lines
        using var done = SiftIndex.Open(index);
        Assert.Equal(5183, done.Count);
        var final = done.Check();
        Assert.True(final.Consistent, final.ToString());
        Assert.Equal(5183, final.AnnVectors);
        Assert.False(File.Exists(journal));
        Assert.InRange(Directory.GetFiles(index, "ann-*.usearch").Length, 1, 2);
    }

    [Fact]
    public void Search_and_eval_take_the_ann_options_and_bad_ones_are_clear_errors()
    {
        var index = Path.Combine(_tmp, "idx");
        var corpus = Corpus("c.jsonl", 0, 200);
        var plain = CliRunner.Run("index", "--corpus", corpus, "--index", index, "--dense-model", Encoder);
        Assert.True(plain.ExitCode == 0, plain.Stderr);

        var noGraph = CliRunner.Run("search", "--index", index, "--mode", "dense", "--ann", "hnsw", "-q", "cancer", "--format", "json");
        Assert.Equal(2, noGraph.ExitCode);
        Assert.Contains("--ann hnsw", noGraph.Stderr);

        // A graph over the stored vectors, without re-embedding.
        var build = CliRunner.Run("index", "--index", index, "--ann", "hnsw", "--ann-scalar", "f16");
        Assert.True(build.ExitCode == 0, build.Stderr);
        Assert.Contains("built an HNSW graph of 200 vectors", build.Stderr);

        var exact = CliRunner.Run("search", "--index", index, "--mode", "dense", "--ann", "exact", "-q", "cancer cells", "--format", "json");
        var hnsw = CliRunner.Run("search", "--index", index, "--mode", "dense", "--ann", "hnsw", "--ann-expansion-search", "200", "-q", "cancer cells", "--format", "json");
        Assert.True(exact.ExitCode == 0, exact.Stderr);
        Assert.True(hnsw.ExitCode == 0, hnsw.Stderr);
        // 200 vectors and ef 200: a graph search would visit everything, so Sift scans exactly and must return the
        // exact top 10 (the random-weight fixture's near-identical vectors can leave a graph node unreachable).
        Assert.Equal(Ids(exact), Ids(hnsw));

        foreach (var (bad, expected) in new[]
        {
            (new[] { "index", "--index", index, "--ann", "hnsw", "--ann-connectivity", "1" }, "--ann-connectivity"),
            (new[] { "index", "--index", index, "--ann", "hnsw", "--ann-scalar", "f8" }, "f32, f16 or i8"),
            (new[] { "index", "--index", index, "--ann", "ivf" }, "hnsw"),
            (new[] { "index", "--index", index, "--ann-connectivity", "32" }, "add --ann hnsw"),
            (new[] { "search", "--index", index, "--mode", "dense", "--ann-expansion-search", "0", "-q", "x" }, "--ann-expansion-search"),
            (new[] { "search", "--index", index, "--mode", "dense", "--ann", "exact", "--ann-expansion-search", "50", "-q", "x" }, "no effect with --ann exact"),
        })
        {
            var r = CliRunner.Run(bad);
            Assert.True(r.ExitCode == 2, $"{string.Join(' ', bad)} → {r.ExitCode}: {r.Stderr}");
            Assert.Contains(expected, r.Stderr);
            Assert.DoesNotContain("   at ", r.Stderr); // a message, not a stack trace
        }
    }

    private static List<string> Ids(CliRunner.Result r) => r.Json.EnumerateArray().Select(h => h.GetProperty("id").GetString()!).ToList();

    private static Process Start(string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sift.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["SIFT_CACHE"] = Path.Combine(Path.GetTempPath(), "sift-cli-tests-empty-cache");
        return Process.Start(psi)!;
    }
}
