using System.Diagnostics;
using System.Globalization;
using System.Text;
using Sift.Tokenizers;
using Sift.Training.Engine;
using Sift.Training.Export;

namespace Sift.Training.Training;

/// <summary>Everything `sift train` needs besides its options parsing: data, mining, training, export, model card.</summary>
public sealed record RecipeOptions
{
    public required string BaseModel { get; init; }
    public required string OutDir { get; init; }
    /// <summary>A BEIR folder (uses qrels/&lt;Split&gt;.tsv) or a JSONL file.</summary>
    public required string Data { get; init; }
    public string Split { get; init; } = "train";
    public double DevFraction { get; init; } = 0.1;
    public int DevTopK { get; init; } = 50;
    public MiningOptions Mining { get; init; } = new();
    public TrainOptions Train { get; init; } = new();
    /// <summary>Bi-encoder for dense or hybrid mining (Mining.Source); by default the base model when it is a sentence-transformers bi-encoder.</summary>
    public string? MineModel { get; init; }
    /// <summary>Where the index for mining lives (built once, reused).</summary>
    public string? IndexDir { get; init; }
    public bool Overwrite { get; init; }
    /// <summary>The command line, recorded in the model card so the model can be rebuilt.</summary>
    public string? CommandLine { get; init; }
}

public static class TrainRecipe
{
    public static TrainResult Run(RecipeOptions r, IProgress<TrainStatus>? progress, Action<string> log, CancellationToken ct = default)
    {
        var total = Stopwatch.StartNew();
        TorchRuntime.EnsureLoaded(r.Train.Threads > 0 ? r.Train.Threads : Environment.ProcessorCount);
        log($"TorchSharp loaded ({(TorchRuntime.Patched ? "GLIBCXX_3.4.32 need relaxed in " + TorchRuntime.LoadedFrom : "package library as is")}), {TorchSharp.torch.get_num_threads()} threads");
        if (TorchRuntime.AllocatorAdvice() is { } advice) log("warning: " + advice);
        var ckpt = Path.Combine(r.OutDir, "checkpoint");
        if (r.Overwrite && Directory.Exists(ckpt)) Directory.Delete(ckpt, recursive: true);

        TrainingSet data;
        if (Directory.Exists(r.Data))
        {
            var indexDir = r.IndexDir ?? Path.Combine(r.OutDir, r.Mining.Source == MiningSource.Bm25 ? "bm25-index" : "hybrid-index");
            using var embedder = r.Mining.Source == MiningSource.Bm25 ? null : Sift.Onnx.BiEncoder.Load(r.MineModel ?? r.BaseModel);
            data = TrainingData.FromBeir(r.Data, indexDir, r.Mining, r.DevFraction, r.DevTopK, r.Train.Seed, r.Split, log, embedder);
        }
        else data = TrainingData.FromJsonl(r.Data, r.DevFraction, r.Train.Seed);
        log(data.Description);

        using var model = BertModel.FromDirectory(r.BaseModel, seed: r.Train.Seed);
        var tokenizer = HfTokenizer.FromDirectory(r.BaseModel);
        log($"base model {r.BaseModel}: {model.Config.NumLayers} layers, hidden {model.Config.HiddenSize}, {model.ParameterCount / 1e6:F1} M parameters");
        var hasHead = OnnxBertWeights.Read(BertModel.FindOnnx(r.BaseModel), model.Config).HasClassifier;
        var trainer = new Trainer(model, tokenizer, r.Train with { EvaluateStart = hasHead }, ckpt);
        var result = trainer.Run(data, progress, log, ct);

        // The kept model is the best dev epoch's (epoch 0 = the start, if training never beat it).
        model.Load(TensorFile.Read(trainer.BestWeightsPath));
        var card = ModelCard(r, data, result, model, total.Elapsed);
        // The tokenizer limit becomes the training length, so scoring sees pairs cut the way training did.
        ModelDirectoryWriter.Write(r.OutDir, r.BaseModel, model.Config, model.Snapshot(), card, r.Train.MaxLength);
        // int8 copy with Sift's own dynamic quantizer (ONNX Runtime's quantize_dynamic scheme), for --precision int8.
        var (qPath, qReport) = Sift.Onnx.ModelQuantizer.QuantizeDirectory(r.OutDir, overwrite: true);
        log($"quantized {qPath}{(qReport is null ? "" : $" ({qReport})")}");
        // The held-out dev queries, so the interpolation weight (or anything else) can be chosen on them later:
        // sift eval --split train --query-ids OUT/dev-queries.txt.
        File.WriteAllLines(Path.Combine(r.OutDir, "dev-queries.txt"), data.Dev.Select(d => d.Id));
        log($"wrote {r.OutDir} (best dev epoch {result.BestEpoch}, dev nDCG@10 {result.BestDevNdcg10:F4}) in {total.Elapsed.TotalMinutes:F1} min end to end");
        return result;
    }

