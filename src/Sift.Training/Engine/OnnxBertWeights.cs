using Sift.Onnx.GraphOptimizer;
using Sift.Onnx.GraphOptimizer.Proto;

namespace Sift.Training.Engine;

/// <summary>One named parameter in PyTorch layout (Linear weights are [out, in]).</summary>
public sealed record NamedTensor(string Name, float[] Data, long[] Shape);

/// <summary>
/// Reads BERT weights out of an ONNX export's initializers under Hugging Face parameter names
/// (bert.embeddings.word_embeddings.weight, bert.encoder.layer.0.attention.self.query.weight, ..., classifier.bias).
/// Exporters rename initializers (transposed MatMul weights become <c>onnx::MatMul_123</c> or plain numbers) and
/// deduplicate equal tensors behind Identity nodes, so names cannot be trusted: each weight is found by its place
/// in the graph (Gather on input_ids, LayerNorm scale/bias, MatMul+Add projections in topological order, which
/// projection feeds which side of the attention MatMuls). The forward-parity tests check the result.
/// </summary>
public static class OnnxBertWeights
{
    public sealed record Result(List<NamedTensor> Tensors, bool HasPooler, bool HasClassifier);

    private sealed record Linear(float[] Weight, long Out, long In, float[] Bias, string Input, string Output);

    public static Result Read(string onnxPath, BertConfig cfg)
    {
        var model = OnnxModelIO.Load(onnxPath);
        var g = model.Graph;
        var idx = new GraphIndex(g);
        var consumers = new Dictionary<string, List<(NodeProto Node, int Slot)>>();
        foreach (var n in g.Node)
            for (int i = 0; i < n.Input.Count; i++)
            {
                if (!consumers.TryGetValue(n.Input[i], out var l)) consumers[n.Input[i]] = l = new();
                l.Add((n, i));
            }
        float[]? Const(string name) => idx.Constant(name) is { DataType: (int)TensorProto.Types.DataType.Float } t ? TensorData.ReadFloats(t) : null;
        long[] Dims(string name) => idx.Constant(name)!.Dims.ToArray();

        var outList = new List<NamedTensor>();
        var lns = new List<(float[] G, float[] B)>();
        var linears = new List<Linear>();
        float[]? word = null, type = null, pos = null;

        foreach (var n in g.Node)
        {
            switch (n.OpType)
            {
                case "Gather" when Const(n.Input[0]) is { } table && Dims(n.Input[0]).Length == 2:
                    if (n.Input[1] == "input_ids") word = table;
                    else if (n.Input[1] == "token_type_ids") type = table;
                    else pos = table;
                    break;
                case "LayerNormalization":
                    lns.Add((Const(n.Input[1])!, Const(n.Input[2])!));
                    break;
                case "Mul" when IsDecomposedLayerNormScale(n, idx, Const) is { } gi:
                {
                    // x_hat * gamma + beta, the pre-opset-17 LayerNorm export: Div(x - mean, Sqrt(var + eps)).
                    var add = consumers[n.Output[0]].Single().Node;
                    var beta = add.Input.Select(Const).First(v => v is not null)!;
                    lns.Add((Const(n.Input[gi])!, beta));
                    break;
                }
                case "MatMul" when Const(n.Input[1]) is { } w && Dims(n.Input[1]).Length == 2:
                {
                    var d = Dims(n.Input[1]); // [in, out]
                    var add = consumers.GetValueOrDefault(n.Output[0])?.FirstOrDefault(c => c.Node.OpType == "Add").Node;
                    var bias = add?.Input.Where(i => i != n.Output[0]).Select(Const).FirstOrDefault(v => v is not null) ?? new float[d[1]];
                    linears.Add(new Linear(Transpose(w, d[0], d[1]), d[1], d[0], bias, n.Input[0], add?.Output[0] ?? n.Output[0]));
                    break;
                }
                case "Gemm" when Const(n.Input[1]) is { } w:
                {
                    var d = Dims(n.Input[1]);
                    bool transB = n.Attribute.FirstOrDefault(a => a.Name == "transB")?.I == 1;
                    var weight = transB ? w : Transpose(w, d[0], d[1]);
                    long outF = transB ? d[0] : d[1], inF = transB ? d[1] : d[0];
                    var bias = n.Input.Count > 2 ? Const(n.Input[2]) ?? new float[outF] : new float[outF];
                    linears.Add(new Linear(weight, outF, inF, bias, n.Input[0], n.Output[0]));
                    break;
                }
            }
        }

        int L = cfg.NumLayers, H = cfg.HiddenSize;
        if (word is null || pos is null) throw new InvalidDataException($"{onnxPath}: word/position embedding Gather not found.");
        type ??= new float[cfg.TypeVocabSize * H]; // exports without token_type_ids input fold type 0 into... nothing to read
        if (lns.Count != 1 + 2 * L) throw new InvalidDataException($"{onnxPath}: expected {1 + 2 * L} LayerNorms for {L} layers, found {lns.Count}.");
        if (linears.Count < 6 * L + 1) throw new InvalidDataException($"{onnxPath}: expected at least {6 * L + 1} projections, found {linears.Count}.");

        const string P = "bert.";
        outList.Add(new(P + "embeddings.word_embeddings.weight", word, [cfg.VocabSize, H]));
        outList.Add(new(P + "embeddings.position_embeddings.weight", pos, [pos.Length / H, H]));
        outList.Add(new(P + "embeddings.token_type_embeddings.weight", type, [type.Length / H, H]));
        AddLn(outList, P + "embeddings.LayerNorm", lns[0]);
        for (int l = 0; l < L; l++)
        {
            var six = linears.GetRange(6 * l, 6);
            var qkv = ClassifyQkv(six.Take(3).ToList(), consumers, onnxPath, l);
            string pre = $"{P}encoder.layer.{l}.";
            AddLinear(outList, pre + "attention.self.query", qkv.Q);
            AddLinear(outList, pre + "attention.self.key", qkv.K);
            AddLinear(outList, pre + "attention.self.value", qkv.V);
            AddLinear(outList, pre + "attention.output.dense", six[3]);
            AddLn(outList, pre + "attention.output.LayerNorm", lns[1 + 2 * l]);
            AddLinear(outList, pre + "intermediate.dense", six[4]);
            AddLinear(outList, pre + "output.dense", six[5]);
            AddLn(outList, pre + "output.LayerNorm", lns[2 + 2 * l]);
        }
        var rest = linears.Skip(6 * L).ToList();
        AddLinear(outList, P + "pooler.dense", rest[0]);
        bool hasClassifier = rest.Count > 1;
        if (hasClassifier)
        {
            if (rest[1].Out != cfg.NumLabels) throw new InvalidDataException($"{onnxPath}: classifier has {rest[1].Out} outputs, config says {cfg.NumLabels} labels.");
            AddLinear(outList, "classifier", rest[1]);
        }
        foreach (var t in outList)
            if (t.Data.Length != t.Shape.Aggregate(1L, (a, b) => a * b)) throw new InvalidDataException($"{onnxPath}: {t.Name} has {t.Data.Length} values for shape [{string.Join(",", t.Shape)}].");
        return new Result(outList, true, hasClassifier);
    }

