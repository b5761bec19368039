using System.CommandLine;
using Sift.Evaluation;
using Sift.Evaluation.Loaders;
using Sift.Hosting;
using Sift.Onnx;
using Sift;
using Spectre.Console;

namespace Sift.Cli.Commands;

/// <summary><c>sift eval</c>: quality on standard benchmarks (BEIR, TREC DL candidate lists, Cranfield, CISI).</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var dataset = new Option<DirectoryInfo?>("--dataset") { Description = "BEIR folder (corpus.jsonl, queries.jsonl, qrels/), a Cranfield, CISI or CACM folder (SMART), or a TREC-layout folder (<DOC> documents, <top> topics, qrels)." };
        var split = new Option<string>("--split") { Description = "BEIR qrels split.", DefaultValueFactory = _ => "test" };
        var candidates = new Option<FileInfo?>("--candidates") { Description = "Candidate-list JSON to rerank (e.g. retrieve_results_dl19_top100.json)." };
        var qrels = new Option<FileInfo?>("--qrels") { Description = "TREC or BEIR qrels for --candidates." };
        var mode = new Option<RetrievalMode>("--mode") { Description = "First stage for --dataset: bm25, fts (with --store), dense or hybrid.", DefaultValueFactory = _ => RetrievalMode.Bm25 };
        var topN = new Option<int>("--top-n") { Description = "Candidates per query.", DefaultValueFactory = _ => 100 };
        var rerank = new Option<string?>("--rerank-model") { Description = "Cross-encoder that reranks the candidates." };
        var dense = new Option<string?>("--dense-model") { Description = "Bi-encoder for dense/hybrid first stages." };
        var metrics = new Option<string>("--metrics") { Description = "Comma-separated metrics: ndcg@k, mrr@k, recall@k, map, map@k, p@k.", DefaultValueFactory = _ => "ndcg@10,mrr@10,recall@100,map" };
        var level = new Option<int>("--relevance-level") { Description = "Minimum grade counted relevant by recall, MAP, MRR and P (trec_eval -l); nDCG uses all grades.", DefaultValueFactory = _ => 1 };
        var compare = new Option<string?>("--compare") { Description = "Configurations to compare, e.g. bm25,bm25+rerank,hybrid+rerank (default: the first stage, plus +rerank when a model is given)." };
        var report = new Option<DirectoryInfo?>("--report") { Description = "Write a Markdown report with PNG charts (metrics per configuration, per-query win/loss) here." };
        var runOut = new Option<DirectoryInfo?>("--run-out") { Description = "Write each configuration's run in TREC format (qid Q0 docid rank score tag) here." };
        var storeOpt = new Option<string?>("--store") { Description = "Fill (or reuse) a PostgreSQL store instead of an index: postgres://USER@HOST:PORT/DB?schema=NAME; its lexical stage is fts (ts_rank_cd, not BM25)." };
        var indexDir = new Option<DirectoryInfo?>("--index") { Description = "Build (or reuse) the dataset's index here instead of a temporary directory." };
        var precision = CliCommon.PrecisionOption();
        var densePrecision = new Option<ModelPrecision>("--dense-precision") { Description = "Bi-encoder weights: fp32 (onnx/model.onnx) or int8 (onnx/model_quantized.onnx).", DefaultValueFactory = _ => ModelPrecision.Fp32 };
        var fusion = new Option<string>("--fusion") { Description = "Hybrid fusion: rrf (reciprocal rank) or weighted (min-max normalized scores).", DefaultValueFactory = _ => "rrf" };
        fusion.AcceptOnlyFromAmong("rrf", "weighted");
        var fusionWeights = new Option<float[]>("--fusion-weights") { Description = "Hybrid weights, BM25 then dense (e.g. --fusion-weights 0.3 0.7).", AllowMultipleArgumentsPerToken = true };
        var batchSize = CliCommon.BatchSizeOption();
        var threads = CliCommon.ThreadsOption();
        var maxLength = CliCommon.MaxLengthOption();
        var longDocs = CliCommon.LongDocsOption();
        var format = CliCommon.FormatOption();
        var device = CliCommon.DeviceOption();
        var interpolate = new Option<double[]>("--interpolate") { Description = "Also report each +rerank configuration interpolated with its first stage: W x reranker + (1-W) x first stage, min-max per query; several weights allowed (choose W on a dev split).", AllowMultipleArgumentsPerToken = true };
        var queryIds = new Option<FileInfo?>("--query-ids") { Description = "Evaluate only the queries whose ids are listed in this file (one per line), e.g. a dev split that `sift train` held out (OUT/dev-queries.txt)." };
        var ann = AnnCliOptions.ForBuild("Dense search for dense/hybrid: hnsw (builds an HNSW graph in the index, or reuses --index's), exact, or auto (hnsw when a reused --index has a graph).");

        var cmd = new Command("eval", "Evaluate retrieval and reranking quality (nDCG, MRR, Recall, MAP) with trec_eval's rules.")
        {
            dataset, split, candidates, qrels, mode, topN, rerank, dense, metrics, level, compare, report, runOut, indexDir, storeOpt,
            precision, densePrecision, fusion, fusionWeights, batchSize, threads, maxLength, longDocs, format, device, interpolate, queryIds,
        };
        foreach (var o in ann.All(build: true)) cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliCommon.Run(async () =>
        {
            var metricList = Metric.ParseList(pr.GetValue(metrics)!);
            var rerankModel = pr.GetValue(rerank);
            EvaluationDataset? data = null;
            CandidateList? list = null;
            Qrels? judgments = null;
            string stage1;
            if (pr.GetValue(candidates) is { } cf)
            {
                if (pr.GetValue(dataset) is not null) throw new SiftException("Pass either --dataset or --candidates, not both.");
                list = CandidateListLoader.Load(cf.FullName);
                judgments = Qrels.Load((pr.GetValue(qrels) ?? throw new SiftException("--candidates needs --qrels FILE (TREC qrels for its queries).")).FullName);
                stage1 = "candidates";
            }
            else if (pr.GetValue(dataset) is { } ds)
            {
                data = DatasetLoader.Load(ds.FullName, pr.GetValue(split)!);
                foreach (var w in data.Warnings) CliCommon.StdErr.MarkupLine($"[yellow]warning:[/] {Markup.Escape(w)}");
                if (pr.GetValue(queryIds) is { } idFile) data = data.Restrict(ReadIds(idFile.FullName), idFile.FullName);
                stage1 = pr.GetValue(mode).ToString().ToLowerInvariant();
                // A store's lexical stage is PostgreSQL full-text search, not BM25: default to it when --mode is not given.
                if (pr.GetValue(storeOpt) is not null && pr.GetResult(mode) is not { Implicit: false }) stage1 = "fts";
            }
            else
            {
                throw new SiftException("Pass --dataset DIR (BEIR, Cranfield, CISI, CACM or a TREC-layout folder) or --candidates FILE --qrels FILE.");
            }

            var configs = pr.GetValue(compare) is { } spec
                ? EvalConfiguration.ParseList(spec)
                : rerankModel is null ? [new EvalConfiguration(stage1, false)] : [new EvalConfiguration(stage1, false), new EvalConfiguration(stage1, true)];

            using var reranker = rerankModel is null ? null : CrossEncoder.Load(rerankModel, new RerankerSettings
            {
                Precision = pr.GetValue(precision), BatchSize = CliCommon.BatchSize(pr, batchSize, pr.GetValue(device)), Threads = pr.GetValue(threads),
                MaxLength = pr.GetValue(maxLength), LongDocs = pr.GetValue(longDocs), Device = pr.GetValue(device),
            }.ToOptions());
            using var embedder = pr.GetValue(dense) is { } dm ? BiEncoder.Load(dm, new BiEncoderOptions { IntraOpThreads = pr.GetValue(threads), Precision = pr.GetValue(densePrecision), Device = pr.GetValue(device) }) : null;

            var request = new EvalRequest
            {
                Dataset = data, Candidates = list, Qrels = judgments, Configurations = configs, Metrics = metricList,
                RelevanceLevel = pr.GetValue(level), TopN = pr.GetValue(topN), Reranker = reranker, Embedder = embedder,
                Fusion = new FusionOptions
                {
                    Method = pr.GetValue(fusion) == "weighted" ? FusionMethod.WeightedScore : FusionMethod.ReciprocalRank,
                    Weights = pr.GetValue(fusionWeights) is { Length: > 0 } fw ? fw : null,
                },
                IndexDirectory = pr.GetValue(indexDir)?.FullName,
                Interpolation = pr.GetValue(interpolate) ?? [],
                Ann = ann.Build(pr),
                DenseSearch = ann.Search(pr),
                Store = pr.GetValue(storeOpt),
            };

            EvalOutcome outcome = null!;
            await CliProgress.RunAsync(async add =>
            {
                var tasks = new Dictionary<string, ProgressTask?>();
                var sink = new SyncProgress<EvalProgress>(p =>
                {
                    if (!tasks.TryGetValue(p.Stage, out var t)) tasks[p.Stage] = t = add(Markup.Escape(p.Stage), Math.Max(1, p.Total));
                    t?.Value = p.Done;
                });
                outcome = await EvaluationRunner.RunAsync(request, sink, ct);
                foreach (var t in tasks.Values) t?.Value = t.MaxValue;
            });

            if (pr.GetValue(runOut) is { } runDir)
            {
                runDir.Create();
                foreach (var (name, run) in outcome.Runs)
                {
                    TrecFormat.WriteRun(Path.Combine(runDir.FullName, $"{name}.run"), run, name);
                }
                CliCommon.StdErr.MarkupLine($"[grey]TREC runs written to {Markup.Escape(runDir.FullName)}[/]");
            }
            if (pr.GetValue(report) is { } reportDir)
            {
                var files = ComparisonReport.Write(outcome.Reports, reportDir.FullName, new ComparisonOptions { Title = $"{data?.Name ?? "candidates"}: evaluation" });
                foreach (var w in files.Warnings) CliCommon.StdErr.MarkupLine($"[yellow]warning:[/] {Markup.Escape(w)}");
                CliCommon.StdErr.MarkupLine($"[grey]report: {Markup.Escape(files.MarkdownPath)}[/]");
            }

            foreach (var r in outcome.Reports.Where(r => r.QueriesWithoutResults.Count > 0))
            {
                CliCommon.StdErr.MarkupLine($"[yellow]warning:[/] {Markup.Escape(r.Configuration)}: {r.QueriesWithoutResults.Count} of {r.QueryCount} judged queries have no results in the run (e.g. {Markup.Escape(string.Join(", ", r.QueriesWithoutResults.Take(3)))}); they count as 0 on every metric.");
            }
            var primary = outcome.Reports[^1];
            if (pr.GetValue(format) == OutputFormat.Json)
            {
                // The primary (last) configuration at top level, every configuration under "configurations".
                var node = System.Text.Json.Nodes.JsonNode.Parse(primary.ToJson())!.AsObject();
                if (outcome.Reports.Count > 1)
                {
                    node["configurations"] = new System.Text.Json.Nodes.JsonArray(outcome.Reports.Select(r => System.Text.Json.Nodes.JsonNode.Parse(r.ToJson())).ToArray());
                }
                node["index_ms"] = outcome.IndexMs;
                Console.Out.WriteLine(node.ToJsonString());
                return 0;
            }

            var table = new Table().Title($"[bold]{Markup.Escape(primary.Dataset ?? "")}[/]: {primary.QueryCount} queries, relevance level {primary.RelevanceLevel}")
                .AddColumn("configuration");
            foreach (var m in metricList) table.AddColumn(new TableColumn(m.Key).RightAligned());
            table.AddColumn(new TableColumn("time").RightAligned());
            foreach (var r in outcome.Reports)
            {
                var cells = new List<string> { Markup.Escape(r.Configuration) };
                cells.AddRange(metricList.Select(m => r.Aggregate.TryGetValue(m.Key, out var v) ? v.ToString("0.0000") : "-"));
                cells.Add(r.TimingsMs.TryGetValue("total", out var ms) ? $"{ms / 1000:0.0} s" : "");
                table.AddRow(cells.ToArray());
            }
            AnsiConsole.Write(table);
            if (outcome.Reports.Count > 1)
            {
                var baseline = outcome.Reports[0];
                foreach (var r in outcome.Reports.Skip(1))
                {
                    var wtl = ComparisonReport.Compare(baseline, r, metricList[0].Key);
                    AnsiConsole.MarkupLine($"[grey]{Markup.Escape(r.Configuration)} vs {Markup.Escape(baseline.Configuration)} on {wtl.Metric}: {wtl.Wins} wins, {wtl.Ties} ties, {wtl.Losses} losses (mean Δ {wtl.MeanDelta:+0.0000;-0.0000})[/]");
                }
            }
            return 0;
        }));
        return cmd;
    }

    private static HashSet<string> ReadIds(string path)
    {
        if (!File.Exists(path)) throw new SiftException($"--query-ids file not found: '{path}'.");
        return File.ReadLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToHashSet(StringComparer.Ordinal);
    }
}
