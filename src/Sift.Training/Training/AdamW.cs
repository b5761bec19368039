using Sift.Training.Engine;
using static TorchSharp.torch;

namespace Sift.Training.Training;

/// <summary>
/// AdamW (decoupled weight decay, bias-corrected moments) as in PyTorch/Hugging Face, written out so that its
/// state is ours to checkpoint and resume exactly. Biases and LayerNorm weights get no decay (HF's default grouping).
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly BertModel _model;
    private readonly Tensor[] _m, _v;
    private readonly bool[] _decay;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    public double WeightDecay { get; init; } = 0.01;
    public long Step { get; private set; }

    public AdamW(BertModel model)
    {
        _model = model;
        var n = model.Names.Count;
        _m = new Tensor[n];
        _v = new Tensor[n];
        _decay = new bool[n];
        for (int i = 0; i < n; i++)
        {
            var p = model[model.Names[i]];
            _m[i] = zeros_like(p);
            _v[i] = zeros_like(p);
            var name = model.Names[i];
            _decay[i] = !(name.EndsWith(".bias", StringComparison.Ordinal) || name.Contains("LayerNorm", StringComparison.Ordinal));
        }
    }

    public void Apply(double lr)
    {
        using var _ = no_grad();
        Step++;
        double bc1 = 1 - Math.Pow(Beta1, Step), bc2 = 1 - Math.Pow(Beta2, Step);
        for (int i = 0; i < _m.Length; i++)
        {
            var p = _model[_model.Names[i]];
            var g = p.grad;
            if (g is null) continue;
            _m[i].mul_(Beta1).add_(g, 1 - Beta1);
            _v[i].mul_(Beta2).addcmul_(g, g, 1 - Beta2);
            if (_decay[i] && WeightDecay > 0) p.mul_(1 - lr * WeightDecay);
            using var denom = (_v[i] / bc2).sqrt_().add_(Eps);
            p.addcdiv_(_m[i], denom, -lr / bc1);
        }
    }

    public void ZeroGrad()
    {
        foreach (var p in _model.Parameters)
            p.grad?.zero_();
    }

    public List<NamedTensor> StateSnapshot(string which)
    {
        var src = which == "m" ? _m : _v;
        return _model.Names.Select((n, i) => new NamedTensor(n, src[i].to_type(ScalarType.Float32).data<float>().ToArray(), src[i].shape)).ToList();
    }

    public void LoadState(long step, IReadOnlyList<NamedTensor> m, IReadOnlyList<NamedTensor> v)
    {
        using var _ = no_grad();
        Step = step;
        var index = _model.Names.Select((n, i) => (n, i)).ToDictionary(t => t.n, t => t.i);
        foreach (var t in m) { using var s = tensor(t.Data, t.Shape).to_type(_m[0].dtype); _m[index[t.Name]].copy_(s); }
        foreach (var t in v) { using var s = tensor(t.Data, t.Shape).to_type(_v[0].dtype); _v[index[t.Name]].copy_(s); }
    }

    public void Dispose()
    {
        foreach (var t in _m) t.Dispose();
        foreach (var t in _v) t.Dispose();
    }
}
