using TorchSharp;
using static TorchSharp.torch;

namespace Sift.Training.Engine;

/// <summary>
/// BertForSequenceClassification (embeddings, N post-LN encoder layers, pooler, classifier) holding its weights
/// under Hugging Face names. Dropout applies in training mode only, at the places Hugging Face puts it
/// (embeddings, attention probabilities, after each output projection, before the classifier).
/// </summary>
public sealed class BertModel : IDisposable
{
    private readonly Dictionary<string, Tensor> _p = new(StringComparer.Ordinal);

    public BertConfig Config { get; }
    public ScalarType DType { get; }
    /// <summary>Parameter names in a fixed order (checkpoints and the optimizer rely on it).</summary>
    public IReadOnlyList<string> Names { get; }

    public BertModel(BertConfig config, IEnumerable<NamedTensor> weights, ScalarType dtype = ScalarType.Float32)
    {
        Config = config;
        DType = dtype;
        var names = new List<string>();
        foreach (var w in weights)
        {
            var t = tensor(w.Data, w.Shape).to_type(dtype).detach().requires_grad_(true);
            _p[w.Name] = t;
            names.Add(w.Name);
        }
        Names = names;
        foreach (var n in ExpectedNames(config))
            if (!_p.ContainsKey(n)) throw new InvalidDataException($"weight {n} is missing");
    }

    public Tensor this[string name] => _p[name];
    public IEnumerable<Tensor> Parameters => Names.Select(n => _p[n]);
    public long ParameterCount => Parameters.Sum(p => p.numel());

    public static IEnumerable<string> ExpectedNames(BertConfig c)
    {
        yield return "bert.embeddings.word_embeddings.weight";
        yield return "bert.embeddings.position_embeddings.weight";
        yield return "bert.embeddings.token_type_embeddings.weight";
        yield return "bert.embeddings.LayerNorm.weight";
        yield return "bert.embeddings.LayerNorm.bias";
        foreach (var l in Enumerable.Range(0, c.NumLayers))
            foreach (var m in new[] { "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm" })
            {
                yield return $"bert.encoder.layer.{l}.{m}.weight";
                yield return $"bert.encoder.layer.{l}.{m}.bias";
            }
        yield return "bert.pooler.dense.weight";
        yield return "bert.pooler.dense.bias";
        yield return "classifier.weight";
        yield return "classifier.bias";
    }

    /// <summary>A new classification head as Hugging Face initialises one: weight ~ N(0, 0.02), bias 0.</summary>
    public static List<NamedTensor> NewHead(BertConfig c, int seed)
    {
        var rng = new Random(seed);
        var w = new float[c.NumLabels * c.HiddenSize];
        for (int i = 0; i < w.Length; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            w[i] = (float)(0.02 * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return [new("classifier.weight", w, [c.NumLabels, c.HiddenSize]), new("classifier.bias", new float[c.NumLabels], [c.NumLabels])];
    }

    /// <summary>Logits [B, num_labels] for token ids, attention mask and token types, all int64 [B, S].</summary>
    public Tensor Forward(Tensor ids, Tensor mask, Tensor types, bool training)
    {
        var c = Config;
        double pH = training ? c.HiddenDropout : 0, pA = training ? c.AttentionDropout : 0;
        var x = BertOps.Embeddings(ids, types, _p["bert.embeddings.word_embeddings.weight"], _p["bert.embeddings.position_embeddings.weight"],
            _p["bert.embeddings.token_type_embeddings.weight"], _p["bert.embeddings.LayerNorm.weight"], _p["bert.embeddings.LayerNorm.bias"], c.LayerNormEps, pH, training);
        var bias = BertOps.MaskBias(mask, DType);
        for (int l = 0; l < c.NumLayers; l++)
        {
            string p = $"bert.encoder.layer.{l}.";
            Tensor W(string m) => _p[p + m + ".weight"];
            Tensor B(string m) => _p[p + m + ".bias"];
            var a = BertOps.SelfAttention(x, bias, c.NumHeads, W("attention.self.query"), B("attention.self.query"), W("attention.self.key"), B("attention.self.key"),
                W("attention.self.value"), B("attention.self.value"), W("attention.output.dense"), B("attention.output.dense"), pA, training);
            x = BertOps.LayerNorm(nn.functional.dropout(a, pH, training) + x, W("attention.output.LayerNorm"), B("attention.output.LayerNorm"), c.LayerNormEps);
            var f = BertOps.Linear(BertOps.Gelu(BertOps.Linear(x, W("intermediate.dense"), B("intermediate.dense"))), W("output.dense"), B("output.dense"));
            x = BertOps.LayerNorm(nn.functional.dropout(f, pH, training) + x, W("output.LayerNorm"), B("output.LayerNorm"), c.LayerNormEps);
        }
        var pooled = BertOps.Pooler(x, _p["bert.pooler.dense.weight"], _p["bert.pooler.dense.bias"]);
        return BertOps.Linear(nn.functional.dropout(pooled, pH, training), _p["classifier.weight"], _p["classifier.bias"]);
    }

    /// <summary>Current weights as float32 arrays (for export and checkpoints).</summary>
    public List<NamedTensor> Snapshot()
    {
        using var _ = no_grad();
        return Names.Select(n => new NamedTensor(n, _p[n].to_type(ScalarType.Float32).cpu().data<float>().ToArray(), _p[n].shape)).ToList();
    }

    /// <summary>Overwrites weights in place (resume from a checkpoint).</summary>
    public void Load(IEnumerable<NamedTensor> weights)
    {
        using var _ = no_grad();
        foreach (var w in weights)
        {
            using var src = tensor(w.Data, w.Shape).to_type(DType);
            _p[w.Name].copy_(src);
        }
    }

    /// <summary>Loads a model directory: its ONNX weights, plus a fresh head where the source has none (a bi-encoder).</summary>
    public static BertModel FromDirectory(string dir, ScalarType dtype = ScalarType.Float32, int seed = 42, string? onnxPath = null)
    {
        var cfg = BertConfig.FromDirectory(dir);
        onnxPath ??= FindOnnx(dir);
        var read = OnnxBertWeights.Read(onnxPath, cfg);
        var weights = read.Tensors;
        if (!read.HasClassifier) weights.AddRange(NewHead(cfg, seed));
        return new BertModel(cfg, weights, dtype);
    }

    public static string FindOnnx(string dir)
    {
        foreach (var c in new[] { Path.Combine(dir, "onnx", "model.onnx"), Path.Combine(dir, "model.onnx") })
            if (File.Exists(c)) return c;
        throw new FileNotFoundException($"{dir}: no onnx/model.onnx or model.onnx");
    }

    public void Dispose()
    {
        foreach (var t in _p.Values) t.Dispose();
        _p.Clear();
    }
}
