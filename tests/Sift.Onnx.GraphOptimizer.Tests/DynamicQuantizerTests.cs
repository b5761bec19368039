using Sift.Onnx.GraphOptimizer;
using Sift.Onnx.GraphOptimizer.Proto;
using Sift.Testing;

namespace Sift.Onnx.GraphOptimizer.Tests;

/// <summary>
/// Sift's quantizer against the fixtures' own model_quantized.onnx files, which ONNX Runtime's Python
/// <c>quantize_dynamic(weight_type=QInt8)</c> wrote: the same nodes, and the same quantized weights bit for bit.
/// </summary>
public class DynamicQuantizerTests
{
    [Theory]
    [InlineData("ce-bert-tiny")]
    [InlineData("ce-bert-tiny-2label")]
    [InlineData("ce-minilm-l6-arch")]
    [InlineData("ce-xlmr-tiny")]
    [InlineData("ce-roberta-bpe-tiny")]
    public void MatchesOnnxRuntimesQuantizeDynamic(string fixture)
    {
        var dir = Path.Combine(TestPaths.Fixture(fixture), "onnx");
        var ours = OnnxModelIO.Load(Path.Combine(dir, "model.onnx"));
        var (matmuls, gathers, _) = DynamicQuantizer.Quantize(ours);
        var theirs = OnnxModelIO.Load(Path.Combine(dir, "model_quantized.onnx"));

        Assert.True(matmuls > 0 && gathers > 0, $"{fixture}: {matmuls} MatMuls, {gathers} Gathers quantized");
        // Same operators, the same number of times.
        static string Histogram(GraphProto g) => string.Join(",", g.Node.GroupBy(n => n.OpType).OrderBy(x => x.Key).Select(x => $"{x.Key}:{x.Count()}"));
        Assert.Equal(Histogram(theirs.Graph), Histogram(ours.Graph));

        // Every quantized tensor: same shape, same type, same values; scales equal to float precision.
        var mine = ours.Graph.Initializer.ToDictionary(t => t.Name);
        var quantized = theirs.Graph.Initializer.Where(t => t.Name.EndsWith("_quantized", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(quantized);
        foreach (var t in quantized)
        {
            Assert.True(mine.TryGetValue(t.Name, out var m), $"{fixture}: {t.Name} missing");
            Assert.Equal(t.DataType, m!.DataType);
            Assert.Equal(t.Dims, m.Dims);
            var a = t.RawData.Span;
            var b = m.RawData.Span;
            Assert.Equal(a.Length, b.Length);
            var differ = 0;
            for (var i = 0; i < a.Length; i++) if (a[i] != b[i]) differ++;
            Assert.True(differ == 0, $"{fixture}: {t.Name}: {differ} of {a.Length} values differ");

            var baseName = t.Name[..^"_quantized".Length];
            var theirScale = TensorData.ReadFloats(theirs.Graph.Initializer.Single(x => x.Name == baseName + "_scale"))[0];
            var myScale = TensorData.ReadFloats(mine[baseName + "_scale"])[0];
            Assert.Equal(theirScale, myScale);
            var theirZp = TensorData.ReadAsDoubles(theirs.Graph.Initializer.Single(x => x.Name == baseName + "_zero_point"))[0];
            Assert.Equal(theirZp, TensorData.ReadAsDoubles(mine[baseName + "_zero_point"])[0]);
        }
    }

    [Fact]
    public void RefusesAModelWithNothingToQuantize()
    {
        var path = Path.Combine(TestPaths.Fixture("ce-bert-tiny"), "onnx", "model_quantized.onnx");
        var output = Path.Combine(Path.GetTempPath(), "sift-q-" + Guid.NewGuid().ToString("N") + ".onnx");
        var ex = Assert.Throws<InvalidOperationException>(() => DynamicQuantizer.Quantize(path, output));
        Assert.Contains("nothing to quantize", ex.Message);
        Assert.False(File.Exists(output));
    }
}
