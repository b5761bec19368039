using System.Runtime.InteropServices;
using Google.Protobuf;
using Sift.Onnx.GraphOptimizer.Proto;

namespace Sift.Onnx.GraphOptimizer;

/// <summary>What <see cref="OnnxGraphOptimizer.ConvertToFloat16(string, string, Float16Options?)"/> did.</summary>
/// <param name="NodesFp16">Nodes that now compute in float16.</param>
/// <param name="NodesFp32">Float nodes kept in float32 (blocked operators, LayerNorm patterns, the head).</param>
/// <param name="CastsInserted">Cast nodes added at fp16/fp32 boundaries (including graph outputs).</param>
/// <param name="InitializersConverted">Float initializers stored as float16.</param>
/// <param name="HeadNodes">Nodes after the last LayerNorm kept in float32 (the pooler/classifier).</param>
/// <param name="ValuesClamped">Weights or constants outside float16's range, clamped to ±65504.</param>
public sealed record Float16Report(int NodesFp16, int NodesFp32, int CastsInserted, int InitializersConverted, int HeadNodes, long ValuesClamped);

/// <summary>Options for <see cref="OnnxGraphOptimizer.ConvertToFloat16(string, string, Float16Options?)"/>.</summary>
public sealed class Float16Options
{
    /// <summary>
    /// Operators that stay float32 with Casts around them (onnxconverter-common's <c>op_block_list</c>): normalization
    /// and softmax (sums of many terms, exp), and the pieces of a LayerNorm written out by hand (mean, power, square root).
    /// GELU's Erf is not listed: it is bounded, and blocking it would stop ONNX Runtime fusing GELU on a GPU.
    /// </summary>
    public static IReadOnlySet<string> DefaultBlockedOps { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "LayerNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization",
        "Softmax", "LogSoftmax", "ReduceMean", "ReduceSumSquare", "ReduceL2", "ReduceLogSumExp", "Pow", "Sqrt", "Reciprocal",
        "Exp", "Log", "Range", "CumSum", "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial",
    };

    /// <summary>
    /// <see cref="DefaultBlockedOps"/> without LayerNormalization (all its forms) and Softmax: those run in float16, so
    /// ONNX Runtime's CUDA fusions (SkipLayerNormalization, Attention), which the Casts around float32 islands stop, can
    /// apply; its CUDA kernels for both accumulate in float32 internally. A GPU throughput option, not the default.
    /// </summary>
    public static IReadOnlySet<string> FusableNormsBlockedOps { get; } = DefaultBlockedOps
        .Except(["LayerNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization", "Softmax"])
        .ToHashSet(StringComparer.Ordinal);

    /// <summary>Operators kept in float32.</summary>
    public IReadOnlySet<string> BlockedOps { get; init; } = DefaultBlockedOps;

    /// <summary>Keep everything downstream of the last LayerNorm (pooler, classifier) in float32 (default true).</summary>
    public bool KeepHeadFp32 { get; init; } = true;

    /// <summary>
    /// An element-wise operator (Add, Sub, Mul, Div, Where…) with an input computed in float32 stays float32, the type
    /// promotion PyTorch's autocast applies (default true). In a transformer this keeps the residual stream float32:
    /// <c>Add(attention or FFN output, previous LayerNorm output)</c> feeds the next LayerNorm without a float16
    /// rounding of the sum. (On the CPU fixtures it changed no logit measurably; a GPU computing in fp16 is where it counts.)
    /// </summary>
    public bool PromoteMixedElementwise { get; init; } = true;
}

public static partial class OnnxGraphOptimizer
{
    /// <summary>
    /// Rewrites a float32 model to float16 the way onnxconverter-common's <c>convert_float_to_float16</c> does with
    /// <c>keep_io_types=True</c>: float initializers and constants become float16, nodes compute in float16, Cast nodes
    /// sit on every fp16/fp32 boundary, and graph inputs and outputs keep their float32 type, so a caller feeds and reads
    /// the same tensors as before. Kept in float32: <see cref="Float16Options.BlockedOps"/>, LayerNorms written out as
    /// ReduceMean/Sub/Pow/Sqrt/Div chains, and (by default) the head after the last LayerNorm. Throws
    /// <see cref="NotSupportedException"/> for quantized models, control flow and external data.
    /// </summary>
    public static Float16Report ConvertToFloat16(string inputOnnx, string outputOnnx, Float16Options? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(inputOnnx);
        ArgumentException.ThrowIfNullOrEmpty(outputOnnx);
        var model = OnnxModelIO.Load(inputOnnx);
        var report = ConvertToFloat16(model, options ?? new Float16Options());
        OnnxModelIO.Save(model, outputOnnx);
        return report;
    }

