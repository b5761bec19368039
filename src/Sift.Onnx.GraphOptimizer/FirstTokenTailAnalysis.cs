using Sift.Onnx.GraphOptimizer.Proto;

namespace Sift.Onnx.GraphOptimizer;

public static partial class OnnxGraphOptimizer
{
    /// <summary>What a tensor in the tail holds, for <see cref="AnalyzeFirstTokenTail"/>.</summary>
    private enum TailKind
    {
        /// <summary>A constant (initializer, or computed from initializers alone).</summary>
        Constant,

        /// <summary>One value per token position, [batch, seq, …]: row i depends on row i of its inputs only.</summary>
        Token,

        /// <summary>A statistic over a whole token tensor (a dynamic quantization scale or zero point).</summary>
        Statistic,

        /// <summary>Computed from the first token alone (after the head's Gather/Slice of position 0).</summary>
        Pooled,
    }

    // Operators that act on each element (or each row's last axis) alone, so row i of the output depends only on row i
    // of the inputs. Anything else that touches a per-token tensor (Reshape, Transpose, Softmax, a reduction over
    // positions…) stops the analysis: the last layer is then computed for every token, as before.
    private static readonly HashSet<string> ElementwiseOps = new(StringComparer.Ordinal)
    {
        "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Erf", "Tanh", "Relu", "Sigmoid", "Neg", "Abs", "Exp",
        "Log", "Cast", "Identity", "Clip", "Softplus", "QuantizeLinear", "DequantizeLinear",
        "com.microsoft.Gelu", "com.microsoft.FastGelu", "com.microsoft.BiasGelu", "com.microsoft.QuickGelu",
    };

    private static readonly HashSet<string> MatMulOps = new(StringComparer.Ordinal)
    {
        "MatMul", "MatMulInteger", "com.microsoft.DynamicQuantizeMatMul", "com.microsoft.MatMulIntegerToFloat",
    };

    private static readonly HashSet<string> LayerNormOps = new(StringComparer.Ordinal)
    {
        "LayerNormalization", "com.microsoft.SkipLayerNormalization", "com.microsoft.SimplifiedLayerNormalization",
        "com.microsoft.SkipSimplifiedLayerNormalization",
    };

