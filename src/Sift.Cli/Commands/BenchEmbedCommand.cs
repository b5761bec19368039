using System.CommandLine;
using System.Diagnostics;
using Sift.Onnx;
using Sift.Retrieval;
using Spectre.Console;

namespace Sift.Cli.Commands;

/// <summary>
/// <c>sift bench embed</c>: how fast dense indexing embeds a corpus. Runs the real indexing path (SiftIndex.AddAsync
/// into a temporary index, length-sorted windows, the bi-encoder's automatic threading) and reports documents/s,
/// tokens/s and GFLOP/s, the last comparable with <c>sift bench</c>'s reranking GFLOP/s for the same architecture.
/// </summary>
internal static class BenchEmbedCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Bi-encoder: a directory, a cached hub id or a bundled alias (all-MiniLM-L6-v2).", Required = true };
        var corpus = new Option<string>("--corpus") { Description = "Corpus to embed (BEIR corpus.jsonl, JSONL, lines or a folder).", Required = true };
        var docs = new Option<int?>("--docs") { Description = "Embed only the first N documents." };
        var precision = CliCommon.PrecisionOption();
        var batchSize = new Option<int>("--batch-size") { Description = "Texts per inference call.", DefaultValueFactory = _ => 32 };
        var threads = CliCommon.ThreadsOption();
        var window = new Option<int>("--window") { Description = "Documents sorted by length together (IndexAddOptions.EmbeddingWindow).", DefaultValueFactory = _ => 2048 };
        var format = CliCommon.FormatOption();
        var cmd = new Command("embed", "Measure dense indexing: documents/s and GFLOP/s embedding a corpus through the real indexing path.")
        {
            model, corpus, docs, precision, batchSize, threads, window, format,
        };
        cmd.SetAction((pr, ct) => CliCommon.Run(async () =>
        {
            var stats = new ScoringStats();
            var load = Stopwatch.StartNew();
            using var encoder = BiEncoder.Load(pr.GetValue(model)!, new BiEncoderOptions
            {
                Precision = pr.GetValue(precision), BatchSize = pr.GetValue(batchSize), IntraOpThreads = pr.GetValue(threads), Stats = stats,
            });
            var loadMs = load.Elapsed.TotalMilliseconds;
            var documents = CorpusReader.Read(pr.GetValue(corpus)!, new CorpusOptions(), null, ct).Take(pr.GetValue(docs) ?? int.MaxValue).ToList();
            var dir = Directory.CreateTempSubdirectory("sift-bench-embed-").FullName;
            try
            {
                using var index = SiftIndex.Create(dir);
                IndexAddResult result = null!;
                await CliProgress.RunAsync(async add =>
                {
                    var task = add("embedding", documents.Count);
                    result = await index.AddAsync(documents, new IndexAddOptions
                    {
                        Embedder = encoder, DenseModel = encoder.Model.OnnxPath, DocumentPrefix = encoder.DocumentPrompt,
                        EmbeddingBatchSize = pr.GetValue(batchSize) * 4, EmbeddingWindow = pr.GetValue(window),
                        Progress = new SyncProgress<IndexProgress>(p => task?.Value = p.Embedded),
                    }, ct);
                });
                var flop = RerankBenchmark.EstimateFlop(encoder.Model.Config, stats);
                var report = new
                {
                    model = encoder.Model.Name,
                    onnx = Path.GetFileName(encoder.Model.OnnxPath),
                    precision = pr.GetValue(precision).ToString().ToLowerInvariant(),
                    documents = documents.Count,
                    tokens = stats.Tokens,
                    padded_tokens = stats.PaddedTokens,
                    padding_waste = stats.PaddingWaste,
                    max_length = encoder.MaxLength,
                    load_ms = loadMs,
                    embedding_s = result.EmbeddingTime.TotalSeconds,
                    index_s = result.Elapsed.TotalSeconds,
                    docs_per_s = documents.Count / result.EmbeddingTime.TotalSeconds,
                    tokens_per_s = stats.Tokens / result.EmbeddingTime.TotalSeconds,
                    gflop = flop / 1e9,
                    gflops = flop / 1e9 / result.EmbeddingTime.TotalSeconds,
                    attention = encoder.AttentionPath,
                };
                if (pr.GetValue(format) == OutputFormat.Json)
                {
                    CliCommon.WriteJson(report);
                }
                else
                {
                    var t = new Table().AddColumns("measure", "value");
                    t.AddRow("model", Markup.Escape($"{report.model} ({report.onnx}, {report.precision}, max {report.max_length} tokens)"));
                    t.AddRow("documents", $"{report.documents:N0} ({report.tokens:N0} tokens, {report.padding_waste:P1} padding)");
                    t.AddRow("embedding", $"{report.embedding_s:0.0} s: [bold]{report.docs_per_s:N1} docs/s[/], {report.tokens_per_s:N0} tokens/s");
                    t.AddRow("compute", $"{report.gflop:N0} GFLOP, [bold]{report.gflops:0.0} GFLOP/s[/]");
                    t.AddRow("whole index", $"{report.index_s:0.0} s (BM25 included); model load {report.load_ms:0} ms");
                    AnsiConsole.Write(t);
                }
                return 0;
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }));
        return cmd;
    }
}
