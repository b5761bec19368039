using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sift.Evaluation;
using Sift.Tokenizers;
using Sift.Training.Engine;
using static TorchSharp.torch;

namespace Sift.Training.Training;

/// <summary>Where a run stands, reported after every optimizer step and evaluation.</summary>
public sealed record TrainStatus(int Epoch, int Epochs, int Step, int StepsPerEpoch, long GlobalStep, long TotalSteps,
    double Loss, double PairsPerSecond, double GflopsPerSecond, TimeSpan Elapsed, TimeSpan Eta, double LearningRate, string? Message = null);

public sealed record EpochRecord(int Epoch, double TrainLoss, double DevNdcg10, double Seconds);

public sealed record TrainResult(IReadOnlyList<EpochRecord> History, double BaselineDevNdcg10, double BestDevNdcg10, int BestEpoch,
    long Pairs, long PaddedTokens, long RealTokens, double TrainSeconds, double PairsPerSecond, double GflopsPerSecond, double DevInterpolationWeight, double DevInterpolatedNdcg10);

/// <summary>
/// Fine-tunes a <see cref="BertModel"/> on groups of (query, positive, negatives): AdamW, linear warmup then linear
/// decay, gradient clipping, gradient accumulation, a per-step seed (dropout and negative sampling are functions of
/// the seed and the step, so a resumed run takes the same path), a resumable checkpoint, dev nDCG@10 each epoch and
/// the best epoch's weights kept.
/// </summary>
public sealed class Trainer
{
    private readonly BertModel _model;
    private readonly HfTokenizer _tokenizer;
    private readonly TrainOptions _o;
    private readonly string _checkpointDir;
    private readonly Dictionary<string, TokenizedText> _tokCache = new(StringComparer.Ordinal);

    public Trainer(BertModel model, HfTokenizer tokenizer, TrainOptions options, string checkpointDir)
    {
        _model = model;
        _tokenizer = tokenizer;
        _o = options;
        _checkpointDir = checkpointDir;
    }

    public string BestWeightsPath => Path.Combine(_checkpointDir, "best.bin");

    /// <summary>Training FLOPs of one sequence of <paramref name="s"/> tokens: 6 x matmul parameters x tokens, plus the attention products (2 matmuls x 2 S^2 H, x3 for backward).</summary>
    public static double TrainFlopsPerSequence(BertConfig c, long s)
    {
        double h = c.HiddenSize, i = c.IntermediateSize;
        double layerParams = 4 * h * h + 2 * h * i;
        double matmulParams = c.NumLayers * layerParams + h * h + h * c.NumLabels;
        return 6 * matmulParams * s + c.NumLayers * 3 * 4.0 * s * s * h;
    }

