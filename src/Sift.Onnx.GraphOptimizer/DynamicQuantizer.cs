using System.Runtime.InteropServices;
using Google.Protobuf;
using Sift.Onnx.GraphOptimizer.Proto;

namespace Sift.Onnx.GraphOptimizer;

/// <summary>What <see cref="DynamicQuantizer.Quantize(string, string)"/> did.</summary>
/// <param name="MatMulsQuantized">MatMul nodes (Gemm included, rewritten as MatMul + Add first) now running as MatMulInteger.</param>
/// <param name="GathersQuantized">Gather nodes over float tables (the embeddings) now reading a uint8 table.</param>
/// <param name="ActivationsQuantized">DynamicQuantizeLinear nodes inserted (one per distinct MatMul input).</param>
/// <param name="InputBytes">Size of the fp32 model.</param>
/// <param name="OutputBytes">Size of the int8 model.</param>
public sealed record QuantizationReport(int MatMulsQuantized, int GathersQuantized, int ActivationsQuantized, long InputBytes, long OutputBytes);

/// <summary>
/// Dynamic int8 quantization, the scheme of ONNX Runtime's Python <c>quantize_dynamic(model, out, weight_type=QInt8)</c>
/// with its defaults, written here because there is no Python on the machines Sift runs on and ONNX Runtime's C API has
/// no quantizer. The rewrite is the same graph, node for node, so ONNX Runtime's own fusions (DynamicQuantizeMatMul,
/// MatMulIntegerToFloat) and Sift's graph cut recognise it as they do the Python tool's output:
/// <list type="bullet">
/// <item>Gemm (alpha = beta = 1, no transA) becomes MatMul + Add, transB folded into the weight.</item>
/// <item>MatMul whose second input is a 2-D float initializer: the weight is quantized to int8, symmetric per tensor
/// (scale = max|w| / 127, zero point 0); the activation goes through <c>DynamicQuantizeLinear</c> (uint8, scale and
/// zero point computed per call); <c>MatMulInteger</c> → Cast → Mul(activation scale × weight scale) gives the float result.
/// MatMuls between two activations (attention scores) stay float, as in ONNX Runtime.</item>
/// <item>Gather from a float initializer (word, position and token-type embeddings): the table is quantized to uint8,
/// asymmetric per tensor, and <c>DequantizeLinear</c> follows the Gather.</item>
/// </list>
/// Rounding is round-half-to-even on float32 values, as numpy and ONNX's QuantizeLinear do, so quantized weights equal
/// the Python tool's bit for bit.
/// </summary>
public static class DynamicQuantizer
{
    /// <summary>Quantizes <paramref name="inputOnnx"/> (fp32) into <paramref name="outputOnnx"/>; the output is written atomically.</summary>
    public static QuantizationReport Quantize(string inputOnnx, string outputOnnx)
    {
        ArgumentException.ThrowIfNullOrEmpty(inputOnnx);
        ArgumentException.ThrowIfNullOrEmpty(outputOnnx);
        var model = OnnxModelIO.Load(inputOnnx);
        var (mm, ga, dq) = Quantize(model);
        if (mm + ga == 0)
        {
            throw new InvalidOperationException(
                $"{inputOnnx}: nothing to quantize (no MatMul/Gemm with a float weight initializer and no Gather from a float table). " +
                "Is it already quantized, or does it keep its weights in external data files?");
        }
        OnnxModelIO.Save(model, outputOnnx);
        return new QuantizationReport(mm, ga, dq, new FileInfo(inputOnnx).Length, new FileInfo(outputOnnx).Length);
    }

    internal static (int MatMuls, int Gathers, int Activations) Quantize(ModelProto model)
    {
        var g = model.Graph;
        foreach (var t in g.Initializer)
        {
            if (t.DataLocation == TensorProto.Types.DataLocation.External)
            {
                throw new NotSupportedException("models with external data are not supported by the quantizer; save the model as one file first");
            }
        }
        var inits = g.Initializer.ToDictionary(t => t.Name, t => t);
        var consumers = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var n in g.Node)
        foreach (var i in n.Input)
            consumers[i] = consumers.GetValueOrDefault(i) + 1;
        foreach (var o in g.Output) consumers[o.Name] = consumers.GetValueOrDefault(o.Name) + 1;

        var nodes = new List<NodeProto>(g.Node.Count * 2);
        var newInits = new List<TensorProto>();
        var quantizedWeights = new Dictionary<string, string>(StringComparer.Ordinal); // float name → quantized base name
        var quantizedActivations = new HashSet<string>(StringComparer.Ordinal);
        int matmuls = 0, gathers = 0;

        bool IsFloatInit(string name, int rank) =>
            inits.TryGetValue(name, out var t) && t.DataType == (int)TensorProto.Types.DataType.Float && t.Dims.Count == rank;