    private const int F32 = (int)TensorProto.Types.DataType.Float;
    private const int F16 = (int)TensorProto.Types.DataType.Float16;
    private const int I64 = (int)TensorProto.Types.DataType.Int64;
    private const int Bool = (int)TensorProto.Types.DataType.Bool;

    private enum Precision { None, Fp16, Fp32, Deferred }

    private static readonly HashSet<string> QuantizedOps = new(StringComparer.Ordinal)
    {
        "DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear", "MatMulInteger", "ConvInteger", "QLinearMatMul", "QLinearConv",
        "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "QAttention", "MatMulNBits",
    };

    /// <summary>Element-wise operators that compute in float32 when an input already is (see <see cref="Float16Options.PromoteMixedElementwise"/>).</summary>
    private static readonly HashSet<string> PromotingOps = new(StringComparer.Ordinal) { "Add", "Sub", "Mul", "Div", "Where", "Max", "Min", "Sum", "Mean" };

    /// <summary>Operators that read only their input's shape: they take whichever precision exists, never a Cast.</summary>
    private static readonly HashSet<string> ShapeOnlyOps = new(StringComparer.Ordinal) { "Shape", "Size" };

    /// <summary>Inputs that the operator's schema types as float32 whatever the data type (Resize's roi and scales).</summary>
    private static readonly Dictionary<string, int[]> Fp32Inputs = new(StringComparer.Ordinal) { ["Resize"] = [1, 2], ["Upsample"] = [1] };

    internal static Float16Report ConvertToFloat16(ModelProto model, Float16Options options)
    {
        var g = model.Graph ?? throw new NotSupportedException("the model has no graph");
        if (g.Initializer.Any(t => t.DataLocation == TensorProto.Types.DataLocation.External))
            throw new NotSupportedException("models with external data are not supported by the float16 converter");
        if (g.Node.FirstOrDefault(n => n.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0)) is { } flow)
            throw new NotSupportedException($"control flow ({flow.OpType}) is not supported by the float16 converter");
        if (g.Node.FirstOrDefault(n => QuantizedOps.Contains(n.OpType)) is { } q)
            throw new NotSupportedException($"the model is quantized ({q.OpType}); convert the float32 model to float16 instead");

        var nodes = g.Node.ToList();
        var types = InferFloat16ElementTypes(g);
        var inits = g.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var consumers = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (int i = 0; i < nodes.Count; i++)
            foreach (var input in nodes[i].Input)
                if (input.Length > 0) (consumers.TryGetValue(input, out var l) ? l : consumers[input] = []).Add(i);
        var graphOutputs = g.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        bool IsFloat(string name) => name.Length > 0 && types.GetValueOrDefault(name) == F32;

        // Nodes that must stay fp32 beyond the blocked operators: hand-written LayerNorms, and the head.
        var keep = new HashSet<int>();
        int lastNorm = -1;
        for (int i = 0; i < nodes.Count; i++)
        {
            if (nodes[i].OpType is "LayerNormalization" or "SkipLayerNormalization" or "SimplifiedLayerNormalization" or "SkipSimplifiedLayerNormalization")
                lastNorm = i;
            if (nodes[i].OpType == "ReduceMean" && MatchDecomposedLayerNorm(nodes, consumers, i) is { } ln)
            {
                keep.UnionWith(ln);
                lastNorm = Math.Max(lastNorm, ln.Max());
            }
        }
        var head = new HashSet<int>();
        if (options.KeepHeadFp32 && lastNorm >= 0)
        {
            var frontier = new Stack<string>(nodes[lastNorm].Output);
            while (frontier.TryPop(out var t))
                foreach (var c in consumers.GetValueOrDefault(t) ?? [])
                    if (head.Add(c))
                        foreach (var o in nodes[c].Output) frontier.Push(o);
            keep.UnionWith(head);
        }

