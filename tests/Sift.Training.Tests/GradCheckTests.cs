using Sift.Training.Engine;
using Sift.Training.Training;
using static TorchSharp.torch;

namespace Sift.Training.Tests;

/// <summary>
/// Every op's backward pass against central finite differences in float64 (torch.autograd.gradcheck's method):
/// the analytic gradient of sum(f(x) * R) for a fixed random R must match (f(x + e) - f(x - e)) / 2e element by element.
/// </summary>
public class GradCheckTests
{
    static GradCheckTests() => TorchRuntime.EnsureLoaded(threads: 1);

    private static Tensor R(params long[] shape) => randn(shape, dtype: ScalarType.Float64);
    private static Tensor P(params long[] shape) => R(shape).requires_grad_(true);

    /// <summary>Checks up to <paramref name="maxPerInput"/> elements of each input; returns the worst relative error seen.</summary>
    internal static void Check(Func<Tensor> f, IReadOnlyList<Tensor> inputs, int maxPerInput = 40, double eps = 1e-6, double atol = 1e-7, double rtol = 1e-5)
    {
        manual_seed(99);
        Tensor weights;
        using (no_grad()) { using var y0 = f(); weights = randn_like(y0); }
        foreach (var x in inputs) x.grad?.zero_();
        using (var y = f()) using (var s = (y * weights).sum()) s.backward();
        var rng = new Random(5);
        foreach (var (x, k) in inputs.Select((x, k) => (x, k)))
        {
            var analytic = x.grad!.reshape(-1).data<double>().ToArray();
            long n = x.numel();
            var idx = n <= maxPerInput ? Enumerable.Range(0, (int)n).ToList() : Enumerable.Range(0, maxPerInput).Select(_ => rng.Next((int)n)).ToList();
            foreach (var i in idx)
            {
                double plus, minus;
                using (no_grad())
                {
                    using var flat = x.view(-1);
                    using var e = flat[i];
                    e.add_(eps);
                    using (var y = f()) plus = (y * weights).sum().item<double>();
                    e.add_(-2 * eps);
                    using (var y = f()) minus = (y * weights).sum().item<double>();
                    e.add_(eps);
                }
                double numeric = (plus - minus) / (2 * eps);
                Assert.True(Math.Abs(analytic[i] - numeric) <= atol + rtol * Math.Abs(numeric) + 1e-6 * Math.Abs(numeric),
                    $"input {k} element {i}: analytic {analytic[i]:g10} vs numeric {numeric:g10}");
            }
        }
    }

    [Fact]
    public void Linear()
    {
        var (x, w, b) = (P(2, 3, 5), P(4, 5), P(4));
        Check(() => BertOps.Linear(x, w, b), [x, w, b]);
    }

    [Fact]
    public void LayerNorm()
    {
        var (x, g, b) = (P(2, 3, 6), P(6), P(6));
        Check(() => BertOps.LayerNorm(x, g, b, 1e-12), [x, g, b]);
    }

    [Fact]
    public void Gelu()
    {
        var x = P(4, 7);
        Check(() => BertOps.Gelu(x), [x]);
        // The erf form, not the tanh approximation: 0.5 x (1 + erf(x / sqrt 2)) at x = 1.
        using var one = tensor(new[] { 1.0 });
        Assert.Equal(0.8413447460685429, BertOps.Gelu(one).item<double>(), 12);
    }

    [Fact]
    public void Softmax()
    {
        var x = P(3, 5);
        Check(() => BertOps.Softmax(x), [x]);
    }

