using Microsoft.ML.OnnxRuntime;
using Sift.Onnx.GraphOptimizer;
using Sift.Testing;

namespace Sift.Onnx.GraphOptimizer.Tests;

public class AttentionSplitTests
{
    [Theory]
    [InlineData("ce-bert-tiny", "model.onnx", 2, 2, 32)]
    [InlineData("ce-minilm-l6-arch", "model.onnx", 6, 12, 32)]
    [InlineData("ce-minilm-l6-arch", "model_quantized.onnx", 6, 12, 32)]
    [InlineData("ce-xlmr-tiny", "model_quantized.onnx", 2, 2, 32)]
    public void CutsEveryLayerAndChainsTheSegments(string fixture, string file, int layers, int heads, int headSize)
    {
        var bytes = File.ReadAllBytes(Path.Combine(TestPaths.Fixture(fixture), "onnx", file));
        var split = OnnxGraphOptimizer.SplitAtAttention(bytes, "attention_mask", out var why);
        Assert.True(split is not null, why);
        Assert.Equal(layers, split.Attentions.Count);
        Assert.Equal(layers + 1, split.Segments.Count);
        Assert.All(split.Attentions, a =>
        {
            Assert.Equal(heads, a.NumHeads);
            Assert.Equal(headSize, a.HeadSize);
            Assert.Equal(1 / MathF.Sqrt(headSize), a.Scale, 1e-6f);
        });

        // Every tensor a step reads exists by then: a graph input, an earlier segment's output or an attention output.
        var available = new HashSet<string>(split.GraphInputs);
        for (int s = 0; s < split.Segments.Count; s++)
        {
            var seg = split.Segments[s];
            Assert.All(seg.Inputs, i => Assert.Contains(i, available));
            using var session = new InferenceSession(seg.Model); // each segment is a valid model on its own
            Assert.Equal(seg.Inputs.OrderBy(x => x), session.InputMetadata.Keys.OrderBy(x => x));
            foreach (var o in seg.Outputs) available.Add(o);
            if (s < split.Attentions.Count)
            {
                var a = split.Attentions[s];
                Assert.Contains(a.Query, available);
                Assert.Contains(a.Key, available);
                Assert.Contains(a.Value, available);
                available.Add(a.Output);
            }
        }
        Assert.All(split.GraphOutputs, o => Assert.Contains(o, split.Segments[^1].Outputs));
    }

    [Theory]
    [InlineData("ce-bert-tiny", "model.onnx")]
    [InlineData("ce-minilm-l6-arch", "model.onnx")]
    [InlineData("ce-minilm-l6-arch", "model_quantized.onnx")]
    [InlineData("ce-xlmr-tiny", "model_quantized.onnx")]
    [InlineData("ce-roberta-bpe-tiny", "model.onnx")]
    public void ProvesTheHeadReadsOnlyTheFirstToken(string fixture, string file)
    {
        var bytes = File.ReadAllBytes(Path.Combine(TestPaths.Fixture(fixture), "onnx", file));
        foreach (var gelu in new[] { false, true })
        {
            var split = OnnxGraphOptimizer.SplitAtAttention(bytes, "attention_mask", out var why, gelu);
            Assert.True(split is not null, why);
            var tail = split.FirstTokenTail;
            Assert.True(tail is not null, split.FirstTokenTailWhy);
            Assert.Same(split.Attentions[^1], split.Steps[tail.Step]);
            // The residual stream entering the last layer's output Add: computed before the last attention.
            var residual = Assert.Single(tail.Inputs);
            Assert.Contains(residual, split.Segments[split.Attentions.Count - 1 + (gelu ? split.Attentions.Count - 1 : 0)].Outputs);
        }
    }

    [Fact]
    public void PerTokenOutputsKeepTheWholeLastLayer()
    {
        // A bi-encoder's output is every token's hidden state (pooled outside the graph): nothing may be pruned.
        var bytes = File.ReadAllBytes(Path.Combine(TestPaths.Fixture("bi-bert-tiny"), "onnx", "model.onnx"));
        var split = OnnxGraphOptimizer.SplitAtAttention(bytes, "attention_mask", out var why);
        Assert.True(split is not null, why);
        Assert.Null(split.FirstTokenTail);
        Assert.Contains("last_hidden_state", split.FirstTokenTailWhy);
    }

    [Fact]
    public void AHeadThatReadsAnotherTokenKeepsTheWholeLastLayer()
    {
        // The same graph with the pooler reading token 1 instead of token 0: the proof must fail, not assume [CLS].
        var model = Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(TestPaths.Fixture("ce-bert-tiny"), "onnx", "model.onnx")));
        var pooler = model.Graph.Node.Single(n => n.OpType == "Gather" && n.Name.Contains("pooler", StringComparison.Ordinal));
        var index = new Proto.TensorProto { Name = "token_one", DataType = (int)Proto.TensorProto.Types.DataType.Int64 };
        index.Int64Data.Add(1);
        model.Graph.Initializer.Add(index);
        pooler.Input[1] = "token_one";
        var split = OnnxGraphOptimizer.SplitAtAttention(Google.Protobuf.MessageExtensions.ToByteArray(model), "attention_mask", out var why);
        Assert.True(split is not null, why);
        Assert.Null(split.FirstTokenTail);
        Assert.Contains("pooler", split.FirstTokenTailWhy);
    }

    [Fact]
    public void AlsoCutsAtEachGelu()
    {
        var bytes = File.ReadAllBytes(Path.Combine(TestPaths.Fixture("ce-minilm-l6-arch"), "onnx", "model_quantized.onnx"));
        var split = OnnxGraphOptimizer.SplitAtAttention(bytes, "attention_mask", out var why, gelu: true);
        Assert.True(split is not null, why);
        Assert.Equal(12, split.Steps.Count);
        Assert.Equal(13, split.Segments.Count);
        // Attention and GELU alternate, layer by layer.
        for (int i = 0; i < 12; i++) Assert.IsType(i % 2 == 0 ? typeof(HostAttention) : typeof(HostGelu), split.Steps[i]);
        Assert.All(split.Segments, s => Assert.DoesNotContain(Proto.ModelProto.Parser.ParseFrom(s.Model).Graph.Node, n => n.OpType is "Erf" or "Softmax"));
    }

    [Fact]
    public void ReportsWhyAGraphCannotBeCut()
    {
        var bytes = File.ReadAllBytes(Path.Combine(TestPaths.Fixture("ce-bert-tiny"), "onnx", "model.onnx"));
        Assert.Null(OnnxGraphOptimizer.SplitAtAttention(bytes, "mask_that_does_not_exist", out var why));
        Assert.Contains("no graph input named mask_that_does_not_exist", why);

        // Once attention is fused into MultiHeadAttention there is no softmax pattern left to cut at.
        var (fused, report) = OnnxGraphOptimizer.FuseAttention(bytes);
        Assert.True(report.Changed);
        Assert.Null(OnnxGraphOptimizer.SplitAtAttention(fused, "attention_mask", out why));
        Assert.Contains("no self-attention block", why);
    }
}
