using System.CommandLine;
using Sift.Onnx;
using Spectre.Console;

namespace Sift.Cli.Commands;

/// <summary><c>sift score</c>: score JSONL pairs, print scores and logits in input order.</summary>
internal static class ScoreCommand
{
    public static Command Create()
    {
        var ce = new CrossEncoderCliOptions();
        var pairs = new Option<FileInfo>("--pairs") { Description = "JSONL file: one {\"query\": ..., \"document\": ...} per line.", Required = true };
        var cmd = new Command("score", "Score (query, document) pairs with a cross-encoder, exactly as sentence-transformers' CrossEncoder.predict.") { pairs };
        ce.AddTo(cmd);
        cmd.SetAction((pr, ct) => CliCommon.Run(async () =>
        {
            var input = DocumentListReader.ReadPairsFile(pr.GetValue(pairs)!.FullName);
            using var encoder = ce.Load(pr);
            var logits = await Task.Run(() => encoder.PredictLogits(input, ct), ct);
            var rows = logits.Select((l, i) => new ScoreRow(i, encoder.ApplyActivation(l), l)).ToArray();
            if (pr.GetValue(ce.Format) == OutputFormat.Json)
            {
                CliCommon.WriteJson(rows);
                return 0;
            }
            var table = new Table().AddColumns("#", "score", "logits", "query", "document");
            foreach (var r in rows)
            {
                table.AddRow(r.index.ToString(), r.score.ToString("0.0000"), string.Join(" ", r.logits.Select(x => x.ToString("0.0000"))),
                    CliCommon.Clip(input[r.index].Query, 40), CliCommon.Clip(input[r.index].Document, 60));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return cmd;
    }

    private sealed record ScoreRow(int index, float score, float[] logits);
}
