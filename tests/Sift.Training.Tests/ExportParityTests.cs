using Sift.Onnx;
using Sift.Testing;
using Sift.Training.Engine;
using Sift.Training.Export;
using static TorchSharp.torch;

namespace Sift.Training.Tests;

/// <summary>After export, Sift.Onnx's CrossEncoder.Load on the written directory reproduces the trainer's logits.</summary>
public class ExportParityTests
{
    [Fact]
    public void ExportedModelReproducesTrainerLogits()
    {
        TorchRuntime.EnsureLoaded();
        var src = TestPaths.Fixture("ce-bert-tiny");
        using var model = BertModel.FromDirectory(src);
        // Perturb every weight so that the test cannot pass by copying the source file through.
        using (no_grad())
        {
            manual_seed(7);
            foreach (var p in model.Parameters) p.add_(randn_like(p) * 0.05);
        }
        var dir = Path.Combine(Path.GetTempPath(), "sift-train-export-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            ModelDirectoryWriter.Write(dir, src, model.Config, model.Snapshot(), "# test\n");
            var pairs = Fixtures.Pairs.Take(24).ToList();
            var enc = Fixtures.Encode("ce-bert-tiny", pairs);
            float[] trainer;
            using (var scope = NewDisposeScope())
            using (no_grad())
            {
                var (ids, mask, types) = Collate.Pad(enc);
                trainer = model.Forward(ids, mask, types, training: false).data<float>().ToArray();
            }
            using var ce = CrossEncoder.Load(dir);
            Assert.Equal(ScoreActivation.Sigmoid, ce.Activation);
            var onnx = ce.PredictEncoded(enc).Select(l => l[0]).ToArray();
            double worst = trainer.Zip(onnx, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(worst < 1e-4, $"max |trainer - exported ONNX| = {worst:g3}");
            // And the weights survive a round trip through the exported graph's initializers.
            using var reread = BertModel.FromDirectory(dir);
            foreach (var n in model.Names)
                Assert.True((reread[n] - model[n]).abs().max().item<float>() == 0, n);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
