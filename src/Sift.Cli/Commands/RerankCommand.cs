using System.CommandLine;
using Sift.Onnx;
using Spectre.Console;

namespace Sift.Cli.Commands;

/// <summary><c>sift rerank</c>: rerank a document list for one query.</summary>
internal static class RerankCommand
{
    public static Command Create()
    {
        var ce = new CrossEncoderCliOptions();
        var query = new Option<string>("--query", "-q") { Description = "The query text.", Required = true };
        query.Validators.Add(r => { if (string.IsNullOrWhiteSpace(r.GetValueOrDefault<string>())) r.AddError("--query is empty; give the query text to rerank the documents for."); });
        var docs = new Option<FileInfo>("--docs") { Description = "Documents: JSONL with \"text\" (optional \"id\", other fields kept) or plain text, one per line.", Required = true };
        var topK = new Option<int?>("--top-k", "-k") { Description = "Return at most K results." };
        var threshold = new Option<float?>("--threshold") { Description = "Drop results scoring below this value." };
        var cmd = new Command("rerank", "Rerank documents for a query with a cross-encoder; best first.") { query, docs, topK, threshold };
        ce.AddTo(cmd);
        cmd.SetAction((pr, ct) => CliCommon.Run(async () =>
        {
            var documents = DocumentListReader.ReadFile(pr.GetValue(docs)!.FullName);
            using var encoder = ce.Load(pr);
            var results = await encoder.RerankAsync(pr.GetValue(query)!, documents, new RerankOptions
            {
                TopK = pr.GetValue(topK),
                Threshold = pr.GetValue(threshold),
            }, ct);

            if (pr.GetValue(ce.Format) == OutputFormat.Json)
            {
                CliCommon.WriteJson(results.Select(r => new RerankRow(r.Index, r.Document.Id, r.Score, r.Document.Text,
                    r.Window is null ? null : new WindowRow(r.Window.Ordinal, r.Window.Start, r.Window.End, r.Window.WindowCount))));
                return 0;
            }
            var table = new Table().AddColumns("rank", "index", "id", "score", "text");
            var rank = 1;
            foreach (var r in results)
            {
                table.AddRow((rank++).ToString(), r.Index.ToString(), Markup.Escape(r.Document.Id ?? ""), r.Score.ToString("0.0000"), CliCommon.Clip(r.Document.Text));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return cmd;
    }

    private sealed record RerankRow(int index, string? id, float score, string text,
        [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] WindowRow? window);

    private sealed record WindowRow(int ordinal, int start, int end, int windows);
}