    public TrainResult Run(TrainingSet data, IProgress<TrainStatus>? progress = null, Action<string>? log = null, CancellationToken ct = default)
    {
        if (data.Groups.Count == 0) throw new InvalidOperationException("no training groups");
        int stepsPerEpoch = (data.Groups.Count + _o.BatchGroups - 1) / _o.BatchGroups;
        long totalSteps = (long)stepsPerEpoch * _o.Epochs;
        long warmup = (long)Math.Round(totalSteps * _o.WarmupRatio);
        Directory.CreateDirectory(_checkpointDir);
        using var adam = new AdamW(_model) { WeightDecay = _o.WeightDecay };

        var state = LoadCheckpoint(adam, log);
        var history = state?.History ?? new List<EpochRecord>();
        double bestDev = state?.BestDev ?? double.NegativeInfinity;
        int bestEpoch = state?.BestEpoch ?? -1;
        int startEpoch = state?.Epoch ?? 0, startStep = state?.Step ?? 0;
        long pairs = state?.Pairs ?? 0, padded = state?.Padded ?? 0, real = state?.Real ?? 0;
        double trainSeconds = state?.TrainSeconds ?? 0, flops = state?.Flops ?? 0;

        double baseline = DevNdcg(data, c => c.Score);
        log?.Invoke($"dev: {data.Dev.Count} queries, first stage alone nDCG@10 = {baseline:F4}");
        // A fresh head scores at random: only a source that already is a cross-encoder has a starting point worth keeping.
        if (state is null && data.Dev.Count > 0 && _o.EvaluateStart)
        {
            var d0 = Evaluate(data);
            log?.Invoke($"dev before training: reranked nDCG@10 = {d0:F4}");
            bestDev = d0; bestEpoch = 0;
            SaveBest();
            _bestDevScores = _lastDevScores;
        }

        var sw = Stopwatch.StartNew();
        double runStartSeconds = trainSeconds;
        long global = (long)startEpoch * stepsPerEpoch + startStep;
        for (int epoch = startEpoch; epoch < _o.Epochs; epoch++)
        {
            var order = Enumerable.Range(0, data.Groups.Count).ToList();
            TrainingData.Shuffle(order, new Random(HashCode.Combine(_o.Seed, epoch)));
            double lossSum = 0; int lossN = 0;
            var epochWatch = Stopwatch.StartNew();
            for (int step = epoch == startEpoch ? startStep : 0; step < stepsPerEpoch; step++)
            {
                ct.ThrowIfCancellationRequested();
                if ((_o.MaxSteps is { } max && global >= max) || (_o.MaxMinutes is { } mm && sw.Elapsed.TotalMinutes >= mm))
                {
                    log?.Invoke($"stopping at step {step} of epoch {epoch + 1} ({(_o.MaxSteps is { } m2 && global >= m2 ? "--max-steps" : "--max-minutes")})");
                    EndOfEpoch(epoch, step, partial: true);
                    goto done;
                }
                var stepWatch = Stopwatch.StartNew();
                manual_seed(_o.Seed * 1_000_003L + global);
                var batch = order.Skip(step * _o.BatchGroups).Take(_o.BatchGroups).ToList();
                double stepLoss = 0;
                for (int mb = 0; mb < batch.Count; mb += _o.MicroGroups)
                {
                    using var scope = NewDisposeScope();
                    var groups = batch.Skip(mb).Take(_o.MicroGroups).ToList();
                    var encodings = new List<EncodedText>();
                    foreach (var gi in groups)
                    {
                        var g = data.Groups[gi];
                        var q = Tok(g.Query);
                        encodings.Add(_tokenizer.Build(q, Tok(g.Positive), _o.MaxLength));
                        foreach (var n in SampleNegatives(g, gi, epoch))
                            encodings.Add(_tokenizer.Build(q, Tok(n), _o.MaxLength));
                    }
                    var (ids, mask, types) = Collate.Pad(encodings, _tokenizer.PadTokenId);
                    var logits = _model.Forward(ids, mask, types, training: true).select(1, 0);
                    int per = 1 + _o.Negatives;
                    Tensor loss;
                    if (_o.Loss == TrainLoss.Listwise) loss = BertOps.ListwiseLoss(logits.view(groups.Count, per));
                    else
                    {
                        var labels = zeros(groups.Count, per, dtype: logits.dtype);
                        labels[TensorIndex.Colon, 0] = 1;
                        loss = BertOps.BceLoss(logits, labels.view(-1));
                    }
                    var scaled = loss * ((double)groups.Count / batch.Count);
                    scaled.backward();
                    stepLoss += scaled.item<float>();
                    pairs += encodings.Count;
                    padded += ids.numel();
                    real += mask.sum().item<long>();
                    flops += encodings.Count * TrainFlopsPerSequence(_model.Config, ids.shape[1]);
                }
                ClipGradNorm(_model.Parameters, _o.MaxGradNorm);
                double lr = LearningRate(global, warmup, totalSteps);
                adam.Apply(lr);
                adam.ZeroGrad();
                global++;
                trainSeconds += stepWatch.Elapsed.TotalSeconds;
                lossSum += stepLoss; lossN++;
                var elapsed = TimeSpan.FromSeconds(trainSeconds);
                double stepsLeft = (_o.MaxSteps is { } ms ? Math.Min(ms, totalSteps) : totalSteps) - global;
                var perStep = (trainSeconds - runStartSeconds) / Math.Max(1, global - ((long)startEpoch * stepsPerEpoch + startStep));
                progress?.Report(new TrainStatus(epoch + 1, _o.Epochs, step + 1, stepsPerEpoch, global, totalSteps, lossSum / lossN,
                    pairs / trainSeconds, flops / trainSeconds / 1e9, elapsed, TimeSpan.FromSeconds(stepsLeft * perStep), lr));
                if ((step + 1) % _o.CheckpointEvery == 0) Checkpoint(epoch, step + 1);
            }
            EndOfEpoch(epoch, stepsPerEpoch, partial: false);

            void EndOfEpoch(int ep, int stepDone, bool partial)
            {
                var dev = data.Dev.Count > 0 ? Evaluate(data) : double.NaN;
                history.Add(new EpochRecord(ep + 1, lossSum / Math.Max(1, lossN), dev, epochWatch.Elapsed.TotalSeconds));
                log?.Invoke($"epoch {ep + 1}/{_o.Epochs}{(partial ? $" (stopped after {stepDone} of {stepsPerEpoch} steps)" : "")}: train loss {lossSum / Math.Max(1, lossN):F4}, dev nDCG@10 {dev:F4} (best before {bestDev:F4})");
                if (double.IsNaN(dev) || dev > bestDev || !File.Exists(BestWeightsPath)) { bestDev = dev; bestEpoch = ep + 1; SaveBest(); _bestDevScores = _lastDevScores; }
                Checkpoint(partial ? ep : ep + 1, partial ? stepDone : 0);
            }
        }
    done:
        var (alpha, interp) = InterpolationOnDev(data);
        return new TrainResult(history, baseline, bestDev, bestEpoch, pairs, padded, real, trainSeconds, pairs / Math.Max(1e-9, trainSeconds),
            flops / Math.Max(1e-9, trainSeconds) / 1e9, alpha, interp);

        void SaveBest() => TensorFile.Write(BestWeightsPath, _model.Snapshot());

        void Checkpoint(int epoch, int step)
        {
            TensorFile.Write(Path.Combine(_checkpointDir, "weights.bin"), _model.Snapshot());
            TensorFile.Write(Path.Combine(_checkpointDir, "adam_m.bin"), adam.StateSnapshot("m"));
            TensorFile.Write(Path.Combine(_checkpointDir, "adam_v.bin"), adam.StateSnapshot("v"));
            var s = new CheckpointState(epoch, step, adam.Step, bestDev, bestEpoch, history, pairs, padded, real, trainSeconds, flops, Fingerprint());
            var tmp = Path.Combine(_checkpointDir, "state.json.tmp");
            File.WriteAllText(tmp, JsonSerializer.Serialize(s, StateJson));
            File.Move(tmp, Path.Combine(_checkpointDir, "state.json"), overwrite: true); // state last: it vouches for the files above
        }
    }

