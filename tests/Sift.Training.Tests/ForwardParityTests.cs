using Sift.Testing;
using Sift.Training.Engine;
using static TorchSharp.torch;

namespace Sift.Training.Tests;

/// <summary>The trainer's forward pass (weights read from the ONNX initializers) against ONNX Runtime's logits on the same file.</summary>
public class ForwardParityTests
{
    [Theory]
    [InlineData("ce-bert-tiny", 84)]
    [InlineData("ce-minilm-l6-arch", 12)]
    public void TrainerForwardMatchesOnnxRuntime(string fixture, int pairs)
    {
        TorchRuntime.EnsureLoaded();
        using var model = BertModel.FromDirectory(TestPaths.Fixture(fixture));
        var expected = Fixtures.OrtLogits(fixture);
        var enc = Fixtures.Encode(fixture, Fixtures.Pairs.Take(pairs));
        double worst = 0;
        for (int start = 0; start < enc.Count; start += 8)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var batch = enc.Skip(start).Take(8).ToList();
            var (ids, mask, types) = Collate.Pad(batch);
            var logits = model.Forward(ids, mask, types, training: false).data<float>().ToArray();
            for (int i = 0; i < batch.Count; i++) worst = Math.Max(worst, Math.Abs(logits[i] - expected[start + i]));
        }
        Assert.True(worst < 1e-4, $"max |trainer - ORT| = {worst:g3}");
    }
}
