using System.CommandLine;
using Sift.Evaluation.Loaders;
using Sift.Hosting;
using Sift.Onnx;
using Spectre.Console;

namespace Sift.Cli.Commands;

/// <summary><c>sift bench</c>: latency and throughput of reranking real candidate lists.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var model = CliCommon.ModelOption();
        var candidates = new Option<FileInfo>("--candidates") { Description = "Candidate-list JSON (e.g. retrieve_results_dl19_top100.json): per query, its first-stage hits with text.", Required = true };
        var queries = new Option<int?>("--queries") { Description = "Benchmark only the first N queries." };
        var warmup = new Option<int>("--warmup") { Description = "Untimed queries before measuring.", DefaultValueFactory = _ => 2 };
        var precision = CliCommon.PrecisionOption();
        var batchSize = CliCommon.BatchSizeOption();
        var threads = CliCommon.ThreadsOption();
        var maxLength = CliCommon.MaxLengthOption();
        var noSort = new Option<bool>("--no-length-sort") { Description = "Batch in input order instead of by length (to measure what sorting buys)." };
        var format = CliCommon.FormatOption();
        var concurrent = new Option<int>("--concurrent-batches") { Description = "Batches run at once (0: automatic, one single-threaded batch per core up to 4; see CrossEncoderOptions.ConcurrentBatches).", DefaultValueFactory = _ => 0 };
        var ortConfig = new Option<string[]>("--ort-config") { Description = "ONNX Runtime session config entries KEY=VALUE (repeatable).", AllowMultipleArgumentsPerToken = true };
        var agreement = new Option<bool>("--agreement") { Description = "Instead of timing: score every pair with fp32 and int8 and report the Spearman correlation of their scores." };
        var soak = new Option<int?>("--soak") { Description = "Instead of timing: run N rerank calls and report memory before and after (leak check)." };
        var soakDocs = new Option<int>("--soak-docs") { Description = "Candidates per call in --soak.", DefaultValueFactory = _ => 10 };
        var fuse = new Option<bool>("--fuse-attention") { Description = "Fuse each layer's attention into one MultiHeadAttention node before loading (bit-exact; cached)." };
        var noHostAttention = new Option<bool>("--onnx-attention") { Description = "Let ONNX Runtime compute attention instead of Sift's AVX-512 kernel (to measure what the kernel buys)." };
        var onnxGelu = new Option<bool>("--onnx-gelu") { Description = "Let ONNX Runtime compute GELU instead of Sift's AVX-512 kernel." };
        var fullLastLayer = new Option<bool>("--full-last-layer") { Description = "Compute the last layer for every token, not just the first one the classifier reads (to measure what that buys)." };
        var profile = new Option<bool>("--profile") { Description = "Also profile ONNX Runtime and print time per operator type (slower; for finding hot spots)." };
        var device = CliCommon.DeviceOption();
        var maxBatchTokens = CliCommon.MaxBatchTokensOption();
        var ioBinding = new Option<bool?>("--io-binding") { Description = "Feed ONNX Runtime through IO binding (true/false; default: on for CUDA only)." };
        var fusableNorms = new Option<bool>("--fp16-fusable-norms") { Description = "With --precision fp16: leave LayerNorm and softmax in fp16 so ONNX Runtime's CUDA fusions apply (default: fp32 with Casts)." };
        var referenceDevice = new Option<ExecutionDevice>("--reference-device")
        {
            Description = "With --agreement: where the fp32 reference runs (default cpu). The candidate is --precision on --device; fp32 on the reference device compares against int8.",
            DefaultValueFactory = _ => ExecutionDevice.Cpu,
            CustomParser = CliCommon.DeviceOption().CustomParser,
        };

        var cmd = new Command("bench", "Measure reranking latency (p50/p95 per query), throughput, padding waste and where time goes.")
        {
            model, candidates, queries, warmup, precision, batchSize, threads, maxLength, noSort, format, profile, concurrent, ortConfig, agreement, soak, soakDocs, fuse, noHostAttention, onnxGelu, fullLastLayer,
            device, maxBatchTokens, ioBinding, referenceDevice, fusableNorms,
        };
        cmd.Subcommands.Add(BenchEmbedCommand.Create());
        cmd.Subcommands.Add(BenchAnnCommand.Create());
        cmd.SetAction((pr, ct) => CliCommon.Run(() =>
        {
            var trace = Environment.GetEnvironmentVariable("SIFT_TRACE_STARTUP") == "1";
            void Mark(string what) { if (trace) Console.Error.WriteLine($"[startup] {ProcessClock.Age().TotalMilliseconds:0} ms {what}"); }
            Mark("command start");
            var list = CandidateListLoader.Load(pr.GetValue(candidates)!.FullName);
            Mark("candidates loaded");
            var selected = list.Queries.Take(pr.GetValue(queries) ?? int.MaxValue)
                .Select(q => new BenchQuery(q.Query, q.Candidates.Select(c => c.Document).ToArray())).ToArray();
            // The settings every surface shares, then the knobs only a benchmark turns.
            using var encoder = CrossEncoder.Load(pr.GetValue(model), new RerankerSettings
            {
                Precision = pr.GetValue(precision),
                Device = pr.GetValue(device),
                MaxBatchTokens = pr.GetValue(maxBatchTokens),
                BatchSize = CliCommon.BatchSize(pr, batchSize, pr.GetValue(device)),
                Threads = pr.GetValue(threads),
                MaxLength = pr.GetValue(maxLength),
            }.ToOptions() with
            {
                IoBinding = pr.GetValue(ioBinding),
                Fp16Fp32Norms = !pr.GetValue(fusableNorms),
                SortByLength = !pr.GetValue(noSort),
                ConcurrentBatches = pr.GetValue(concurrent),
                FuseAttention = pr.GetValue(fuse),
                HostAttention = !pr.GetValue(noHostAttention),
                HostGelu = !pr.GetValue(onnxGelu),
                ClsOnlyLastLayer = !pr.GetValue(fullLastLayer),
                SessionConfig = (pr.GetValue(ortConfig) ?? []).Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv.Length > 1 ? kv[1] : ""),
                ProfilePrefix = pr.GetValue(profile) ? Path.Combine(Path.GetTempPath(), "sift-ort-profile") : null,
            });
            Mark("model loaded");
            if (pr.GetValue(agreement))
            {
                // Reference: fp32 on --reference-device. Candidate: the loaded encoder, or int8 on the CPU when that would
                // be the reference itself (`sift bench --agreement` alone compares fp32 with int8, as it always did).
                var refDevice = pr.GetValue(referenceDevice);
                var sameAsReference = encoder.Options.Precision == ModelPrecision.Fp32 && encoder.Device == refDevice;
                using var int8 = sameAsReference ? CrossEncoder.Load(pr.GetValue(model), encoder.Options with { Precision = ModelPrecision.Int8 }) : null;
                var candidate = int8 ?? encoder;
                using var reference = CrossEncoder.Load(pr.GetValue(model), encoder.Options with
                {
                    Precision = ModelPrecision.Fp32, Device = refDevice, IoBinding = null, MaxBatchTokens = null,
                    BatchSize = refDevice.IsCuda ? encoder.Options.BatchSize : new CrossEncoderOptions().BatchSize,
                    ConcurrentBatches = 0, IntraOpThreads = 0,
                });
                string Label(CrossEncoder e) => $"{e.Options.Precision.ToString().ToLowerInvariant()}@{e.Device}";
                PrecisionAgreement result = null!;
                CliProgress.RunAsync(add =>
                {
                    var t = add($"{Label(reference)} vs {Label(candidate)}", selected.Length);
                    result = QualityChecks.Compare(reference, candidate, selected, new Progress<int>(n => t?.Value = n), ct)
                        with { Reference = Label(reference), Candidate = Label(candidate) };
                    return Task.CompletedTask;
                }).GetAwaiter().GetResult();
                if (pr.GetValue(format) == OutputFormat.Json) CliCommon.WriteJson(result);
                else AnsiConsole.MarkupLine($"{result.Pairs:N0} pairs: Spearman({result.Reference}, {result.Candidate}) = [bold]{result.Spearman:0.0000}[/] pooled, {result.MeanPerQuerySpearman:0.0000} mean per query; max |Δlogit| {result.MaxAbsDiff:0.000000}");
                return Task.FromResult(0);
            }
            if (pr.GetValue(soak) is { } calls)
            {
                SoakReport result = null!;
                CliProgress.RunAsync(add =>
                {
                    var t = add("rerank calls", calls);
                    result = QualityChecks.Soak(encoder, selected, calls, pr.GetValue(soakDocs), new Progress<int>(n => t?.Value = n), ct);
                    return Task.CompletedTask;
                }).GetAwaiter().GetResult();
                if (pr.GetValue(format) == OutputFormat.Json) CliCommon.WriteJson(result);
                else AnsiConsole.MarkupLine($"{result.Calls:N0} calls in {result.Seconds:0.0} s: working set {result.StartWorkingSetMb:0.0} → {result.EndWorkingSetMb:0.0} MB (peak {result.PeakWorkingSetMb:0.0}), managed heap {result.ManagedHeapStartMb:0.0} → {result.ManagedHeapEndMb:0.0} MB");
                return Task.FromResult(0);
            }
            // Cold start: process start to the first scored batch.
            encoder.Score(selected[0].Query, selected[0].Candidates[0].Text);
            var coldStart = ProcessClock.Age();

            BenchReport report = null!;
            CliProgress.RunAsync(add =>
            {
                var task = add("reranking", selected.Length);
                report = RerankBenchmark.Run(encoder, selected, pr.GetValue(warmup), coldStart,
                    new Progress<int>(n => task?.Value = n), ct);
                task?.Value = selected.Length;
                return Task.CompletedTask;
            }).GetAwaiter().GetResult();

            if (pr.GetValue(profile))
            {
                var ops = OperatorProfile.Summarize(encoder.EndProfiling());
                var opTable = new Table().Title("time per operator (ONNX Runtime trace)").AddColumns("operator", "ms", "calls", "share");
                foreach (var op in ops.Take(15)) opTable.AddRow(op.Operator, op.Milliseconds.ToString("0"), op.Calls.ToString(), op.Share.ToString("P1"));
                CliCommon.StdErr.Write(opTable);
            }
            if (pr.GetValue(format) == OutputFormat.Json)
            {
                CliCommon.WriteJson(report);
                return Task.FromResult(0);
            }
            var table = new Table().AddColumns("metric", "value");
            void Row(string k, string v) => table.AddRow(k, v);
            Row("model", Markup.Escape($"{report.Model} ({report.Precision}, batch {report.BatchSize}, {report.Threads} threads: {report.ConcurrentBatches} batch(es) at once)"));
            Row("device", Markup.Escape($"{report.Device}{(report.MaxBatchTokens is { } mbt ? $", batches of at most {mbt:N0} padded tokens" : "")}{(report.IoBinding ? ", IO binding" : "")}"));
            Row("attention", Markup.Escape(report.Attention));
            Row("queries × candidates", $"{report.Queries} × {report.Pairs / Math.Max(1, report.Queries)}");
            Row("p50 / p95 per query", $"{report.P50Ms:0.0} / {report.P95Ms:0.0} ms");
            Row("throughput", $"{report.PairsPerSecond:0} pairs/s, {report.TokensPerSecond:0} tokens/s");
            Row("padding waste", $"{report.PaddingWaste:P1} ({report.Tokens:N0} real of {report.PaddedTokens:N0} computed tokens)");
            Row("time split", $"tokenize {report.TokenizeMsTotal:0} ms, inference {report.InferenceMsTotal:0} ms, other {report.OtherMsTotal:0} ms");
            Row("compute", $"{report.GflopPerQuery:0.0} GFLOP/query, {report.Gflops:0.0} GFLOP/s in inference");
            Row("cold start", $"{report.ColdStartMs:0} ms (process start → first scored batch)");
            Row("peak working set", $"{report.PeakWorkingSetMb:0} MB");
            AnsiConsole.Write(table);
            return Task.FromResult(0);
        }));
        return cmd;
    }
}