    /// <summary>
    /// Follows the data after the last attention (its context and the per-token tensors from before it that the tail
    /// reads) to the graph outputs, and returns the tail if every path goes only through position-wise operators
    /// until a Gather (axis 1, index 0) or Slice ([0:1] on axis 1) takes the first token. Null, with the reason,
    /// otherwise (e.g. a model whose output is per token, such as a bi-encoder's last_hidden_state).
    /// </summary>
    private static FirstTokenTail? AnalyzeFirstTokenTail(
        GraphProto g, List<List<NodeProto>> nodesBySegment, List<HostStep> steps, HashSet<string> initNames,
        Dictionary<string, NodeProto> floatingProducer, List<string> graphInputs, List<string> graphOutputs,
        Dictionary<string, int> types, out string why)
    {
        why = "";
        int last = steps.FindLastIndex(s => s is HostAttention);
        if (last < 0) { why = "no attention"; return null; }
        var inits = g.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var kind = new Dictionary<string, TailKind>(StringComparer.Ordinal) { [steps[last].Output] = TailKind.Token };
        var boundary = new List<string>();
        string? refusal = null;

        TailKind Of(string name)
        {
            if (name.Length == 0 || initNames.Contains(name) || floatingProducer.ContainsKey(name)) return TailKind.Constant;
            if (kind.TryGetValue(name, out var k)) return k;
            // Computed before the last attention: the residual stream and its kin, one row per token.
            if (graphInputs.Contains(name)) refusal ??= $"the head reads graph input {name}";
            else if (!types.TryGetValue(name, out var t) || t != (int)TensorProto.Types.DataType.Float) refusal ??= $"the head reads {name}, not a float activation";
            boundary.Add(name);
            return kind[name] = TailKind.Token;
        }

        // Rank of a constant operand (through Identity copies of initializers), -1 when unknown.
        int ConstRank(string name)
        {
            for (int hops = 0; hops < 8; hops++)
            {
                if (name.Length == 0) return 0;
                if (inits.TryGetValue(name, out var t)) return t.Dims.Count;
                if (!floatingProducer.TryGetValue(name, out var p) || p.OpType != "Identity" || p.Input.Count != 1) return -1;
                name = p.Input[0];
            }
            return -1;
        }

        long[]? ConstInts(string name)
        {
            if (!inits.TryGetValue(name, out var t)) return null;
            try
            {
                return [.. TensorData.ReadAsDoubles(t).Select(v => (long)v)];
            }
            catch (NotSupportedException)
            {
                return null;
            }
        }

        TailKind? Node(NodeProto n)
        {
            var op = n.Domain.Length == 0 ? n.OpType : n.Domain + "." + n.OpType;
            var ins = n.Input.Select(Of).ToArray();
            if (!ins.Contains(TailKind.Token) && !ins.Contains(TailKind.Statistic))
            {
                return ins.Contains(TailKind.Pooled) ? TailKind.Pooled : TailKind.Constant;
            }
            if (ins.Contains(TailKind.Pooled))
            {
                refusal ??= $"{n.Name} ({op}) mixes the pooled token with per-token values";
                return null;
            }
            bool ScalarOrRowConstants(int from) =>
                n.Input.Skip(from).Select((name, i) => (name, k: ins[from + i])).All(x => x.k != TailKind.Constant || ConstRank(x.name) is >= 0 and <= 1);
            if (ElementwiseOps.Contains(op))
            {
                if (!ScalarOrRowConstants(0)) { refusal ??= $"{n.Name} ({op}) broadcasts a constant over token positions"; return null; }
                return ins.Contains(TailKind.Token) ? TailKind.Token : TailKind.Statistic;
            }
            if (LayerNormOps.Contains(op))
            {
                // Each row normalized over its last axis; Skip variants also add a per-token residual (input 1).
                int perToken = op.Contains("Skip", StringComparison.Ordinal) ? 2 : 1;
                if (GetInt(n, "axis", -1) != -1 || ins.Skip(perToken).Any(k => k != TailKind.Constant) || !ScalarOrRowConstants(perToken))
                {
                    refusal ??= $"{n.Name} ({op}) is not a per-row normalization";
                    return null;
                }
                return TailKind.Token;
            }
            if (ins[0] != TailKind.Token || ins.Skip(1).Contains(TailKind.Token))
            {
                refusal ??= $"{n.Name} ({op}) combines per-token tensors";
                return null;
            }
            if (MatMulOps.Contains(op))
            {
                if (ins[1] != TailKind.Constant || ConstRank(n.Input[1]) != 2) { refusal ??= $"{n.Name} ({op}) multiplies by a non-constant matrix"; return null; }
                return TailKind.Token;
            }
            if (op == "ReduceMean")
            {
                var axes = n.Attribute.FirstOrDefault(a => a.Name == "axes")?.Ints.ToArray() ?? (n.Input.Count > 1 ? ConstInts(n.Input[1]) : null);
                if (axes is not [-1] || GetInt(n, "keepdims", 1) != 1) { refusal ??= $"{n.Name} (ReduceMean) reduces over token positions"; return null; }
                return TailKind.Token;
            }
            if (op == "DynamicQuantizeLinear") return TailKind.Token; // outputs 1-2 are statistics: set by the caller
            if (op == "Gather" && GetInt(n, "axis", 0) == 1 && n.Input.Count == 2 && ConstInts(n.Input[1]) is [0] && ConstRank(n.Input[1]) <= 1)
            {
                return TailKind.Pooled;
            }
            if (op == "Slice" && n.Input.Count >= 4 && ConstInts(n.Input[1]) is [0] && ConstInts(n.Input[2]) is [1] && ConstInts(n.Input[3]) is [1]
                && (n.Input.Count < 5 || ConstInts(n.Input[4]) is [1]))
            {
                return TailKind.Pooled;
            }
            refusal ??= $"{n.Name} ({op}) reads across token positions";
            return null;
        }

        // Execution order of the tail: segment last+1, step last+1, segment last+2, …
        for (int s = last + 1; s < nodesBySegment.Count && refusal is null; s++)
        {
            foreach (var n in nodesBySegment[s])
            {
                if (floatingProducer.ContainsKey(n.Output.FirstOrDefault() ?? "")) continue; // a copied constant
                var k = Node(n);
                if (k is not { } result || refusal is not null) break;
                for (int o = 0; o < n.Output.Count; o++)
                {
                    if (n.Output[o].Length == 0) continue;
                    bool statistic = result == TailKind.Token && n.OpType == "DynamicQuantizeLinear" && n.Domain.Length == 0 && o > 0;
                    kind[n.Output[o]] = statistic ? TailKind.Statistic : result;
                }
            }
            if (refusal is null && s < steps.Count)
            {
                var step = steps[s];
                if (step is not HostGelu gelu) { refusal = $"host step {s} after the last attention"; break; }
                kind[gelu.Output] = Of(gelu.Input); // elementwise: the output holds what the input holds
            }
        }
        if (refusal is null)
        {
            foreach (var o in graphOutputs)
            {
                if (!kind.TryGetValue(o, out var k) || k != TailKind.Pooled) { refusal = $"output {o} is not computed from the first token alone"; break; }
            }
        }
        if (refusal is not null)
        {
            why = refusal;
            return null;
        }
        return new FirstTokenTail(last, boundary);
    }
}
