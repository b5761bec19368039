using System.Text.Json;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Sift.Onnx.GraphOptimizer;
using Sift.Testing;
using Sift.Tokenizers;

namespace Sift.Onnx.GraphOptimizer.Tests;

public sealed class AllFusionsTests : IDisposable
{
    private static readonly string ModelDir = TestPaths.Fixture("ce-minilm-l6-arch");
    private readonly string _tmp = Path.Combine(Path.GetTempPath(), "sift-fuseall-" + Guid.NewGuid().ToString("N"));

    public AllFusionsTests() => Directory.CreateDirectory(_tmp);

    public void Dispose()
    {
        try { Directory.Delete(_tmp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [Theory]
    [InlineData("model.onnx", 1e-4, 0, 0, 6, 12)]
    [InlineData("model_quantized.onnx", 2e-3, 20, 6, 0, 0)]
    public void AllFusionsMatchOriginal(string file, double tolerance, int dynamicQuantizeMatMuls, int gelu, int biasGelu, int skipLayerNorms)
    {
        string original = Path.Combine(ModelDir, "onnx", file);
        string fused = Path.Combine(_tmp, file);

        var report = OnnxGraphOptimizer.FuseAll(original, fused, new GraphFusionOptions { SkipLayerNorm = true });

        Assert.True(report.Changed);
        Assert.Equal(6, report.Attention.LayersFused);
        Assert.Equal(dynamicQuantizeMatMuls, report.DynamicQuantizeMatMuls);
        Assert.Equal(0, report.MatMulIntegerToFloats); // Q/K/V biases went into MultiHeadAttention
        Assert.Equal(gelu, report.GeluFused);
        Assert.Equal(biasGelu, report.BiasGeluFused);
        Assert.Equal(skipLayerNorms, report.SkipLayerNorms); // fp32: attention- and FFN-output residual + LayerNorm, 6 layers
        Assert.True(report.NodesRemoved > report.Attention.NodesRemoved);

        var ops = OpCounts(fused);
        Assert.Equal(6, ops.GetValueOrDefault("MultiHeadAttention"));
        Assert.Equal(0, ops.GetValueOrDefault("Erf"));
        Assert.Equal(skipLayerNorms, ops.GetValueOrDefault("SkipLayerNormalization"));
        Assert.Equal(13 - skipLayerNorms, ops.GetValueOrDefault("LayerNormalization")); // the embeddings' LayerNorm is not a residual
        if (dynamicQuantizeMatMuls > 0)
        {
            Assert.Equal(dynamicQuantizeMatMuls, ops.GetValueOrDefault("DynamicQuantizeMatMul"));
            Assert.Equal(6 * 3, ops.GetValueOrDefault("MatMulInteger")); // Q/K/V keep their shared quantization (ORT fuses them)
        }

        var tok = HfTokenizer.FromDirectory(ModelDir);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixtures, "references.json")));
        var encodings = doc.RootElement.GetProperty("pairs").EnumerateArray()
            .Select(p => tok.EncodePair(p[0].GetString()!, p[1].GetString()!, 512)).ToList();
        encodings.AddRange(Dl19Passages(tok, 16));

        using var a = Scoring.Open(original);
        using var b = Scoring.Open(fused);
        var la = Scoring.ScoreAll(a, encodings);
        var lb = Scoring.ScoreAll(b, encodings);
        double max = la.Zip(lb, (x, y) => Math.Abs((double)x - y)).Max();
        Assert.True(max <= tolerance, $"max |Δlogit| = {max} > {tolerance}");
    }

    [Fact]
    public void SharedQuantizationUsesMatMulIntegerToFloatWithBias()
    {
        // Without the attention pass, Q/K/V share one DynamicQuantizeLinear: each projection + bias becomes
        // MatMulIntegerToFloat (quantization kept); the others become DynamicQuantizeMatMul.
        string original = Path.Combine(ModelDir, "onnx", "model_quantized.onnx");
        string fused = Path.Combine(_tmp, "noattn.onnx");

        var report = OnnxGraphOptimizer.FuseAll(original, fused, new GraphFusionOptions { Attention = false, Gelu = false });

        Assert.Equal(0, report.Attention.LayersFused);
        Assert.Equal(6 * 3, report.MatMulIntegerToFloats);
        Assert.Equal(20, report.DynamicQuantizeMatMuls);
        using var s = Scoring.Open(fused);
        Assert.Single(s.OutputMetadata);
    }

    [Fact]
    public void SkipLayerNormIsOffByDefault()
    {
        var report = OnnxGraphOptimizer.FuseAll(Path.Combine(ModelDir, "onnx", "model.onnx"), Path.Combine(_tmp, "default.onnx"));
        Assert.Equal(6, report.Attention.LayersFused);
        Assert.Equal(6, report.BiasGeluFused);
        Assert.Equal(0, report.SkipLayerNorms);
    }

    [Fact]
    public void GraphWithoutPatternsIsLeftUnchanged()
    {
        var model = new Proto.ModelProto { IrVersion = 8, Graph = new Proto.GraphProto { Name = "empty" } };
        var (bytes, report) = OnnxGraphOptimizer.FuseAll(model.ToByteArray());
        Assert.Null(bytes);
        Assert.False(report.Changed);
    }

    private static Dictionary<string, int> OpCounts(string path)
    {
        var m = Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        return m.Graph.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());
    }

    private static IEnumerable<EncodedText> Dl19Passages(HfTokenizer tok, int count)
    {
        var path = Path.Combine(TestPaths.Data, "trec-dl19-passage", "retrieve_results_dl19_top100.json");
        if (!File.Exists(path)) return [];
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var q = doc.RootElement[0];
        string query = q.GetProperty("query").GetString()!;
        return q.GetProperty("hits").EnumerateArray().Take(count)
            .Select(h => tok.EncodePair(query, h.GetProperty("content").GetString()!, 512)).ToList();
    }
}