    public static string ModelCard(RecipeOptions r, TrainingSet data, TrainResult res, BertModel model, TimeSpan total)
    {
        var o = r.Train;
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("---\nlibrary_name: sift\npipeline_tag: text-ranking\ntags: [cross-encoder, reranker, sift-train]\n---\n");
        sb.AppendLine($"# Cross-encoder fine-tuned with `sift train`\n");
        sb.AppendLine($"BertForSequenceClassification (1 label, sigmoid activation), {model.Config.NumLayers} layers, hidden {model.Config.HiddenSize}, {model.ParameterCount / 1e6:F1} M parameters, started from `{r.BaseModel}`.\n");
        sb.AppendLine("## Data\n");
        sb.AppendLine($"- {data.Description}.");
        sb.AppendLine("- The test split was never read: the dev split (held out from the training queries) chose the epoch.\n");
        sb.AppendLine("## Training\n");
        sb.AppendLine($"| setting | value |\n|---|---|");
        sb.AppendLine(string.Create(ci, $"| loss | {(o.Loss == TrainLoss.Listwise ? $"listwise softmax cross-entropy over 1 positive + {o.Negatives} hard negatives" : $"binary cross-entropy (pointwise), 1 positive + {o.Negatives} negatives per group")} |"));
        sb.AppendLine(string.Create(ci, $"| optimizer | AdamW, lr {o.LearningRate:g3}, weight decay {o.WeightDecay} (not on biases/LayerNorm), betas 0.9/0.999 |"));
        sb.AppendLine(string.Create(ci, $"| schedule | linear warmup {o.WarmupRatio:P0} then linear decay to 0 |"));
        sb.AppendLine(string.Create(ci, $"| batch | {o.BatchGroups} groups = {o.BatchGroups * (1 + o.Negatives)} pairs per step (micro-batches of {o.MicroGroups} groups) |"));
        sb.AppendLine(string.Create(ci, $"| max length | {o.MaxLength} tokens |"));
        sb.AppendLine(string.Create(ci, $"| epochs | {o.Epochs}{(o.MaxSteps is { } ms ? $" (stopped at step {ms})" : "")} |"));
        sb.AppendLine(string.Create(ci, $"| gradient clipping | {o.MaxGradNorm} |"));
        sb.AppendLine(string.Create(ci, $"| dropout | {model.Config.HiddenDropout} |"));
        sb.AppendLine(string.Create(ci, $"| seed | {o.Seed} |"));
        sb.AppendLine();
        sb.AppendLine("## Figures\n");
        sb.AppendLine(string.Create(ci, $"- Dev nDCG@10 (first stage top-{r.DevTopK} reranked): first stage alone {res.BaselineDevNdcg10:F4}; best {res.BestDevNdcg10:F4} at epoch {res.BestEpoch}."));
        foreach (var e in res.History)
            sb.AppendLine(string.Create(ci, $"  - epoch {e.Epoch}: train loss {e.TrainLoss:F4}, dev nDCG@10 {e.DevNdcg10:F4}, {e.Seconds / 60:F1} min"));
        if (!double.IsNaN(res.DevInterpolatedNdcg10))
            sb.AppendLine(string.Create(ci, $"- Interpolation chosen on dev: {res.DevInterpolationWeight:F1} x reranker + {1 - res.DevInterpolationWeight:F1} x first stage (per-query min-max): dev nDCG@10 {res.DevInterpolatedNdcg10:F4}."));
        sb.AppendLine(string.Create(ci, $"- Training: {res.Pairs:N0} pairs in {res.TrainSeconds / 60:F1} min = {res.PairsPerSecond:F1} pairs/s, {res.GflopsPerSecond:F1} GFLOP/s (6 x matmul parameters x padded tokens + attention), {res.RealTokens * 100.0 / Math.Max(1, res.PaddedTokens):F0}% of padded tokens real; {TorchSharp.torch.get_num_threads()} LibTorch thread(s) on a {Environment.ProcessorCount}-core machine."));
        sb.AppendLine(string.Create(ci, $"- End to end (mining, training, dev evaluations, export): {total.TotalMinutes:F1} min."));
        sb.AppendLine();
        if (r.CommandLine is not null) sb.AppendLine($"## Rebuild\n\n```\n{r.CommandLine}\n```\n");
        sb.AppendLine("Scores: `sift rerank --model DIR` / `sift eval --rerank-model DIR` (the config sets a sigmoid activation).");
        return sb.ToString();
    }
}
