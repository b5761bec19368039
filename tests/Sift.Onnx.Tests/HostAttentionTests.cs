using Sift.Testing;

namespace Sift.Onnx.Tests;

/// <summary>
/// Sift's attention kernel against a plain double-precision implementation, and the graph cut at attention
/// (ONNX Runtime segments + kernel) against the references and against ONNX Runtime running the whole graph.
/// </summary>
public class HostAttentionTests
{
    [Theory]
    [InlineData(1, 1, 1, 32)]
    [InlineData(3, 17, 2, 32)]
    [InlineData(4, 95, 12, 32)]
    [InlineData(2, 130, 4, 64)]
    [InlineData(2, 33, 3, 16)]
    public void KernelMatchesReferenceAttention(int batch, int seq, int heads, int headSize)
    {
        if (!AttentionKernel.IsSupported) return; // no AVX-512: the kernel is never used (see UsesTheKernelWhereSupported)
        int hidden = heads * headSize;
        var rnd = new Random(batch * 1000 + seq);
        float[] Fill() => Enumerable.Range(0, batch * seq * hidden).Select(_ => (float)(rnd.NextDouble() * 4 - 2)).ToArray();
        float[] q = Fill(), k = Fill(), v = Fill();
        var lengths = Enumerable.Range(0, batch).Select(b => Math.Max(1, seq - 7 * b)).ToArray();
        float scale = 1f / MathF.Sqrt(headSize);
        var output = new float[q.Length];
        AttentionKernel.Run(q, k, v, output, batch, seq, heads, headSize, scale, lengths, threads: 2);

        double maxErr = 0;
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++)
        for (int i = 0; i < seq; i++) // padded query rows too: they attend to the real keys, like the masked graph
        {
            int L = lengths[b];
            var s = new double[L];
            for (int j = 0; j < L; j++)
            {
                double dot = 0;
                for (int d = 0; d < headSize; d++) dot += q[(b * seq + i) * hidden + h * headSize + d] * (double)k[(b * seq + j) * hidden + h * headSize + d];
                s[j] = dot * scale;
            }
            double max = s.Max(), sum = 0;
            for (int j = 0; j < L; j++) sum += s[j] = Math.Exp(s[j] - max);
            for (int d = 0; d < headSize; d++)
            {
                double o = 0;
                for (int j = 0; j < L; j++) o += s[j] / sum * v[(b * seq + j) * hidden + h * headSize + d];
                maxErr = Math.Max(maxErr, Math.Abs(o - output[(b * seq + i) * hidden + h * headSize + d]));
            }
        }
        Assert.True(maxErr < 2e-6, $"max error {maxErr:E2}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(40_000)]
    public void GeluMatchesTheErfDefinition(int n)
    {
        if (!GeluKernel.IsSupported) return;
        var rnd = new Random(n);
        var x = Enumerable.Range(0, n).Select(i => i < 6 ? new[] { 0f, -0f, 5.5f, -5.5f, 1e-8f, -3.2f }[i] : (float)(rnd.NextDouble() * 12 - 6)).ToArray();
        var y = new float[n];
        GeluKernel.Run(x, y, threads: 2);
        for (int i = 0; i < n; i++)
        {
            double expected = 0.5 * x[i] * (1 + ErfSeries(x[i] / Math.Sqrt(2)));
            Assert.True(Math.Abs(expected - y[i]) <= 1e-6 * Math.Max(1, Math.Abs(expected)), $"gelu({x[i]}) = {y[i]}, expected {expected}");
        }
        // In place (how the encoder runs it) gives the same values.
        GeluKernel.Run(x, x, threads: 1);
        Assert.Equal(y, x);
    }

    /// <summary>erf by its Maclaurin series in double (converges everywhere; accurate to ~1e-9 for |x| ≤ 5).</summary>
    private static double ErfSeries(double x)
    {
        if (Math.Abs(x) > 5) return Math.Sign(x);
        double sum = 0, term = x;
        for (int n = 0; n < 200; n++)
        {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    [Fact]
    public void FirstQueryRowEqualsTheFullComputationsFirstRow()
    {
        if (!AttentionKernel.IsSupported) return;
        const int batch = 3, seq = 21, heads = 4, headSize = 32, hidden = heads * headSize;
        var rnd = new Random(7);
        float[] Fill() => Enumerable.Range(0, batch * seq * hidden).Select(_ => (float)(rnd.NextDouble() * 4 - 2)).ToArray();
        float[] q = Fill(), k = Fill(), v = Fill();
        int[] lengths = [21, 9, 1];
        var full = new float[batch * seq * hidden];
        var first = new float[batch * hidden];
        AttentionKernel.Run(q, k, v, full, batch, seq, heads, headSize, 0.17f, lengths, threads: 2);
        AttentionKernel.Run(q, k, v, first, batch, seq, heads, headSize, 0.17f, lengths, threads: 1, queryRows: 1);
        // Same code, same order: bit-identical, so pruning the last layer cannot move a score through attention.
        for (int b = 0; b < batch; b++)
        {
            Assert.Equal(full.AsSpan(b * seq * hidden, hidden).ToArray(), first.AsSpan(b * hidden, hidden).ToArray());
        }
        Assert.Throws<ArgumentException>(() => AttentionKernel.Run(q, k, v, new float[batch * hidden - 1], batch, seq, heads, headSize, 1f, lengths, 1, queryRows: 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => AttentionKernel.Run(q, k, v, full, batch, seq, heads, headSize, 1f, lengths, 1, queryRows: seq + 1));
    }

    [Fact]
    public void KernelRejectsBadShapes()
    {
        var t = new float[2 * 4 * 32];
        Assert.Throws<ArgumentOutOfRangeException>(() => AttentionKernel.Run(t, t, t, t, 2, 4, 1, 32, 1f, [0, 4], 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => AttentionKernel.Run(t, t, t, t, 2, 4, 1, 32, 1f, [5, 4], 1));
        Assert.Throws<ArgumentException>(() => AttentionKernel.Run(t, t, t, t, 2, 8, 1, 32, 1f, [1, 1], 1));
    }

    [Fact]
    public void UsesTheKernelWhereSupported()
    {
        using var ce = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"));
        if (AttentionKernel.IsSupported) Assert.StartsWith("sift kernel (2 layers, GELU too, last layer for the first token only", ce.AttentionPath);
        else Assert.Contains("no AVX-512", ce.AttentionPath);
        using var off = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), new CrossEncoderOptions { HostAttention = false });
        Assert.Contains("host attention off", off.AttentionPath);
        using var full = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), new CrossEncoderOptions { ClsOnlyLastLayer = false });
        Assert.DoesNotContain("first token", full.AttentionPath);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void ClsOnlyLastLayerLeavesFp32LogitsUnchanged(string name)
    {
        if (!AttentionKernel.IsSupported) return;
        var pairs = References.Pairs.Take(name == "ce-minilm-l6-arch" ? 40 : 84).ToArray();
        using var pruned = CrossEncoder.Load(TestPaths.Fixture(name));
        using var full = CrossEncoder.Load(TestPaths.Fixture(name), new CrossEncoderOptions { ClsOnlyLastLayer = false });
        Assert.Contains("last layer for the first token only", pruned.AttentionPath);
        var a = pruned.PredictLogits(pairs);
        var b = full.PredictLogits(pairs);
        for (var i = 0; i < a.Length; i++)
        {
            // Only GEMM blocking over fewer rows can differ: float rounding, far below the 1e-4 parity tolerance.
            Assert.True(Math.Abs(a[i][0] - b[i][0]) <= 1e-5, $"{name} pair {i}: first token only {a[i][0]}, every token {b[i][0]}");
        }
    }

    public static TheoryData<string> Models => new() { "ce-bert-tiny", "ce-minilm-l6-arch", "ce-xlmr-tiny", "ce-roberta-bpe-tiny" };

    [Theory]
    [MemberData(nameof(Models))]
    public void Fp32LogitsEqualOnnxRuntimeAttention(string name)
    {
        var pairs = References.Pairs.Take(name == "ce-minilm-l6-arch" ? 40 : 84).ToArray();
        using var kernel = CrossEncoder.Load(TestPaths.Fixture(name));
        using var onnx = CrossEncoder.Load(TestPaths.Fixture(name), new CrossEncoderOptions { HostAttention = false });
        var a = kernel.PredictLogits(pairs);
        var b = onnx.PredictLogits(pairs);
        for (var i = 0; i < a.Length; i++)
        {
            Assert.True(Math.Abs(a[i][0] - b[i][0]) <= 1e-4, $"{name} pair {i}: kernel {a[i][0]}, ONNX Runtime {b[i][0]}");
        }
    }

    [Theory]
    [InlineData("ce-bert-tiny")]
    [InlineData("ce-xlmr-tiny")]
    public void Int8RankingAgreesWithOnnxRuntimeAttention(string name)
    {
        // Dynamic quantization rounds each activation to 8 bits with a per-batch scale, so float-rounding differences
        // in attention (a different exp and summation order) can flip a rounding step and move an int8 logit; the
        // parity with ONNX Runtime's own int8 numbers is checked with HostAttention = false in the parity tests.
        // Here: the kernel path ranks the 84 pairs like ONNX Runtime's int8 path does.
        using var kernel = CrossEncoder.Load(TestPaths.Fixture(name), new CrossEncoderOptions { Precision = ModelPrecision.Int8 });
        using var onnx = CrossEncoder.Load(TestPaths.Fixture(name), new CrossEncoderOptions { Precision = ModelPrecision.Int8, HostAttention = false });
        var a = kernel.PredictLogits(References.Pairs).Select(l => (double)l[0]).ToArray();
        var b = onnx.PredictLogits(References.Pairs).Select(l => (double)l[0]).ToArray();
        var rho = QualityChecks.Spearman(a, b);
        Assert.True(rho >= 0.99, $"{name}: Spearman(kernel int8, ONNX Runtime int8) = {rho:0.0000}");
    }
}

public sealed class SplitModelCacheTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "sift-split-cache-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void CutsOnceThenReadsTheCachedSegments()
    {
        var onnx = Path.Combine(TestPaths.Fixture("ce-bert-tiny"), "onnx", "model.onnx");
        var first = SplitModelCache.Load(onnx, gelu: true, out var why, _root);
        Assert.True(first is not null, why);
        Assert.All(first.SegmentFiles, f => Assert.True(File.Exists(f), f));
        var stamp = File.GetLastWriteTimeUtc(first.SegmentFiles[0]!);

        var second = SplitModelCache.Load(onnx, gelu: true, out why, _root);
        Assert.True(second is not null, why);
        Assert.Equal(first.SegmentFiles, second.SegmentFiles);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(second.SegmentFiles[0]!)); // read back, not cut again
        Assert.Equal(first.Graph.Steps, second.Graph.Steps);
        Assert.Equal(first.Graph.Segments.Select(s => string.Join(",", s.Inputs) + "|" + string.Join(",", s.Outputs)),
            second.Graph.Segments.Select(s => string.Join(",", s.Inputs) + "|" + string.Join(",", s.Outputs)));
    }

    [Fact]
    public void RemembersWhyAGraphCannotBeCut()
    {
        // A graph whose attention is already fused into MultiHeadAttention has nothing to cut at.
        var original = File.ReadAllBytes(Path.Combine(TestPaths.Fixture("ce-bert-tiny"), "onnx", "model.onnx"));
        var (fused, _) = Sift.Onnx.GraphOptimizer.OnnxGraphOptimizer.FuseAttention(original);
        Directory.CreateDirectory(_root);
        var path = Path.Combine(_root, "fused.onnx");
        File.WriteAllBytes(path, fused!);
        Assert.Null(SplitModelCache.Load(path, gelu: true, out var why, _root));
        Assert.Contains("no self-attention block", why);
        Assert.Null(SplitModelCache.Load(path, gelu: true, out var again, _root));
        Assert.Equal(why, again);
        Assert.Single(Directory.GetFiles(Path.Combine(_root, "split"), "unsupported.txt", SearchOption.AllDirectories));
    }
}
