using System.Diagnostics;
using Sift.Evaluation;
using Sift.Testing;
using Sift.Tokenizers;
using Sift.Training.Engine;
using Sift.Training.Training;
using static TorchSharp.torch;

namespace Sift.Training.Tests;

/// <summary>The whole trainer (sampling, accumulation, AdamW, schedule, clipping) learns a synthetic relevance task on the tiny fixture.</summary>
public class OverfitTests
{
    private static readonly string[] Keys = ["apple", "river", "cloud", "stone", "music", "garden", "window", "pencil"];
    private static readonly string[] Filler = ["the", "a", "of", "and", "book", "blue", "green", "table", "chair", "road", "light", "paper", "house", "water", "small", "large"];

    [Fact]
    public void TinyModelLearnsSyntheticTask()
    {
        // One thread: tiny ops gain nothing from a second one, and on a busy machine OpenMP's barriers make two much slower.
        TorchRuntime.EnsureLoaded(threads: 1);
        var sw = Stopwatch.StartNew();
        var rng = new Random(3);
        string Doc(string? key)
        {
            var words = Enumerable.Range(0, 8).Select(_ => Filler[rng.Next(Filler.Length)]).ToList();
            if (key is not null) words.Insert(rng.Next(words.Count + 1), key);
            else words.Add(Filler[rng.Next(Filler.Length)]);
            return string.Join(' ', words);
        }
        // A document is relevant to a one-word query when it contains that word.
        var groups = new List<TrainGroup>();
        for (int i = 0; i < 48; i++)
        {
            var k = Keys[i % Keys.Length];
            var negs = Enumerable.Range(0, 3).Select(j => Doc(j == 0 ? Keys[(i + 1 + rng.Next(Keys.Length - 1)) % Keys.Length] : null)).ToList();
            groups.Add(new TrainGroup("q" + i, k, Doc(k), negs));
        }
        var data = new TrainingSet(groups, [], new Qrels(), "synthetic");
        var dir = Path.Combine(Path.GetTempPath(), "sift-overfit-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            // Dropout off: the fixture's random weights (initializer range 0.2, logits spread to +-5) make its outputs swing
            // wildly under dropout, which hides whether the optimisation itself works; that is what this test is about.
            var src = TestPaths.Fixture("ce-bert-tiny");
            var cfg = BertConfig.FromDirectory(src) with { HiddenDropout = 0, AttentionDropout = 0 };
            using var model = new BertModel(cfg, OnnxBertWeights.Read(BertModel.FindOnnx(src), cfg).Tensors);
            var tok = HfTokenizer.FromDirectory(TestPaths.Fixture("ce-bert-tiny"));
            var o = new TrainOptions { Negatives = 3, MaxLength = 32, Epochs = 25, BatchGroups = 8, MicroGroups = 4, LearningRate = 1e-3, Loss = TrainLoss.Bce, WarmupRatio = 0.1, Seed = 1, CheckpointEvery = 1000 };
            var result = new Trainer(model, tok, o, dir).Run(data);
            var pairs = groups.SelectMany(g => g.Negatives.Select(n => (g.Query, n, 0)).Prepend((g.Query, g.Positive, 1))).ToList();
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var (ids, mask, types) = Collate.Pad(pairs.Select(p => tok.EncodePair(p.Item1, p.Item2, 32)).ToList());
            var logits = model.Forward(ids, mask, types, training: false).select(1, 0).data<float>().ToArray();
            double acc = pairs.Select((p, i) => (logits[i] > 0 ? 1 : 0) == p.Item3 ? 1.0 : 0.0).Average();
            Assert.True(acc > 0.95, $"accuracy {acc:F3} after {result.Pairs} pairs");
            Assert.True(sw.Elapsed < TimeSpan.FromMinutes(1), $"took {sw.Elapsed}");
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
