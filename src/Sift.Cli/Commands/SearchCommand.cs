using System.CommandLine;
using Sift.Hosting;
using Sift.Onnx;
using Spectre.Console;

namespace Sift.Cli.Commands;

/// <summary><c>sift search</c>: retrieve → rerank → top-K over an index; interactive without --query.</summary>
internal static class SearchCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo?>("--config") { Description = "JSON or YAML settings file (index, mode, top_n, top_k, rerank_model, ...); flags override it." };
        var index = new Option<string?>("--index") { Description = "Index directory built by `sift index`." };
        var store = new Option<string?>("--store") { Description = "Instead of --index: a PostgreSQL store filled by `sift index --store` (postgres://USER@HOST:PORT/DB?schema=NAME); lexical mode is fts." };
        var query = new Option<string?>("--query", "-q") { Description = "Query text; omit for an interactive prompt (one query per line until EOF)." };
        query.Validators.Add(r => { if (r.GetValueOrDefault<string?>() is { } v && string.IsNullOrWhiteSpace(v)) r.AddError("--query is empty; give the text to search for, or omit --query for the interactive prompt."); });
        var mode = new Option<RetrievalMode>("--mode") { Description = "First stage: bm25 (--index), fts (--store: PostgreSQL full-text, ts_rank_cd), dense or hybrid.", DefaultValueFactory = _ => RetrievalMode.Bm25 };
        var topN = new Option<int>("--top-n") { Description = "Candidates retrieved for reranking.", DefaultValueFactory = _ => 100 };
        var topK = new Option<int>("--top-k", "-k") { Description = "Results returned.", DefaultValueFactory = _ => 10 };
        var threshold = new Option<float?>("--threshold") { Description = "Drop results whose final score is below this." };
        var rerank = new Option<string?>("--rerank-model") { Description = "Cross-encoder for reranking (directory or cached hub id); omit for stage 1 only." };
        var dense = new Option<string?>("--dense-model") { Description = "Bi-encoder for dense/hybrid (default: the one the index was built with)." };
        var precision = CliCommon.PrecisionOption();
        var format = CliCommon.FormatOption();
        var longDocs = CliCommon.LongDocsOption();
        var ann = AnnCliOptions.ForBuild("Dense search: auto (HNSW when the index has a graph, else exact), exact or hnsw.");

        var cmd = new Command("search", "Search an index: BM25/dense/hybrid retrieval, cross-encoder reranking, top-K.")
        {
            config, index, store, query, mode, topN, topK, threshold, rerank, dense, precision, format, longDocs,
        };
        foreach (var o in ann.All(build: false)) cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliCommon.Run(async () =>
        {
            var s = pr.GetValue(config) is { } file ? SearchSettings.Load(file.FullName) : new SearchSettings();
            // Flags given on the command line win over the config file.
            bool Given(Option o) => pr.GetResult(o) is { Implicit: false };
            s = s with
            {
                Index = pr.GetValue(index) ?? s.Index,
                Store = pr.GetValue(store) ?? s.Store,
                Mode = Given(mode) ? pr.GetValue(mode) : pr.GetValue(store) is not null && s.Mode == RetrievalMode.Bm25 ? RetrievalMode.Fts : s.Mode,
                TopN = Given(topN) ? pr.GetValue(topN) : s.TopN,
                TopK = Given(topK) ? pr.GetValue(topK) : s.TopK,
                Threshold = pr.GetValue(threshold) ?? s.Threshold,
                RerankModel = pr.GetValue(rerank) ?? s.RerankModel,
                DenseModel = pr.GetValue(dense) ?? s.DenseModel,
                Precision = Given(precision) ? pr.GetValue(precision) : s.Precision,
                LongDocs = Given(longDocs) ? pr.GetValue(longDocs) : s.LongDocs,
                Ann = Given(ann.Ann) ? ann.Search(pr).Kind : s.Ann,
                AnnExpansionSearch = ann.Search(pr).ExpansionSearch ?? s.AnnExpansionSearch,
            };
            using var service = SearchService.Open(s, fieldName: CliCommon.FlagName);
            var json = pr.GetValue(format) == OutputFormat.Json;

            if (pr.GetValue(query) is { } q)
            {
                Print(await service.SearchAsync(q, cancellationToken: ct), json);
                return 0;
            }

            var interactive = !Console.IsInputRedirected;
            if (interactive)
            {
                CliCommon.StdErr.MarkupLine($"[grey]{service.Corpus.Count:N0} documents; {s.Mode.ToString().ToLowerInvariant()}{(s.RerankModel is null ? "" : " + rerank")}. One query per line, Ctrl-D to quit.[/]");
            }
            while (!ct.IsCancellationRequested)
            {
                if (interactive) Console.Error.Write("query> ");
                var line = Console.ReadLine();
                if (line is null) break;
                if (string.IsNullOrWhiteSpace(line)) continue;
                try
                {
                    Print(await service.SearchAsync(line, cancellationToken: ct), json);
                }
                catch (SiftException ex)
                {
                    // A bad query should not end the session.
                    Console.Error.WriteLine($"sift: error: {ex.Message}");
                }
            }
            return 0;
        }));
        return cmd;
    }

    private static void Print(SearchResult result, bool json)
    {
        if (json)
        {
            CliCommon.WriteJson(result.Hits.Select(h => new Hit(h.Document.Id, h.Score, h.Stage1Rank, h.Stage1Score, h.RerankScore, h.Document.Title, h.Document.Text)));
            return;
        }
        var table = new Table().Title($"[bold]{Markup.Escape(result.Query)}[/]")
            .Caption($"[grey]{result.Candidates} candidates from {result.Retriever}; retrieve {result.Timings.RetrieveMs:0.0} ms, rerank {result.Timings.RerankMs:0.0} ms, total {result.Timings.TotalMs:0.0} ms[/]")
            .AddColumns("#", "id", "score", "stage 1", "text");
        foreach (var h in result.Hits)
        {
            var text = string.IsNullOrEmpty(h.Document.Title) ? h.Document.Text : h.Document.Title + " — " + h.Document.Text;
            table.AddRow(h.Rank.ToString(), Markup.Escape(h.Document.Id ?? ""), h.Score.ToString("0.0000"), $"#{h.Stage1Rank} ({h.Stage1Score:0.00})", CliCommon.Clip(text, 100));
        }
        AnsiConsole.Write(table);
    }

    private sealed record Hit(
        [property: System.Text.Json.Serialization.JsonPropertyName("id")] string? Id,
        [property: System.Text.Json.Serialization.JsonPropertyName("score")] float Score,
        [property: System.Text.Json.Serialization.JsonPropertyName("stage1_rank")] int Stage1Rank,
        [property: System.Text.Json.Serialization.JsonPropertyName("stage1_score")] float Stage1Score,
        [property: System.Text.Json.Serialization.JsonPropertyName("rerank_score")] float? RerankScore,
        [property: System.Text.Json.Serialization.JsonPropertyName("title")] string? Title,
        [property: System.Text.Json.Serialization.JsonPropertyName("text")] string Text);
}
