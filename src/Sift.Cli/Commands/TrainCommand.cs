using System.CommandLine;
using System.Globalization;
using Sift.Training.Training;
using Spectre.Console;

namespace Sift.Cli.Commands;

/// <summary><c>sift train</c>: fine-tune a BERT cross-encoder (TorchSharp) on a BEIR train split or JSONL pairs and export it.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var baseModel = new Option<string>("--base-model") { Description = "Model directory to start from: a bi-encoder body (new head) or a cross-encoder (continue training).", Required = true };
        var data = new Option<string>("--data") { Description = "BEIR folder (qrels/<split>.tsv, corpus, queries; BM25 hard negatives) or JSONL of {query, document, label} / {query, positive, negatives}.", Required = true };
        var output = new Option<string>("--out") { Description = "Output model directory (Hugging Face layout); also holds the resumable checkpoint.", Required = true };
        var split = new Option<string>("--split") { Description = "BEIR qrels split to train on (never 'test').", DefaultValueFactory = _ => "train" };
        var loss = new Option<TrainLoss>("--loss") { Description = "listwise (softmax CE over 1 positive + negatives) or bce (pointwise).", DefaultValueFactory = _ => TrainLoss.Listwise };
        var negatives = new Option<int>("--negatives") { Description = "Hard negatives per positive.", DefaultValueFactory = _ => 7 };
        var maxLength = new Option<int>("--max-length") { Description = "Max tokens per pair.", DefaultValueFactory = _ => 256 };
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch-size") { Description = "Queries (groups) per optimizer step.", DefaultValueFactory = _ => 8 };
        var micro = new Option<int>("--micro-batch") { Description = "Groups per forward/backward (gradient accumulation bounds memory).", DefaultValueFactory = _ => 2 };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => 4e-5 };
        var warmup = new Option<double>("--warmup") { Description = "Warmup fraction of all steps.", DefaultValueFactory = _ => 0.1 };
        var wd = new Option<double>("--weight-decay") { DefaultValueFactory = _ => 0.01 };
        var clip = new Option<double>("--max-grad-norm") { DefaultValueFactory = _ => 1.0 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 42 };
        var threads = new Option<int>("--threads") { Description = "LibTorch threads (0: all cores).", DefaultValueFactory = _ => 0 };
        var devFraction = new Option<double>("--dev-fraction") { Description = "Fraction of training queries held out as dev.", DefaultValueFactory = _ => 0.1 };
        var devTopK = new Option<int>("--dev-top-k") { Description = "BM25 candidates per dev query reranked each epoch.", DefaultValueFactory = _ => 50 };
        var rangeMin = new Option<int>("--neg-range-min") { Description = "Best BM25 rank a negative may have.", DefaultValueFactory = _ => 5 };
        var rangeMax = new Option<int>("--neg-range-max") { Description = "Worst BM25 rank a negative may have.", DefaultValueFactory = _ => 50 };
        var pool = new Option<int>("--neg-pool") { Description = "Mined negatives kept per query (sampled from each epoch).", DefaultValueFactory = _ => 30 };
        var margin = new Option<double?>("--margin") { Description = "Skip negatives scoring above (retrieved positive's BM25 score - margin)." };
        var ratio = new Option<double?>("--max-score-ratio") { Description = "Skip negatives scoring above this fraction of the positive's BM25 score." };
        var index = new Option<string?>("--index") { Description = "BM25 index directory for mining (built if missing; default OUT/bm25-index)." };
        var every = new Option<int>("--checkpoint-every") { Description = "Optimizer steps between checkpoints.", DefaultValueFactory = _ => 25 };
        var maxSteps = new Option<int?>("--max-steps") { Description = "Stop after N optimizer steps (smoke runs, speed measurements)." };
        var maxMinutes = new Option<double?>("--max-minutes") { Description = "Stop training after this many minutes (then evaluate, keep the best, export)." };
        var mine = new Option<MiningSource>("--mine") { Description = "First stage that mines hard negatives and gives the dev split its candidates: bm25, dense or hybrid (BM25 + dense, RRF).", DefaultValueFactory = _ => MiningSource.Bm25 };
        var mineModel = new Option<string?>("--mine-model") { Description = "Bi-encoder for --mine dense/hybrid (default: the base model, e.g. all-MiniLM-L6-v2)." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Discard an existing checkpoint in --out instead of resuming from it." };

        var cmd = new Command("train", "Fine-tune a cross-encoder (BERT family) with hard negatives mined by BM25, dense or hybrid retrieval; resumes from --out's checkpoint after a kill.")
        {
            baseModel, data, output, split, loss, negatives, maxLength, epochs, batch, micro, lr, warmup, wd, clip, seed, threads,
            devFraction, devTopK, rangeMin, rangeMax, pool, margin, ratio, index, mine, mineModel, every, maxSteps, maxMinutes, overwrite,
        };
        cmd.SetAction((pr, ct) => CliCommon.Run(async () =>
        {
            if (string.Equals(pr.GetValue(split), "test", StringComparison.OrdinalIgnoreCase))
                throw new SiftException("--split test: the test split is for evaluation only; train on 'train' (a dev split is held out of it).");
            var r = new RecipeOptions
            {
                BaseModel = Sift.Onnx.ModelLocator.Resolve(pr.GetValue(baseModel)),
                OutDir = Path.GetFullPath(pr.GetValue(output)!),
                Data = pr.GetValue(data)!,
                Split = pr.GetValue(split)!,
                DevFraction = pr.GetValue(devFraction),
                DevTopK = pr.GetValue(devTopK),
                IndexDir = pr.GetValue(index),
                Overwrite = pr.GetValue(overwrite),
                MineModel = pr.GetValue(mineModel) is { } mm ? Sift.Onnx.ModelLocator.Resolve(mm) : null,
                Mining = new MiningOptions { Source = pr.GetValue(mine), RangeMin = pr.GetValue(rangeMin), RangeMax = pr.GetValue(rangeMax), PoolSize = pr.GetValue(pool), Margin = pr.GetValue(margin), MaxScoreRatio = pr.GetValue(ratio) },
                Train = new TrainOptions
                {
                    Loss = pr.GetValue(loss), Negatives = pr.GetValue(negatives), MaxLength = pr.GetValue(maxLength), Epochs = pr.GetValue(epochs),
                    BatchGroups = pr.GetValue(batch), MicroGroups = pr.GetValue(micro), LearningRate = pr.GetValue(lr), WarmupRatio = pr.GetValue(warmup),
                    WeightDecay = pr.GetValue(wd), MaxGradNorm = pr.GetValue(clip), Seed = pr.GetValue(seed), Threads = pr.GetValue(threads),
                    CheckpointEvery = pr.GetValue(every), MaxSteps = pr.GetValue(maxSteps), MaxMinutes = pr.GetValue(maxMinutes),
                },
                CommandLine = "sift " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1).Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"\"{a}\"" : a)),
            };
            void Log(string m) => CliCommon.StdErr.MarkupLine($"[grey]{DateTime.UtcNow:HH:mm:ss}[/] {Markup.Escape(m)}");
            await CliProgress.RunAsync(add =>
            {
                ProgressTask? task = null;
                long lastLogged = 0;
                var progress = new Progress(s =>
                {
                    var line = string.Create(CultureInfo.InvariantCulture,
                        $"epoch {s.Epoch}/{s.Epochs} step {s.Step}/{s.StepsPerEpoch} loss {s.Loss:F4} lr {s.LearningRate:g3} {s.PairsPerSecond:F1} pairs/s {s.GflopsPerSecond:F1} GFLOP/s ETA {s.Eta:hh\\:mm\\:ss}");
                    task ??= add("training", s.TotalSteps);
                    if (task is not null) { task.Value = s.GlobalStep; task.Description = line; }
                    // Logs (redirected stderr) get a line every 10 steps instead of a live bar.
                    else if (s.GlobalStep - lastLogged >= 10 || s.GlobalStep <= 3 || s.GlobalStep == s.TotalSteps) { lastLogged = s.GlobalStep; Log(line); }
                });
                var result = TrainRecipe.Run(r, progress, Log, ct);
                Log(string.Create(CultureInfo.InvariantCulture, $"done: {result.Pairs:N0} pairs, {result.PairsPerSecond:F1} pairs/s, {result.GflopsPerSecond:F1} GFLOP/s; dev nDCG@10 {result.BaselineDevNdcg10:F4} (BM25) -> {result.BestDevNdcg10:F4} (epoch {result.BestEpoch}); interpolation {result.DevInterpolationWeight:F1} on dev -> {result.DevInterpolatedNdcg10:F4}"));
                return Task.CompletedTask;
            });
            return 0;
        }));
        return cmd;
    }

    /// <summary>Synchronous progress sink (System.Progress would post to the thread pool and reorder lines).</summary>
    private sealed class Progress(Action<TrainStatus> report) : IProgress<TrainStatus>
    {
        public void Report(TrainStatus value) => report(value);
    }
}
