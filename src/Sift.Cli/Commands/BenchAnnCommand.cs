using System.CommandLine;
using System.Diagnostics;
using Sift.Retrieval;
using Spectre.Console;

namespace Sift.Cli.Commands;

/// <summary>
/// <c>sift bench ann</c>: HNSW (USearch) against exact dense search on clustered synthetic vectors
/// (<see cref="SyntheticVectors"/>): recall@k, p50/p95 latency and speed-up per search expansion, build time and rate,
/// bytes per vector. Measured side by side in one process (see <see cref="AnnBenchmark"/>).
/// </summary>
internal static class BenchAnnCommand
{
    public static Command Create()
    {
        var count = new Option<long>("--count") { Description = "Vectors in the corpus.", DefaultValueFactory = _ => 1_000_000 };
        var queries = new Option<int>("--queries") { Description = "Queries (fresh draws from the same mixture).", DefaultValueFactory = _ => 1000 };
        var k = new Option<int>("--k") { Description = "Neighbours per query (recall@k).", DefaultValueFactory = _ => 10 };
        var dim = new Option<int>("--dim") { Description = "Dimensions.", DefaultValueFactory = _ => 384 };
        var clusters = new Option<int>("--clusters") { Description = "Gaussian mixture components.", DefaultValueFactory = _ => new SyntheticVectors().Clusters };
        var seed = new Option<int>("--seed") { Description = "Seed of the generator.", DefaultValueFactory = _ => 42 };
        var efs = new Option<int[]>("--ef") { Description = "Search expansions to measure (repeatable).", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => [16, 32, 64, 128, 256] };
        var ann = AnnCliOptions.ForBuild("(ignored: always hnsw here)");
        var work = new Option<DirectoryInfo?>("--work") { Description = "Keep the generated vectors and the graph here between runs: a build that outlasts --build-budget saves and continues on the next run (default: a temporary folder, all in one run)." };
        var budget = new Option<double>("--build-budget") { Description = "With --work: seconds of building per run before saving and stopping.", DefaultValueFactory = _ => 420 };
        var format = CliCommon.FormatOption();
        var cmd = new Command("ann", "Measure HNSW (USearch) against exact dense search on clustered synthetic vectors: recall@k, latency, build time, bytes/vector.")
        {
            count, queries, k, dim, clusters, seed, efs, ann.Connectivity, ann.ExpansionAdd, ann.Scalar, work, budget, format,
        };
        cmd.SetAction((pr, ct) => CliCommon.Run(() => Task.Run(() =>
        {
            var options = new AnnOptions
            {
                Connectivity = pr.GetValue(ann.Connectivity), ExpansionAdd = pr.GetValue(ann.ExpansionAdd), Scalar = AnnOptions.ParseScalar(pr.GetValue(ann.Scalar)!),
            };
            var settings = new AnnBenchmark.Settings
            {
                Count = pr.GetValue(count), Queries = pr.GetValue(queries), K = pr.GetValue(k), Ann = options,
                ExpansionSearch = pr.GetValue(efs) is { Length: > 0 } e ? e : [64],
                Data = new SyntheticVectors { Dimension = pr.GetValue(dim), Clusters = pr.GetValue(clusters), Seed = pr.GetValue(seed) },
                WorkDirectory = pr.GetValue(work)?.FullName,
                BuildBudget = TimeSpan.FromSeconds(pr.GetValue(budget)),
            };
            if (settings.Count < settings.K || settings.Queries < 1) throw new SiftException("--count must be at least --k, and --queries at least 1");
            foreach (var ef in settings.ExpansionSearch) AnnOptions.ValidateExpansionSearch(ef);

            // Plain progress lines (rate, ETA) every 10 s: this runs for minutes, often with stderr in a log.
            var stageClock = Stopwatch.StartNew();
            var lastLine = TimeSpan.Zero;
            var stage = "";
            var progress = new SyncProgress<(string Stage, long Done, long Total)>(p =>
            {
                if (p.Stage != stage) { stage = p.Stage; stageClock.Restart(); lastLine = TimeSpan.Zero; }
                if (stageClock.Elapsed - lastLine < TimeSpan.FromSeconds(10) && p.Done < p.Total) return;
                lastLine = stageClock.Elapsed;
                var rate = p.Done / Math.Max(1e-3, stageClock.Elapsed.TotalSeconds);
                var eta = rate > 0 ? (p.Total - p.Done) / rate : 0;
                Console.Error.WriteLine($"{p.Stage}: {p.Done:N0}/{p.Total:N0} ({rate:N0}/s, ETA {eta:N0} s)");
            });
            var r = AnnBenchmark.Run(settings, progress, ct);

            if (!r.Complete)
            {
                CliCommon.StdErr.MarkupLine($"[yellow]graph not finished:[/] {r.Built:N0} of {r.Vectors:N0} vectors linked after {r.BuildRuns} run(s), {r.BuildSeconds:0} s ({r.BuildVectorsPerSecond:N0} vectors/s on {r.BuildThreads} threads); saved in {Markup.Escape(settings.WorkDirectory!)}: run the same command again to continue");
                if (pr.GetValue(format) == OutputFormat.Json) CliCommon.WriteJson(r);
                return 3;
            }
            if (pr.GetValue(format) == OutputFormat.Json)
            {
                CliCommon.WriteJson(r);
                return 0;
            }
            var t = new Table().Title($"[bold]{r.Vectors:N0} × {r.Dimension}-d clustered synthetic vectors, {r.Queries} queries, recall@{r.K}[/]")
                .AddColumns("ef", "graph recall", "p50 ms", "p95 ms", "speed-up", "rescored recall", "p50 ms", "p95 ms", "speed-up");
            t.AddRow("exact", "1.0000", $"{r.ExactP50Ms:0.000}", $"{r.ExactP95Ms:0.000}", "1×", "", "", "", "");
            foreach (var s in r.Sweep)
            {
                t.AddRow(s.ExpansionSearch.ToString(), $"{s.Recall:0.0000}", $"{s.P50Ms:0.000}", $"{s.P95Ms:0.000}", $"{s.SpeedupP50:0.0}×",
                    $"{s.RescoredRecall:0.0000}", $"{s.RescoredP50Ms:0.000}", $"{s.RescoredP95Ms:0.000}", $"{s.RescoredSpeedupP50:0.0}×");
            }
            t.Caption("graph: USearch's own top k; rescored: its max(k, ef) candidates rescored with the exact float32 vectors, as sift search does. Speed-up: exact p50 / p50.");
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLine($"HNSW M={r.Options.Connectivity}, ef_add={r.Options.ExpansionAdd}, {AnnOptions.ScalarName(r.Options.Scalar)} ({Markup.Escape(r.Library)}): " +
                $"build {r.BuildSeconds:0.0} s in {r.BuildRuns} run(s) ({r.BuildVectorsPerSecond:N0} vectors/s on {r.BuildThreads} threads); graph {r.GraphBytesPerVector:N0} bytes/vector on disk " +
                $"({r.GraphMemoryBytes / (double)r.Vectors:N0} in memory) vs {r.ExactBytesPerVector:N0} for the exact float32 store; view opens in {r.ViewOpenMs:0.0} ms; data generated or read in {r.GenerateSeconds:0.0} s");
            return 0;
        }, ct)));
        return cmd;
    }
}