        foreach (var node in GemmsAsMatMul(g, inits, consumers, newInits))
        {
            if (node.OpType == "MatMul" && node.Domain.Length == 0 && node.Input.Count == 2 && !inits.ContainsKey(node.Input[0]) && IsFloatInit(node.Input[1], 2))
            {
                var a = node.Input[0];
                var w = node.Input[1];
                var output = node.Output[0];
                if (quantizedActivations.Add(a))
                {
                    nodes.Add(Node("DynamicQuantizeLinear", a + "_QuantizeLinear", [a], [a + "_quantized", a + "_scale", a + "_zero_point"]));
                }
                if (!quantizedWeights.ContainsKey(w))
                {
                    var (q, scale) = QuantizeSymmetricInt8(TensorData.ReadFloats(inits[w]));
                    var qt = new TensorProto { Name = w + "_quantized", DataType = (int)TensorProto.Types.DataType.Int8, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(q.AsSpan())) };
                    qt.Dims.AddRange(inits[w].Dims);
                    newInits.Add(qt);
                    newInits.Add(Scalar(w + "_scale", scale));
                    newInits.Add(new TensorProto { Name = w + "_zero_point", DataType = (int)TensorProto.Types.DataType.Int8, RawData = ByteString.CopyFrom(0) });
                    quantizedWeights[w] = w;
                }
                var name = node.Name.Length > 0 ? node.Name : output;
                nodes.Add(Node("Mul", name + "_quant_scales_mul", [a + "_scale", w + "_scale"], [name + "_quant_scales_mul:0"]));
                nodes.Add(Node("MatMulInteger", name + "_quant", [a + "_quantized", w + "_quantized", a + "_zero_point", w + "_zero_point"], [output + "_output_quantized"]));
                var cast = Node("Cast", output + "_output_quantized_cast", [output + "_output_quantized"], [output + "_output_quantized_cast_output"]);
                cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)TensorProto.Types.DataType.Float });
                nodes.Add(cast);
                nodes.Add(Node("Mul", name + "_quant_output_scale_mul", [output + "_output_quantized_cast_output", name + "_quant_scales_mul:0"], [output]));
                matmuls++;
                continue;
            }
            if (node.OpType == "Gather" && node.Domain.Length == 0 && node.Input.Count == 2 && inits.TryGetValue(node.Input[0], out var table)
                && table.DataType == (int)TensorProto.Types.DataType.Float && table.Dims.Count >= 1)
            {
                var data = node.Input[0];
                var output = node.Output[0];
                if (!quantizedWeights.ContainsKey(data))
                {
                    var (q, scale, zp) = QuantizeAsymmetricUint8(TensorData.ReadFloats(table));
                    var qt = new TensorProto { Name = data + "_quantized", DataType = (int)TensorProto.Types.DataType.Uint8, RawData = ByteString.CopyFrom(q) };
                    qt.Dims.AddRange(table.Dims);
                    newInits.Add(qt);
                    newInits.Add(Scalar(data + "_scale", scale));
                    newInits.Add(new TensorProto { Name = data + "_zero_point", DataType = (int)TensorProto.Types.DataType.Uint8, RawData = ByteString.CopyFrom(zp) });
                    quantizedWeights[data] = data;
                }
                var gather = Node("Gather", node.Name, [data + "_quantized", node.Input[1]], [output + "_quantized"]);
                gather.Attribute.AddRange(node.Attribute);
                nodes.Add(gather);
                nodes.Add(Node("DequantizeLinear", output + "_DequantizeLinear", [output + "_quantized", data + "_scale", data + "_zero_point"], [output]));
                gathers++;
                continue;
            }
            nodes.Add(node);
        }

        g.Node.Clear();
        g.Node.AddRange(nodes);
        // Float weights still read by some node (tied weights, a MatMul left in float) stay; the rest go.
        var used = new HashSet<string>(g.Node.SelectMany(n => n.Input), StringComparer.Ordinal);
        foreach (var o in g.Output) used.Add(o.Name);
        var kept = g.Initializer.Where(t => used.Contains(t.Name)).Concat(newInits.Where(t => used.Contains(t.Name))).ToList();
        g.Initializer.Clear();
        g.Initializer.AddRange(kept);
        // Graph inputs that merely declared initializers (IR < 4 style) must not outlive them.
        var initNames = new HashSet<string>(kept.Select(t => t.Name), StringComparer.Ordinal);
        var stale = g.Input.Where(i => inits.ContainsKey(i.Name) && !initNames.Contains(i.Name)).ToList();
        foreach (var s in stale) g.Input.Remove(s);
        model.ProducerName = "sift.quantize";
        model.ProducerVersion = "1";
        EnsureOpset(model, 11); // DynamicQuantizeLinear needs opset 11.
        return (matmuls, gathers, quantizedActivations.Count);
    }

    /// <summary>int8 symmetric per tensor: scale = max|w| / 127 (ONNX Runtime's qmin/qmax for symmetric int8 are ±127).</summary>
    internal static (sbyte[] Q, float Scale) QuantizeSymmetricInt8(ReadOnlySpan<float> w)
    {
        float rmin = 0, rmax = 0;
        foreach (var v in w)
        {
            if (v < rmin) rmin = v;
            if (v > rmax) rmax = v;
        }
        var absmax = MathF.Max(MathF.Abs(rmin), MathF.Abs(rmax));
        // numpy: (rmax - rmin) in float64 divided by (qmax - qmin), cast back to float32.
        var scale = (float)((double)(absmax + absmax) / 254.0);
        if (scale < float.Epsilon) scale = 1f;
        var q = new sbyte[w.Length];
        for (var i = 0; i < w.Length; i++)
        {
            var r = MathF.Round(w[i] / scale, MidpointRounding.ToEven);
            q[i] = (sbyte)Math.Clamp(r, -127f, 127f);
        }
        return (q, scale);
    }

    /// <summary>uint8 asymmetric per tensor over [min(w, 0), max(w, 0)]: scale = range / 255, zero point = round(-min / scale).</summary>
    internal static (byte[] Q, float Scale, byte ZeroPoint) QuantizeAsymmetricUint8(ReadOnlySpan<float> w)
    {
        float rmin = 0, rmax = 0;
        foreach (var v in w)
        {
            if (v < rmin) rmin = v;
            if (v > rmax) rmax = v;
        }
        // As ONNX Runtime's compute_scale_zp: the range is subtracted in float32, divided in float64; the zero point
        // uses the float64 scale, the quantization the float32 one.
        var scale64 = (double)(rmax - rmin) / 255.0;
        var scale = (float)scale64;
        byte zp = 0;
        if (scale64 < float.Epsilon) scale = 1f;
        else zp = (byte)Math.Clamp(Math.Round(0.0 - rmin / scale64, MidpointRounding.ToEven), 0.0, 255.0);
        var q = new byte[w.Length];
        for (var i = 0; i < w.Length; i++)
        {
            var r = MathF.Round(w[i] / scale, MidpointRounding.ToEven) + zp;
            q[i] = (byte)Math.Clamp(r, 0f, 255f);
        }
        return (q, scale, zp);
    }

    /// <summary>
    /// ONNX Runtime's <c>replace_gemm_with_matmul</c>: Gemm(A, B, C) with alpha = beta = 1 and no transA becomes
    /// MatMul(A, Bᵀ if transB) → Add(C), so the MatMul rule quantizes it.
    /// </summary>
    private static IEnumerable<NodeProto> GemmsAsMatMul(GraphProto graph, Dictionary<string, TensorProto> inits,
        Dictionary<string, int> consumers, List<TensorProto> newInits)
    {
        foreach (var node in graph.Node.ToList())
        {
            if (node.OpType != "Gemm" || node.Domain.Length != 0 || node.Input.Count < 2)
            {
                yield return node;
                continue;
            }
            float Attr(string n, float d) => node.Attribute.FirstOrDefault(a => a.Name == n) is { } a ? a.F : d;
            long IntAttr(string n) => node.Attribute.FirstOrDefault(a => a.Name == n)?.I ?? 0;
            var b = node.Input[1];
            if (Attr("alpha", 1f) != 1f || Attr("beta", 1f) != 1f || IntAttr("transA") != 0 || !inits.TryGetValue(b, out var bt)
                || bt.DataType != (int)TensorProto.Types.DataType.Float || bt.Dims.Count != 2)
            {
                yield return node;
                continue;
            }
            if (IntAttr("transB") != 0)
            {
                var data = TensorData.ReadFloats(bt);
                int rows = (int)bt.Dims[0], cols = (int)bt.Dims[1];
                var tr = new float[data.Length];
                for (var r = 0; r < rows; r++)
                for (var c = 0; c < cols; c++)
                    tr[c * rows + r] = data[r * cols + c];
                // Shared with another node: keep the original and add a transposed copy.
                var name = consumers.GetValueOrDefault(b) > 1 ? b + "_transposed" : b;
                var t = TensorData.FromFloats(name, tr, cols, rows);
                if (name == b) graph.Initializer[graph.Initializer.IndexOf(bt)] = t;
                else newInits.Add(t);
                inits[name] = t;
                b = name;
            }
            var output = node.Output[0];
            var baseName = node.Name.Length > 0 ? node.Name : output;
            var hasBias = node.Input.Count > 2 && node.Input[2].Length > 0;
            yield return Node("MatMul", baseName + "_MatMul", [node.Input[0], b], [hasBias ? output + "_MatMul" : output]);
            if (hasBias) yield return Node("Add", baseName + "_Add", [output + "_MatMul", node.Input[2]], [output]);
        }
    }

    private static NodeProto Node(string op, string name, string[] inputs, string[] outputs)
    {
        var n = new NodeProto { OpType = op, Name = name };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }

    private static TensorProto Scalar(string name, float value)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.RawData = ByteString.CopyFrom(BitConverter.GetBytes(value));
        return t;
    }

    private static void EnsureOpset(ModelProto model, long min)
    {
        var op = model.OpsetImport.FirstOrDefault(o => o.Domain.Length == 0 || o.Domain == "ai.onnx");
        if (op is null) model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = min });
        else if (op.Version < min) op.Version = min;
    }
}