    /// <summary>Scales all gradients so their global L2 norm is at most <paramref name="maxNorm"/> (as torch.nn.utils.clip_grad_norm_); returns the norm before clipping.</summary>
    public static double ClipGradNorm(IEnumerable<Tensor> parameters, double maxNorm)
    {
        using var _ = no_grad();
        var grads = parameters.Select(p => p.grad).Where(g => g is not null).Select(g => g!).ToList();
        double total = Math.Sqrt(grads.Sum(g => { using var n = g.square().sum(); return n.to_type(ScalarType.Float64).item<double>(); }));
        double scale = maxNorm / (total + 1e-6);
        if (scale < 1) foreach (var g in grads) g.mul_(scale);
        return total;
    }

    public double LearningRate(long step, long warmup, long total)
    {
        if (step < warmup) return _o.LearningRate * (step + 1) / warmup;
        return _o.LearningRate * Math.Max(0.0, (double)(total - step) / Math.Max(1, total - warmup));
    }

    private IEnumerable<string> SampleNegatives(TrainGroup g, int groupIndex, int epoch)
    {
        // A fresh draw from the mined pool each epoch, reproducible from (seed, epoch, group).
        var rng = new Random(HashCode.Combine(_o.Seed, epoch, groupIndex, 17));
        var pool = g.Negatives.ToList();
        if (pool.Count >= _o.Negatives)
        {
            TrainingData.Shuffle(pool, rng);
            return pool.Take(_o.Negatives);
        }
        return Enumerable.Range(0, _o.Negatives).Select(i => i < pool.Count ? pool[i] : pool[rng.Next(pool.Count)]);
    }

    private TokenizedText Tok(string text)
    {
        if (!_tokCache.TryGetValue(text, out var t)) _tokCache[text] = t = _tokenizer.Tokenize(text);
        return t;
    }

    /// <summary>Model scores for every dev candidate, in candidate order.</summary>
    public Dictionary<string, float[]> ScoreDev(TrainingSet data)
    {
        var items = data.Dev.SelectMany(q => q.Candidates.Select((c, i) => (Q: q, I: i, Enc: _tokenizer.Build(Tok(q.Text), Tok(c.Text), _o.MaxLength)))).ToList();
        var result = data.Dev.ToDictionary(q => q.Id, q => new float[q.Candidates.Count]);
        var sorted = items.OrderBy(x => x.Enc.Length).ToList(); // length-sorted batches waste little padding
        using var _ = no_grad();
        for (int b = 0; b < sorted.Count; b += _o.DevBatchSize)
        {
            using var scope = NewDisposeScope();
            var chunk = sorted.Skip(b).Take(_o.DevBatchSize).ToList();
            var (ids, mask, types) = Collate.Pad(chunk.Select(x => x.Enc).ToList(), _tokenizer.PadTokenId);
            var logits = _model.Forward(ids, mask, types, training: false).select(1, 0).data<float>().ToArray();
            for (int i = 0; i < chunk.Count; i++) result[chunk[i].Q.Id][chunk[i].I] = logits[i];
        }
        return result;
    }