    private static int? IsDecomposedLayerNormScale(NodeProto mul, GraphIndex idx, Func<string, float[]?> constOf)
    {
        for (int gi = 0; gi < 2; gi++)
        {
            if (constOf(mul.Input[gi]) is null) continue;
            var div = idx.Producer(mul.Input[1 - gi]);
            if (div?.OpType != "Div") continue;
            if (idx.Producer(div.Input[1])?.OpType == "Sqrt") return gi;
        }
        return null;
    }

    /// <summary>
    /// Q, K and V read the same input; they differ by where they end up: Q and K meet in the score MatMul
    /// (Q as its left operand, K right, after a Transpose), V alone is the right operand of the context MatMul.
    /// </summary>
    private static (Linear Q, Linear K, Linear V) ClassifyQkv(List<Linear> three, Dictionary<string, List<(NodeProto Node, int Slot)>> consumers, string path, int layer)
    {
        var ends = three.Select(lin => FollowToMatMul(lin.Output, consumers)).ToList();
        if (ends.Any(e => e is null) || three.Select(t => t.Input).Distinct().Count() != 1)
            throw new InvalidDataException($"{path}: layer {layer}: could not trace the Q/K/V projections to the attention MatMuls.");
        Linear? q = null, k = null, v = null;
        for (int i = 0; i < 3; i++)
        {
            bool shared = ends.Count(e => e!.Value.Node == ends[i]!.Value.Node) == 2;
            if (!shared) v = three[i];
            else if (ends[i]!.Value.Slot == 0) q = three[i];
            else k = three[i];
        }
        if (q is null || k is null || v is null) throw new InvalidDataException($"{path}: layer {layer}: Q/K/V roles are ambiguous.");
        return (q, k, v);
    }

    private static (NodeProto Node, int Slot)? FollowToMatMul(string name, Dictionary<string, List<(NodeProto Node, int Slot)>> consumers)
    {
        for (int depth = 0; depth < 12; depth++)
        {
            if (!consumers.TryGetValue(name, out var list)) return null;
            var data = list.Where(c => c.Node.OpType != "Shape").ToList();
            if (data.Count != 1) return null;
            var (node, slot) = data[0];
            if (node.OpType == "MatMul") return (node, slot);
            if (node.OpType is "Reshape" or "Transpose" or "Div" or "Mul" or "Cast") { name = node.Output[0]; continue; }
            return null;
        }
        return null;
    }

    private static float[] Transpose(float[] w, long rows, long cols)
    {
        var t = new float[w.Length];
        for (long r = 0; r < rows; r++)
            for (long c = 0; c < cols; c++)
                t[c * rows + r] = w[r * cols + c];
        return t;
    }

    private static void AddLinear(List<NamedTensor> list, string name, Linear l)
    {
        list.Add(new(name + ".weight", l.Weight, [l.Out, l.In]));
        list.Add(new(name + ".bias", l.Bias, [l.Out]));
    }

    private static void AddLn(List<NamedTensor> list, string name, (float[] G, float[] B) ln)
    {
        list.Add(new(name + ".weight", ln.G, [ln.G.Length]));
        list.Add(new(name + ".bias", ln.B, [ln.B.Length]));
    }
}
