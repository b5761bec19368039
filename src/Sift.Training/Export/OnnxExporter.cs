using Google.Protobuf;
using Sift.Onnx.GraphOptimizer;
using Sift.Onnx.GraphOptimizer.Proto;
using Sift.Training.Engine;

namespace Sift.Training.Export;

/// <summary>
/// Writes a BertForSequenceClassification graph with the given weights, in the shape Hugging Face's exporter
/// produces (opset 17, inputs input_ids / attention_mask / token_type_ids int64 [batch, sequence], output
/// logits [batch, num_labels], erf GELU, LayerNormalization, pooler Gather on token 0), so Sift.Onnx's graph
/// passes recognise it like any public export. A fresh graph rather than the source's: exports deduplicate
/// equal initializers (all-zero biases share one tensor), so trained weights cannot be written back in place.
/// </summary>
public static class OnnxExporter
{
    public static void Export(BertConfig c, IReadOnlyList<NamedTensor> weights, string path)
    {
        var w = weights.ToDictionary(t => t.Name);
        var g = new GraphProto { Name = "sift_bert_cross_encoder" };
        var b = new Builder(g);

        foreach (var name in new[] { "input_ids", "attention_mask", "token_type_ids" })
            g.Input.Add(ValueInfo(name, TensorProto.Types.DataType.Int64, "batch_size", "sequence_length"));
        g.Output.Add(ValueInfo("logits", TensorProto.Types.DataType.Float, "batch_size", c.NumLabels.ToString(System.Globalization.CultureInfo.InvariantCulture)));

        void Init(string name, bool transpose = false)
        {
            var t = w[name];
            if (!transpose) { g.Initializer.Add(TensorData.FromFloats(name, t.Data, t.Shape)); return; }
            long rows = t.Shape[0], cols = t.Shape[1];
            var tr = new float[t.Data.Length];
            for (long r = 0; r < rows; r++) for (long k = 0; k < cols; k++) tr[k * rows + r] = t.Data[r * cols + k];
            g.Initializer.Add(TensorData.FromFloats(name, tr, cols, rows)); // MatMul wants [in, out]
        }
        foreach (var t in weights)
        {
            bool matmul = t.Name.StartsWith("bert.encoder.", StringComparison.Ordinal) && t.Name.EndsWith(".weight", StringComparison.Ordinal) && t.Shape.Length == 2;
            Init(t.Name, matmul);
        }

        // Embeddings: word + token type + position (positions 0..S-1 sliced from a constant range).
        var posIds = Enumerable.Range(0, (int)w["bert.embeddings.position_embeddings.weight"].Shape[0]).Select(i => (long)i).ToArray();
        g.Initializer.Add(Int64s("position_ids", posIds));
        var shape = b.Node("Shape", ["input_ids"]);
        var seqLen = b.Node("Slice", [shape, b.Const([1]), b.Const([2]), b.Const([0])]);
        var pos = b.Node("Slice", ["position_ids", b.Const([0]), seqLen, b.Const([0])]);
        var we = b.Node("Gather", ["bert.embeddings.word_embeddings.weight", "input_ids"]);
        var te = b.Node("Gather", ["bert.embeddings.token_type_embeddings.weight", "token_type_ids"]);
        var pe = b.Node("Gather", ["bert.embeddings.position_embeddings.weight", pos]);
        var x = LayerNorm(b, b.Node("Add", [b.Node("Add", [we, te]), pe]), "bert.embeddings.LayerNorm", c.LayerNormEps);

        // Padding bias [B, 1, 1, S]: (1 - mask) * -10000, as in the trainer.
        var maskF = b.Node("Cast", ["attention_mask"], a => a.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (int)TensorProto.Types.DataType.Float }));
        var mask4 = b.Node("Unsqueeze", [maskF, b.Const([1, 2])]);
        var bias = b.Node("Mul", [b.Node("Sub", [b.ScalarF(1f), mask4]), b.ScalarF(-10000f)]);

        int heads = c.NumHeads, d = c.HeadDim;
        var splitShape = b.Const([0, 0, heads, d]);
        var mergeShape = b.Const([0, 0, c.HiddenSize]);
        for (int l = 0; l < c.NumLayers; l++)
        {
            string p = $"bert.encoder.layer.{l}.";
            string Lin(string input, string m) => b.Node("Add", [b.Node("MatMul", [input, p + m + ".weight"]), p + m + ".bias"]);
            string Heads(string t, long[] perm) => b.Node("Transpose", [b.Node("Reshape", [t, splitShape])], a => a.Add(Perm(perm)));
            var q = Heads(Lin(x, "attention.self.query"), [0, 2, 1, 3]);
            var kT = Heads(Lin(x, "attention.self.key"), [0, 2, 3, 1]);
            var v = Heads(Lin(x, "attention.self.value"), [0, 2, 1, 3]);
            var scores = b.Node("Add", [b.Node("Div", [b.Node("MatMul", [q, kT]), b.ScalarF((float)Math.Sqrt(d))]), bias]);
            var probs = b.Node("Softmax", [scores], a => a.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = -1 }));
            var ctx = b.Node("Reshape", [b.Node("Transpose", [b.Node("MatMul", [probs, v])], a => a.Add(Perm([0, 2, 1, 3]))), mergeShape]);
            x = LayerNorm(b, b.Node("Add", [Lin(ctx, "attention.output.dense"), x]), p + "attention.output.LayerNorm", c.LayerNormEps);
            var h = Lin(x, "intermediate.dense");
            var gelu = b.Node("Mul", [b.Node("Mul", [h, b.Node("Add", [b.Node("Erf", [b.Node("Div", [h, b.ScalarF(1.4142135f)])]), b.ScalarF(1f)])]), b.ScalarF(0.5f)]);
            x = LayerNorm(b, b.Node("Add", [Lin(gelu, "output.dense"), x]), p + "output.LayerNorm", c.LayerNormEps);
        }
        var cls = b.Node("Gather", [x, b.ScalarI(0)], a => a.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 }));
        var pooled = b.Node("Tanh", [Gemm(b, cls, "bert.pooler.dense")]);
        Gemm(b, pooled, "classifier", output: "logits");

        var model = new ModelProto { IrVersion = 8, ProducerName = "sift-train", ProducerVersion = "1", Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        OnnxModelIO.Save(model, path);
    }

    private static string LayerNorm(Builder b, string x, string prefix, double eps) =>
        b.Node("LayerNormalization", [x, prefix + ".weight", prefix + ".bias"], a =>
        {
            a.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = -1 });
            a.Add(new AttributeProto { Name = "epsilon", Type = AttributeProto.Types.AttributeType.Float, F = (float)eps });
        });

    private static string Gemm(Builder b, string x, string prefix, string? output = null) =>
        b.Node("Gemm", [x, prefix + ".weight", prefix + ".bias"], a =>
        {
            a.Add(new AttributeProto { Name = "alpha", Type = AttributeProto.Types.AttributeType.Float, F = 1f });
            a.Add(new AttributeProto { Name = "beta", Type = AttributeProto.Types.AttributeType.Float, F = 1f });
            a.Add(new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        }, output);

    private static AttributeProto Perm(long[] perm)
    {
        var a = new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(perm);
        return a;
    }

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, params string[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(long.TryParse(d, out var v) ? new TensorShapeProto.Types.Dimension { DimValue = v } : new TensorShapeProto.Types.Dimension { DimParam = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
    }

    private static TensorProto Int64s(string name, long[] values, bool scalar = false)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        if (!scalar) t.Dims.Add(values.Length);
        t.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        return t;
    }

    private sealed class Builder(GraphProto g)
    {
        private int _n;

        public string Node(string op, string[] inputs, Action<Google.Protobuf.Collections.RepeatedField<AttributeProto>>? attrs = null, string? output = null)
        {
            var name = $"/{op}_{_n++}";
            var node = new NodeProto { OpType = op, Name = name };
            node.Input.AddRange(inputs);
            var o = output ?? name + "_output_0";
            node.Output.Add(o);
            attrs?.Invoke(node.Attribute);
            g.Node.Add(node);
            return o;
        }

        public string Const(long[] values)
        {
            var name = $"/const_{_n++}";
            g.Initializer.Add(Int64s(name, values));
            return name;
        }

        public string ScalarI(long value)
        {
            var name = $"/const_{_n++}";
            g.Initializer.Add(Int64s(name, [value], scalar: true));
            return name;
        }

        public string ScalarF(float value)
        {
            var name = $"/const_{_n++}";
            g.Initializer.Add(TensorData.FromFloats(name, [value]));
            return name;
        }
    }
}