    [Fact]
    public void SelfAttentionWithPaddingMask()
    {
        long h = 6;
        var x = P(2, 4, h);
        var ws = Enumerable.Range(0, 4).Select(_ => P(h, h)).ToArray();
        var bs = Enumerable.Range(0, 4).Select(_ => P(h)).ToArray();
        using var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 0, 0 }, [2, 4]);
        using var bias = BertOps.MaskBias(mask, ScalarType.Float64);
        Tensor F() => BertOps.SelfAttention(x, bias, 2, ws[0], bs[0], ws[1], bs[1], ws[2], bs[2], ws[3], bs[3], 0, false);
        Check(F, [x, .. ws, .. bs]);
        // Padded keys must not influence real tokens: their inputs get no gradient through real outputs.
        x.grad?.zero_();
        using (var y = F()) y.narrow(1, 0, 2).sum().backward();
        var gPad = x.grad!.select(0, 1).narrow(0, 2, 2).abs().max().item<double>();
        Assert.True(gPad < 1e-12, $"padded positions got gradient {gPad}");
    }

    [Fact]
    public void Embeddings()
    {
        long h = 6;
        var (word, pos, type, g, b) = (P(10, h), P(8, h), P(2, h), P(h), P(h));
        using var ids = tensor(new long[] { 1, 4, 4, 9, 2, 0 }, [2, 3]);
        using var types = tensor(new long[] { 0, 0, 1, 0, 1, 1 }, [2, 3]);
        Check(() => BertOps.Embeddings(ids, types, word, pos, type, g, b, 1e-12, 0, false), [word, pos, type, g, b]);
    }

    [Fact]
    public void PoolerAndClassifier()
    {
        var (hid, pw, pb, cw, cb) = (P(3, 4, 6), P(6, 6), P(6), P(1, 6), P(1));
        Check(() => BertOps.Linear(BertOps.Pooler(hid, pw, pb), cw, cb), [hid, pw, pb, cw, cb]);
    }

    [Fact]
    public void BinaryCrossEntropy()
    {
        var z = P(6);
        using var y = tensor(new double[] { 1, 0, 0, 1, 0, 0 });
        Check(() => BertOps.BceLoss(z, y), [z]);
        // Value: mean of softplus(z) - y z.
        var zs = z.data<double>().ToArray();
        double expected = zs.Select((v, i) => Math.Log(1 + Math.Exp(v)) - (i % 3 == 0 ? v : 0)).Average();
        Assert.Equal(expected, BertOps.BceLoss(z, y).item<double>(), 10);
    }

    [Fact]
    public void ListwiseSoftmaxCrossEntropy()
    {
        var z = P(3, 4);
        Check(() => BertOps.ListwiseLoss(z), [z]);
        var rows = z.data<double>().ToArray().Chunk(4).ToArray();
        double expected = rows.Select(r => Math.Log(r.Sum(Math.Exp)) - r[0]).Average();
        Assert.Equal(expected, BertOps.ListwiseLoss(z).item<double>(), 10);
    }

    internal static BertModel TinyModel(int seed, int layers = 2)
    {
        var c = new BertConfig(VocabSize: 20, HiddenSize: 8, NumLayers: layers, NumHeads: 2, IntermediateSize: 16, MaxPositions: 16, NumLabels: 1);
        var rng = new Random(seed);
        var weights = BertModel.ExpectedNames(c).Select(n =>
        {
            long[] shape = n switch
            {
                "bert.embeddings.word_embeddings.weight" => [20, 8],
                "bert.embeddings.position_embeddings.weight" => [16, 8],
                "bert.embeddings.token_type_embeddings.weight" => [2, 8],
                "classifier.weight" => [1, 8],
                "classifier.bias" => [1],
                _ when n.Contains("intermediate.dense.weight", StringComparison.Ordinal) => [16, 8],
                _ when n.Contains("intermediate.dense.bias", StringComparison.Ordinal) => [16],
                _ when n.Contains("output.dense.weight", StringComparison.Ordinal) && !n.Contains("attention", StringComparison.Ordinal) => [8, 16],
                _ when n.EndsWith(".weight", StringComparison.Ordinal) && !n.Contains("LayerNorm", StringComparison.Ordinal) => [8, 8],
                _ => [8],
            };
            var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
            bool gamma = n.Contains("LayerNorm.weight", StringComparison.Ordinal);
            for (int i = 0; i < data.Length; i++) data[i] = (gamma ? 1f : 0f) + (float)(0.3 * (rng.NextDouble() * 2 - 1));
            return new NamedTensor(n, data, shape);
        }).ToList();
        return new BertModel(c, weights, ScalarType.Float64);
    }

    [Fact]
    public void WholeModelOnTinyConfig()
    {
        using var model = TinyModel(11);
        using var ids = tensor(new long[] { 2, 5, 7, 3, 9, 1, 2, 6, 3, 0, 0, 0 }, [2, 6]);
        using var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 }, [2, 6]);
        using var types = tensor(new long[] { 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0 }, [2, 6]);
        Check(() => model.Forward(ids, mask, types, training: false), model.Parameters.ToList(), maxPerInput: 12);
        // Through the listwise loss too (2 sequences = one query with one negative).
        Check(() => BertOps.ListwiseLoss(model.Forward(ids, mask, types, training: false).view(1, 2)), model.Parameters.Take(6).ToList(), maxPerInput: 8);
    }

    [Fact]
    public void PaddingDoesNotChangeLogits()
    {
        using var model = TinyModel(12);
        using var _ = no_grad();
        using var ids = tensor(new long[] { 2, 5, 7, 3 }, [1, 4]);
        using var ones = ones_like(ids);
        using var types = zeros_like(ids);
        using var a = model.Forward(ids, ones, types, training: false);
        using var padIds = tensor(new long[] { 2, 5, 7, 3, 0, 0, 0 }, [1, 7]);
        using var padMask = tensor(new long[] { 1, 1, 1, 1, 0, 0, 0 }, [1, 7]);
        using var b = model.Forward(padIds, padMask, zeros_like(padIds), training: false);
        Assert.True(Math.Abs(a.item<double>() - b.item<double>()) < 1e-9);
    }

    [Fact]
    public void DropoutOnlyInTrainingMode()
    {
        using var model = TinyModel(13);
        using var _ = no_grad();
        using var ids = tensor(new long[] { 2, 5, 7, 3, 4, 4 }, [1, 6]);
        using var mask = ones_like(ids);
        using var types = zeros_like(ids);
        double Eval() { using var y = model.Forward(ids, mask, types, training: false); return y.item<double>(); }
        double Train() { using var y = model.Forward(ids, mask, types, training: true); return y.item<double>(); }
        Assert.Equal(Eval(), Eval());
        manual_seed(1);
        var t1 = Train();
        manual_seed(2);
        Assert.NotEqual(t1, Train());
        manual_seed(1);
        Assert.Equal(t1, Train()); // seeded: a resumed run draws the same masks
    }

    [Fact]
    public void ClipGradNormMatchesDefinition()
    {
        var a = P(3);
        var b = P(2, 2);
        (a.sum() * 3 + (b * b).sum()).backward();
        double before = Math.Sqrt(a.grad!.square().sum().item<double>() + b.grad!.square().sum().item<double>());
        double reported = Trainer.ClipGradNorm([a, b], 1.0);
        Assert.Equal(before, reported, 9);
        double after = Math.Sqrt(a.grad!.square().sum().item<double>() + b.grad!.square().sum().item<double>());
        Assert.Equal(1.0, after, 5);
    }
}