    private Dictionary<string, float[]>? _lastDevScores, _bestDevScores;

    private double Evaluate(TrainingSet data)
    {
        var scores = ScoreDev(data);
        _lastDevScores = scores;
        return DevNdcg(data, null, scores);
    }

    private static double DevNdcg(TrainingSet data, Func<(string DocId, string Text, float Score), float>? firstStage, Dictionary<string, float[]>? model = null, double alpha = 1)
    {
        if (data.Dev.Count == 0) return double.NaN;
        var run = new Run("dev");
        foreach (var q in data.Dev)
        {
            var s = q.Candidates.Select((c, i) => (c.DocId, Score: firstStage is not null ? firstStage(c) : Mix(q, model![q.Id], alpha, i))).ToList();
            int rank = 1;
            foreach (var (d, sc) in s.OrderByDescending(x => x.Score)) run.Add(q.Id, d, sc, rank++);
        }
        return Evaluator.Evaluate(data.DevQrels, run, [Metric.Parse("ndcg@10")]).Aggregate.Values.First();
    }

    /// <summary>alpha * minmax(model) + (1 - alpha) * minmax(first stage), per query.</summary>
    private static float Mix(DevQuery q, float[] model, double alpha, int i)
    {
        if (alpha >= 1) return model[i];
        static float Norm(float v, float lo, float hi) => hi > lo ? (v - lo) / (hi - lo) : 0;
        float mlo = model.Min(), mhi = model.Max();
        float flo = q.Candidates.Min(c => c.Score), fhi = q.Candidates.Max(c => c.Score);
        return (float)(alpha * Norm(model[i], mlo, mhi) + (1 - alpha) * Norm(q.Candidates[i].Score, flo, fhi));
    }

    /// <summary>Chooses the interpolation weight on the dev split with the best weights loaded (reported, never used for selection of the epoch).</summary>
    private (double Alpha, double Ndcg) InterpolationOnDev(TrainingSet data)
    {
        if (data.Dev.Count == 0 || !File.Exists(BestWeightsPath)) return (1, double.NaN);
        var scores = _bestDevScores;
        if (scores is null)
        {
            _model.Load(TensorFile.Read(BestWeightsPath));
            scores = ScoreDev(data);
        }
        double bestA = 1, best = double.NegativeInfinity;
        for (int k = 0; k <= 10; k++)
        {
            double a = k / 10.0, v = DevNdcg(data, null, scores, a);
            if (v > best + 1e-12) { best = v; bestA = a; }
        }
        return (bestA, best);
    }

    private static readonly JsonSerializerOptions StateJson = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private string Fingerprint() => JsonSerializer.Serialize(_o with { MaxSteps = null, MaxMinutes = null, Threads = 0, CheckpointEvery = 0, EvaluateStart = false });

    private sealed record CheckpointState(int Epoch, int Step, long AdamStep, double BestDev, int BestEpoch, List<EpochRecord> History,
        long Pairs, long Padded, long Real, double TrainSeconds, double Flops, string Options);

    private CheckpointState? LoadCheckpoint(AdamW adam, Action<string>? log)
    {
        var path = Path.Combine(_checkpointDir, "state.json");
        if (!File.Exists(path)) return null;
        var s = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(path), StateJson)!;
        if (s.Options != Fingerprint())
            throw new InvalidOperationException($"{_checkpointDir} holds a checkpoint of a run with other options ({s.Options}); pass --overwrite to start afresh.");
        _model.Load(TensorFile.Read(Path.Combine(_checkpointDir, "weights.bin")));
        adam.LoadState(s.AdamStep, TensorFile.Read(Path.Combine(_checkpointDir, "adam_m.bin")), TensorFile.Read(Path.Combine(_checkpointDir, "adam_v.bin")));
        log?.Invoke($"resumed from {_checkpointDir}: epoch {s.Epoch + (s.Step > 0 ? 1 : 0)}, step {s.Step}, optimizer step {s.AdamStep}");
        return s;
    }
}