        var precision = new Precision[nodes.Count];
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < nodes.Count; i++)
            foreach (var o in nodes[i].Output)
                if (o.Length > 0) producer[o] = i;
        bool ComputedInFp32(string tensor) =>
            IsFloat(tensor) && (producer.TryGetValue(tensor, out var p) ? precision[p] == Precision.Fp32 : !inits.ContainsKey(tensor));
        for (int i = 0; i < nodes.Count; i++)
        {
            var n = nodes[i];
            bool floatInvolved = n.Input.Any(IsFloat) || n.Output.Any(IsFloat);
            precision[i] = !floatInvolved ? Precision.None
                : options.BlockedOps.Contains(n.OpType) || keep.Contains(i) || n.Domain is not ("" or "ai.onnx" or "com.microsoft") ? Precision.Fp32
                : IsSource(n, IsFloat, inits.ContainsKey) ? Precision.Deferred
                : options.PromoteMixedElementwise && PromotingOps.Contains(n.OpType) && n.Input.Any(ComputedInFp32) ? Precision.Fp32
                : Precision.Fp16;
        }
        // Constants and int→float Casts follow their consumers: fp16 only when every reader is fp16, so a LayerNorm's
        // epsilon (1e-12, zero in fp16) or a head's constant keeps its float32 value.
        for (int i = nodes.Count - 1; i >= 0; i--)
        {
            if (precision[i] != Precision.Deferred) continue;
            var readers = nodes[i].Output.Where(o => o.Length > 0).SelectMany(o => consumers.GetValueOrDefault(o) ?? []).ToList();
            bool allFp16 = readers.Count > 0 && !nodes[i].Output.Any(graphOutputs.Contains)
                && readers.All(r => precision[r] == Precision.Fp16 || (ShapeOnlyOps.Contains(nodes[r].OpType) && precision[r] != Precision.Fp32));
            precision[i] = allFp16 ? Precision.Fp16 : Precision.Fp32;
        }

        // Rewrite in topological order. Every float tensor has an fp32 name, an fp16 name or both; a Cast (or an fp16
        // copy of an initializer) is made the first time a reader needs the precision it lacks.
        var f32Name = new Dictionary<string, string>(StringComparer.Ordinal);
        var f16Name = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var i in g.Input) if (IsFloat(i.Name)) f32Name[i.Name] = i.Name;
        foreach (var t in g.Initializer) if (t.DataType == F32) f32Name[t.Name] = t.Name;
        var used = new HashSet<string>(types.Keys, StringComparer.Ordinal);
        foreach (var n in nodes) used.Add(n.Name);
        string Fresh(string stem)
        {
            var name = stem;
            for (int k = 1; !used.Add(name); k++) name = $"{stem}_{k}";
            return name;
        }
        var rewritten = new List<NodeProto>(nodes.Count * 2);
        int casts = 0, converted = 0;
        long clamped = 0;
        NodeProto Cast(string from, string to, int type) => new()
        {
            OpType = "Cast", Name = Fresh(to + "_node"), Input = { from }, Output = { to },
            Attribute = { new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = type } },
        };
        string Need(string name, bool fp16)
        {
            if (!IsFloat(name)) return name;
            var (have, other) = fp16 ? (f16Name, f32Name) : (f32Name, f16Name);
            if (have.TryGetValue(name, out var existing)) return existing;
            string made;
            if (fp16 && inits.TryGetValue(name, out var init))
            {
                made = Fresh(name + "_fp16");
                g.Initializer.Add(ToFloat16(init, made, ref clamped));
                converted++;
            }
            else
            {
                made = Fresh(name + (fp16 ? "_fp16" : "_fp32"));
                rewritten.Add(Cast(other[name], made, fp16 ? F16 : F32));
                casts++;
            }
            return have[name] = made;
        }

        int fp16Nodes = 0, fp32Nodes = 0;
        for (int i = 0; i < nodes.Count; i++)
        {
            var n = nodes[i];
            var p = precision[i];
            if (p == Precision.None)
            {
                rewritten.Add(n);
                continue;
            }
            bool half = p == Precision.Fp16;
            if (half) fp16Nodes++; else fp32Nodes++;
            var keepFp32 = Fp32Inputs.GetValueOrDefault(n.OpType) ?? [];
            for (int k = 0; k < n.Input.Count; k++)
            {
                var input = n.Input[k];
                if (!IsFloat(input)) continue;
                if (ShapeOnlyOps.Contains(n.OpType))
                    n.Input[k] = f32Name.GetValueOrDefault(input) ?? f16Name[input];
                else
                    n.Input[k] = Need(input, half && !keepFp32.Contains(k));
            }
            if (half)
            {
                if (n.OpType == "Cast" && n.Attribute.FirstOrDefault(a => a.Name == "to") is { I: F32 } to) to.I = F16;
                if (n.OpType is "Constant" or "ConstantOfShape") ConvertConstantAttribute(n, ref clamped);
            }
            rewritten.Add(n);
            var castsAfter = new List<NodeProto>();
            for (int k = 0; k < n.Output.Count; k++)
            {
                var output = n.Output[k];
                if (!IsFloat(output)) continue;
                if (!half)
                {
                    f32Name[output] = output;
                    continue;
                }
                if (graphOutputs.Contains(output))
                {
                    // keep_io_types: the graph output keeps its name and float32 type; the node writes an fp16 twin.
                    var twin = Fresh(output + "_fp16");
                    n.Output[k] = twin;
                    f16Name[output] = twin;
                    f32Name[output] = output;
                    castsAfter.Add(Cast(twin, output, F32));
                    casts++;
                }
                else
                {
                    f16Name[output] = output;
                }
            }
            rewritten.AddRange(castsAfter);
        }

        g.Node.Clear();
        g.Node.AddRange(rewritten);
        // Initializers no node reads any more (fp32 originals replaced by their fp16 copies) are dropped.
        var read = rewritten.SelectMany(n => n.Input).Concat(g.Output.Select(o => o.Name)).ToHashSet(StringComparer.Ordinal);
        var unused = g.Initializer.Where(t => !read.Contains(t.Name)).ToList();
        foreach (var t in unused) g.Initializer.Remove(t);
        // Shape-inference results for float tensors no longer hold (their type may have changed); ONNX Runtime re-infers.
        var stale = g.ValueInfo.Where(v => IsFloat(v.Name)).ToList();
        foreach (var v in stale) g.ValueInfo.Remove(v);
        return new Float16Report(fp16Nodes, fp32Nodes, casts, converted, head.Count, clamped);
    }

    /// <summary>
    /// Nodes whose float output comes from no computed float input (constants, int→float Casts, Identity of a weight):
    /// they can be made in either precision.
    /// </summary>
    private static bool IsSource(NodeProto n, Func<string, bool> isFloat, Func<string, bool> isInitializer) =>
        n.OpType is "Constant" or "ConstantOfShape"
        || (n.OpType == "Cast" && !n.Input.Any(isFloat))
        || (n.OpType == "Identity" && isInitializer(n.Input[0]));

    /// <summary>
    /// Element types of every tensor: graph inputs and initializers as declared, node outputs by each operator's typing
    /// rule (most operators output their first input's type). Only float32 versus not-float32 matters here.
    /// </summary>
    internal static Dictionary<string, int> InferFloat16ElementTypes(GraphProto g)
    {
        var types = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var i in g.Input) types[i.Name] = i.Type?.TensorType?.ElemType ?? 0;
        foreach (var t in g.Initializer) types[t.Name] = t.DataType;
        int TypeOf(string name) => types.GetValueOrDefault(name);
        int Attr(NodeProto n, string name, int fallback)
        {
            var a = n.Attribute.FirstOrDefault(x => x.Name == name);
            return a is null ? fallback : a.T is not null ? a.T.DataType : (int)a.I;
        }
        foreach (var n in g.Node)
        {
            int first = n.Input.Where(i => i.Length > 0).Select(TypeOf).FirstOrDefault();
            for (int k = 0; k < n.Output.Count; k++)
            {
                int type = n.OpType switch
                {
                    "Constant" => n.Attribute.FirstOrDefault() is { } a
                        ? a.Name switch { "value" => a.T.DataType, "value_float" or "value_floats" => F32, "value_int" or "value_ints" => I64, _ => 0 }
                        : 0,
                    "ConstantOfShape" => n.Attribute.FirstOrDefault(a => a.Name == "value")?.T?.DataType ?? F32,
                    "Cast" => Attr(n, "to", 0),
                    "CastLike" => TypeOf(n.Input[1]),
                    "Shape" or "Size" or "NonZero" or "ArgMax" or "ArgMin" => I64,
                    "Equal" or "Less" or "Greater" or "LessOrEqual" or "GreaterOrEqual" or "Not" or "And" or "Or" or "Xor" or "IsNaN" or "IsInf" => Bool,
                    "Where" => TypeOf(n.Input[1]),
                    "TopK" when k == 1 => I64,
                    "LayerNormalization" or "SimplifiedLayerNormalization" when k > 0 => F32, // mean / inverse std-dev (stash_type float)
                    "EyeLike" => Attr(n, "dtype", first),
                    _ => first,
                };
                if (n.Output[k].Length > 0) types[n.Output[k]] = type;
            }
        }
        return types;
    }

    /// <summary>
    /// A LayerNorm written out by hand: <c>m = ReduceMean(x); d = Sub(x, m); v = ReduceMean(Pow(d, 2) | Mul(d, d));
    /// y = Div(d, Sqrt(Add(v, eps)))</c>, optionally <c>Mul(y, gamma)</c> and <c>Add(·, beta)</c>. Returns its nodes
    /// (the first ReduceMean at <paramref name="mean"/>) or null.
    /// </summary>
    private static List<int>? MatchDecomposedLayerNorm(List<NodeProto> nodes, Dictionary<string, List<int>> consumers, int mean)
    {
        int? Only(string tensor, string op, Func<NodeProto, bool>? also = null) =>
            (consumers.GetValueOrDefault(tensor) ?? []).Where(c => nodes[c].OpType == op && (also?.Invoke(nodes[c]) ?? true)).Cast<int?>().FirstOrDefault();
        var x = nodes[mean].Input[0];
        var m = nodes[mean].Output[0];
        if (Only(m, "Sub", s => s.Input[0] == x && s.Input[1] == m) is not { } sub) return null;
        var d = nodes[sub].Output[0];
        var square = Only(d, "Pow") ?? Only(d, "Mul", s => s.Input[0] == d && s.Input[1] == d);
        if (square is not { } sq || Only(nodes[sq].Output[0], "ReduceMean") is not { } variance) return null;
        if (Only(nodes[variance].Output[0], "Add") is not { } eps || Only(nodes[eps].Output[0], "Sqrt") is not { } sqrt) return null;
        if (Only(d, "Div", s => s.Input[1] == nodes[sqrt].Output[0]) is not { } div) return null;
        var matched = new List<int> { mean, sub, sq, variance, eps, sqrt, div };
        var tail = nodes[div].Output[0];
        if ((consumers.GetValueOrDefault(tail) ?? []) is [var scale] && nodes[scale].OpType == "Mul")
        {
            matched.Add(scale);
            if ((consumers.GetValueOrDefault(nodes[scale].Output[0]) ?? []) is [var shift] && nodes[shift].OpType == "Add") matched.Add(shift);
        }
        return matched;
    }

    /// <summary>A float16 copy of a float32 initializer under <paramref name="name"/>.</summary>
    private static TensorProto ToFloat16(TensorProto source, string name, ref long clamped)
    {
        var t = new TensorProto { Name = name, DataType = F16, RawData = ToFloat16Bytes(TensorData.ReadFloats(source), ref clamped) };
        t.Dims.AddRange(source.Dims);
        return t;
    }

    /// <summary>
    /// float32 → float16 bytes, rounding to nearest. Values beyond ±65504 (such as the float32-minimum attention mask
    /// bias BERT exports use) become ±65504, not infinity: a masked score stays a large negative number, and 0 × it
    /// stays 0 instead of NaN.
    /// </summary>
    internal static ByteString ToFloat16Bytes(ReadOnlySpan<float> values, ref long clamped)
    {
        var bits = new ushort[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            var v = values[i];
            if (float.IsFinite(v) && MathF.Abs(v) > 65504f)
            {
                v = MathF.CopySign(65504f, v);
                clamped++;
            }
            bits[i] = BitConverter.HalfToUInt16Bits((Half)v);
        }
        return ByteString.CopyFrom(MemoryMarshal.AsBytes(bits.AsSpan()));
    }

    private static void ConvertConstantAttribute(NodeProto n, ref long clamped)
    {
        var value = n.Attribute.FirstOrDefault(a => a.Name is "value" or "value_float" or "value_floats");
        if (value is null)
        {
            // ConstantOfShape without a value fills with float32 zeros: say float16 zero explicitly.
            var zero = new TensorProto { DataType = F16, RawData = ToFloat16Bytes([0f], ref clamped) };
            zero.Dims.Add(1);
            n.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = zero });
            return;
        }
        if (value.Name == "value" && value.T.DataType != F32) return;
        float[] data = value.Name switch { "value_float" => [value.F], "value_floats" => [.. value.Floats], _ => TensorData.ReadFloats(value.T) };
        var tensor = new TensorProto { DataType = F16, RawData = ToFloat16Bytes(data, ref clamped) };
        if (value.Name == "value") tensor.Dims.AddRange(value.T.Dims);
        else if (value.Name == "value_floats") tensor.Dims.Add(data.Length);
        n.Attribute.Remove(value);
        n.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = tensor });
    }
}
