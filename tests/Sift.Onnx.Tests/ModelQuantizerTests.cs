using Sift.Testing;

namespace Sift.Onnx.Tests;

/// <summary>
/// Models quantized by Sift score like the fixtures' own model_quantized.onnx (made by ONNX Runtime's Python
/// quantize_dynamic): logits within 1e-3 of ONNX Runtime's recorded int8 logits on the reference pairs.
/// </summary>
public sealed class ModelQuantizerTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "sift-quant-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    /// <summary>A copy of a fixture without its int8 file, so only Sift's quantizer can provide one.</summary>
    private string CopyWithoutInt8(string fixture)
    {
        var src = TestPaths.Fixture(fixture);
        var dst = Path.Combine(_root, fixture);
        foreach (var file in Directory.EnumerateFiles(src, "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(src, file);
            if (rel.EndsWith("model_quantized.onnx", StringComparison.Ordinal)) continue;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(dst, rel))!);
            File.Copy(file, Path.Combine(dst, rel));
        }
        return dst;
    }

    [Theory]
    [InlineData("ce-bert-tiny")]
    [InlineData("ce-bert-tiny-2label")]
    [InlineData("ce-minilm-l6-arch")]
    public void QuantizedLogitsMatchOnnxRuntimesInt8Reference(string fixture)
    {
        var dir = CopyWithoutInt8(fixture);
        var (path, report) = ModelQuantizer.QuantizeDirectory(dir);
        Assert.NotNull(report);
        Assert.True(File.Exists(path));
        Assert.True(report.OutputBytes < report.InputBytes / 3, $"int8 file {report.OutputBytes} bytes vs fp32 {report.InputBytes}");

        // Same batching as the reference (batches of 16 in input order), ONNX Runtime's own attention.
        var options = new CrossEncoderOptions { Precision = ModelPrecision.Int8, BatchSize = 16, SortByLength = false, HostAttention = false };
        using var ce = CrossEncoder.Load(dir, options);
        Assert.Equal(path, ce.Model.OnnxPath);
        // The fixture's own int8 file (ONNX Runtime's Python tool) run the same way; where references.json records
        // ONNX Runtime's int8 logits (the tiny fixtures), against those too.
        using var theirs = CrossEncoder.Load(Path.Combine(TestPaths.Fixture(fixture), "onnx", "model_quantized.onnx"), options);
        var pairs = References.Pairs.Take(40).ToArray();
        var actual = ce.PredictLogits(pairs);
        AssertClose(theirs.PredictLogits(pairs), actual, 1e-3, fixture + " vs the fixture's model_quantized.onnx");
        if (References.Model(fixture).TryGetProperty("ort_int8_logits", out _))
        {
            var expected = References.Logits(fixture, "ort_int8_logits");
            AssertClose(expected, ce.PredictLogits(References.Pairs.Take(expected.Length).ToArray()), 1e-3, fixture + " vs ort_int8_logits");
        }
    }

    private static void AssertClose(float[][] expected, float[][] actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = 0.0;
        for (var i = 0; i < expected.Length; i++)
        for (var j = 0; j < expected[i].Length; j++)
            worst = Math.Max(worst, Math.Abs(expected[i][j] - actual[i][j]));
        Assert.True(worst <= tolerance, $"{what}: max |Δlogit| = {worst}");
    }

    [Fact]
    public void QuantizesABiEncoderAndKeepsItsEmbeddings()
    {
        var dir = CopyWithoutInt8("bi-bert-tiny");
        var (_, report) = ModelQuantizer.QuantizeDirectory(dir);
        Assert.NotNull(report);
        using var fp32 = BiEncoder.Load(dir);
        using var int8 = BiEncoder.Load(dir, new BiEncoderOptions { Precision = ModelPrecision.Int8 });
        var texts = References.Pairs.Take(40).Select(p => p.Document).ToArray();
        var a = fp32.Embed(texts);
        var b = int8.Embed(texts);
        for (var i = 0; i < texts.Length; i++)
        {
            var cos = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(a[i], b[i]);
            Assert.True(cos >= 0.99, $"text {i}: cosine(fp32, int8) = {cos}");
        }
    }

    [Fact]
    public void KeepsAnExistingFileUnlessAskedToOverwrite()
    {
        var dir = CopyWithoutInt8("ce-bert-tiny");
        var (path, first) = ModelQuantizer.QuantizeDirectory(dir);
        Assert.NotNull(first);
        var (_, second) = ModelQuantizer.QuantizeDirectory(dir);
        Assert.Null(second);
        var (_, third) = ModelQuantizer.QuantizeDirectory(dir, overwrite: true);
        Assert.NotNull(third);
        Assert.True(File.Exists(path));
    }
}
