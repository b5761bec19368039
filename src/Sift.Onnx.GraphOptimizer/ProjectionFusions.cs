using System.Globalization;
using Google.Protobuf;
using Sift.Onnx.GraphOptimizer.Proto;

namespace Sift.Onnx.GraphOptimizer;

/// <summary>What <see cref="OnnxGraphOptimizer.FuseAll(string, string, GraphFusionOptions?)"/> did.</summary>
/// <param name="Attention">The self-attention fusion's report (see <see cref="OnnxGraphOptimizer.FuseAttention(string, string, AttentionFusionOptions?)"/>).</param>
/// <param name="DynamicQuantizeMatMuls">
/// <c>DynamicQuantizeLinear → MatMulInteger → Cast → Mul(scale) → Add(bias)</c> chains whose quantization feeds only that
/// MatMulInteger, replaced by one <c>com.microsoft.DynamicQuantizeMatMul</c> with the bias folded in.
/// </param>
/// <param name="MatMulIntegerToFloats">
/// <c>MatMulInteger → Cast → Mul(scale) → Add(bias)</c> chains whose quantization is shared with other MatMulIntegers,
/// replaced by <c>com.microsoft.MatMulIntegerToFloat</c> (shared quantization kept) with the bias folded in.
/// </param>
/// <param name="GeluFused">Erf-form GELU subgraphs (<c>x·0.5·(1+erf(x/√2))</c>) replaced by <c>com.microsoft.Gelu</c>.</param>
/// <param name="BiasGeluFused">Erf-form GELU subgraphs fed by <c>Add(bias)</c>, replaced by <c>com.microsoft.BiasGelu</c>.</param>
/// <param name="SkipLayerNorms">
/// Residual <c>Add(fp32 MatMul [+ bias], residual) → LayerNormalization</c> replaced by <c>com.microsoft.SkipLayerNormalization</c>
/// (the projection bias, when still a separate Add, folded into its <c>bias</c> input).
/// </param>
/// <param name="NodesRemoved">Net number of graph nodes removed by all passes.</param>
/// <param name="Notes">Why candidates were skipped, if any were.</param>
public sealed record GraphFusionReport(
    FusionReport Attention, int DynamicQuantizeMatMuls, int MatMulIntegerToFloats, int GeluFused, int BiasGeluFused,
    int SkipLayerNorms, int NodesRemoved, IReadOnlyList<string> Notes)
{
    /// <summary>True when any pass changed the graph.</summary>
    public bool Changed => Attention.Changed || DynamicQuantizeMatMuls + MatMulIntegerToFloats + GeluFused + BiasGeluFused + SkipLayerNorms > 0;
}

/// <summary>Options for <see cref="OnnxGraphOptimizer.FuseAll(string, string, GraphFusionOptions?)"/>.</summary>
public sealed class GraphFusionOptions
{
    /// <summary>Fuse self-attention blocks into <c>com.microsoft.MultiHeadAttention</c> (default true).</summary>
    public bool Attention { get; init; } = true;

    /// <summary>Options of the attention pass.</summary>
    public AttentionFusionOptions AttentionOptions { get; init; } = new();

    /// <summary>Fold the bias Add after dynamically quantized MatMuls into <c>DynamicQuantizeMatMul</c>/<c>MatMulIntegerToFloat</c> (default true).</summary>
    public bool QuantizedMatMulBias { get; init; } = true;

    /// <summary>Fuse Erf-form GELU (with a preceding bias Add, if any) into <c>Gelu</c>/<c>BiasGelu</c> (default true).</summary>
    public bool Gelu { get; init; } = true;

    /// <summary>
    /// Fuse residual Add (+ projection bias) + LayerNormalization after fp32 MatMul projections into
    /// <c>SkipLayerNormalization</c> (default false: on the fp32 fixture it measured ~8–10 % slower end to end under
    /// ORT 1.31.1 CPU than ORT's separate Add/LayerNormalization kernels).
    /// </summary>
    public bool SkipLayerNorm { get; init; }
}

public static partial class OnnxGraphOptimizer
{
    /// <summary>
    /// Version of the rewrites applied by <see cref="FuseAll(string, string, GraphFusionOptions?)"/>; include it in any
    /// cache key of rewritten files so that a changed rewriter does not reuse stale outputs.
    /// </summary>
    public const string RewriteVersion = "2";

    /// <summary>
    /// Applies every safe fusion: self-attention → <c>MultiHeadAttention</c> (as <see cref="FuseAttention(string, string, AttentionFusionOptions?)"/>),
    /// then quantized projection + bias → <c>DynamicQuantizeMatMul</c>/<c>MatMulIntegerToFloat</c> with bias, then Erf-GELU
    /// (+ bias) → <c>Gelu</c>/<c>BiasGelu</c>, and optionally (<see cref="GraphFusionOptions.SkipLayerNorm"/>) residual
    /// Add + LayerNormalization → <c>SkipLayerNormalization</c>. Writes <paramref name="outputOnnx"/> only when something changed.
    /// </summary>
    public static GraphFusionReport FuseAll(string inputOnnx, string outputOnnx, GraphFusionOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(inputOnnx);
        ArgumentException.ThrowIfNullOrEmpty(outputOnnx);
        var model = OnnxModelIO.Load(inputOnnx);
        var report = FuseAll(model, options ?? new GraphFusionOptions());
        if (report.Changed) OnnxModelIO.Save(model, outputOnnx);
        return report;
    }

    /// <summary>In-memory variant of <see cref="FuseAll(string, string, GraphFusionOptions?)"/>; null bytes when nothing changed.</summary>
    public static (byte[]? Model, GraphFusionReport Report) FuseAll(ReadOnlySpan<byte> modelBytes, GraphFusionOptions? options = null)
    {
        var model = ModelProto.Parser.ParseFrom(modelBytes);
        var report = FuseAll(model, options ?? new GraphFusionOptions());
        return (report.Changed ? model.ToByteArray() : null, report);
    }

    internal static GraphFusionReport FuseAll(ModelProto model, GraphFusionOptions options)
    {
        var none = new FusionReport(0, "", 0, 0, false, 0, []);
        var g = model.Graph;
        if (g is null) return new GraphFusionReport(none, 0, 0, 0, 0, 0, 0, ["model has no graph"]);
        if (g.Initializer.Any(t => t.DataLocation == TensorProto.Types.DataLocation.External))
            return new GraphFusionReport(none, 0, 0, 0, 0, 0, 0, ["external-data models are not supported"]);
        var msOpset = model.OpsetImport.FirstOrDefault(o => o.Domain == MsDomain);
        if (msOpset is not null && msOpset.Version < 1)
            return new GraphFusionReport(none, 0, 0, 0, 0, 0, 0, ["unsupported com.microsoft opset"]);

        int before = g.Node.Count;
        var notes = new List<string>();
        var attention = options.Attention ? FuseAttention(model, options.AttentionOptions) : none;
        notes.AddRange(attention.Notes);
        int dqmm = 0, mmitf = 0, gelu = 0, biasGelu = 0;
        if (options.QuantizedMatMulBias) (dqmm, mmitf) = FuseQuantizedMatMulBias(g);
        if (options.Gelu) (gelu, biasGelu) = FuseGelu(g);
        int sln = options.SkipLayerNorm ? FuseSkipLayerNorm(g) : 0;
        bool changed = attention.Changed || dqmm + mmitf + gelu + biasGelu + sln > 0;
        if (changed && !model.OpsetImport.Any(o => o.Domain == MsDomain))
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = MsDomain, Version = 1 });
        return new GraphFusionReport(attention, dqmm, mmitf, gelu, biasGelu, sln, before - g.Node.Count, notes);
    }

    /// <summary>
    /// <c>Add(Mul(Cast(MatMulInteger(q, Bq, zp, Bzp)), Mul(a_scale, b_scale)), bias)</c> with q/a_scale/zp from one
    /// <c>DynamicQuantizeLinear(A)</c> ⇒ <c>DynamicQuantizeMatMul(A, Bq, b_scale, Bzp, bias)</c> when the quantization has
    /// no other consumer, else <c>MatMulIntegerToFloat(q, Bq, a_scale, b_scale, zp, Bzp, bias)</c>.
    /// </summary>
    private static (int DynamicQuantizeMatMuls, int MatMulIntegerToFloats) FuseQuantizedMatMulBias(GraphProto g)
    {
        var ctx = new GraphIndex(g);
        var remove = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var replace = new Dictionary<NodeProto, NodeProto>(ReferenceEqualityComparer.Instance);
        int dq = 0, mi = 0;
        foreach (var add in g.Node.Where(n => n.OpType == "Add" && n.Domain.Length == 0 && n.Input.Count == 2).ToList())
        {
            if (remove.Contains(add) || replace.ContainsKey(add)) continue;
            int bj = -1;
            for (int j = 0; j < 2; j++)
            {
                var c = ctx.Constant(add.Input[j]);
                if (c is { Dims.Count: 1 } && c.DataType == (int)TensorProto.Types.DataType.Float && ctx.Constant(add.Input[1 - j]) is null) { bj = j; break; }
            }
            if (bj < 0) continue;
            var bias = ctx.Constant(add.Input[bj])!;
            var mul = ctx.Producer(add.Input[1 - bj]);
            if (mul is not { OpType: "Mul", Domain: "" } || mul.Input.Count != 2 || !ctx.SingleConsumer(mul.Output[0])) continue;
            NodeProto? cast = null, scaleMul = null;
            for (int j = 0; j < 2; j++)
            {
                var p0 = ctx.Producer(mul.Input[j]);
                var p1 = ctx.Producer(mul.Input[1 - j]);
                if (p0 is { OpType: "Cast", Domain: "" } && GetInt(p0, "to", 0) == (int)TensorProto.Types.DataType.Float
                    && p1 is { OpType: "Mul", Domain: "" } && p1.Input.Count == 2) { cast = p0; scaleMul = p1; break; }
            }
            if (cast is null || scaleMul is null || !ctx.SingleConsumer(cast.Output[0])) continue;
            var mmi = ctx.Producer(cast.Input[0]);
            if (mmi is not { OpType: "MatMulInteger", Domain: "" } || mmi.Input.Count < 2 || !ctx.SingleConsumer(mmi.Output[0])) continue;
            var dql = ctx.Producer(mmi.Input[0]);
            if (dql is not { OpType: "DynamicQuantizeLinear", Domain: "" } || dql.Output.Count != 3) continue;
            if (mmi.Input.Count > 2 && mmi.Input[2].Length > 0 && mmi.Input[2] != dql.Output[2]) continue;
            var w = ctx.Constant(mmi.Input[1]);
            if (w is not { Dims.Count: 2 } || w.Dims[1] != bias.Dims[0]) continue;
            if (w.DataType != (int)TensorProto.Types.DataType.Int8 && w.DataType != (int)TensorProto.Types.DataType.Uint8) continue;
            string bZp = mmi.Input.Count > 3 ? mmi.Input[3] : "";
            if (bZp.Length > 0 && ctx.Constant(bZp) is null) continue;
            // scaleMul = Mul(a_scale, b_scale) with b_scale constant (scalar or per-column).
            int sj = scaleMul.Input[0] == dql.Output[1] ? 1 : scaleMul.Input[1] == dql.Output[1] ? 0 : -1;
            if (sj < 0) continue;
            var bScale = ctx.Constant(scaleMul.Input[sj]);
            if (bScale is null || bScale.DataType != (int)TensorProto.Types.DataType.Float) continue;
            long bScaleCount = bScale.Dims.Aggregate(1L, (a, b) => a * b);
            if (bScale.Dims.Count > 1 || (bScaleCount != 1 && bScaleCount != w.Dims[1])) continue;

            bool exclusive = ctx.SingleConsumer(dql.Output[0]) && ctx.SingleConsumer(dql.Output[1]) && ctx.SingleConsumer(scaleMul.Output[0])
                && (ctx.ConsumerCount(dql.Output[2]) == 0 || (ctx.SingleConsumer(dql.Output[2]) && mmi.Input.Count > 2 && mmi.Input[2] == dql.Output[2]));
            NodeProto fused;
            if (exclusive)
            {
                fused = new NodeProto { Name = UniqueName(ctx, mmi.Name + "_DynamicQuantizeMatMul"), OpType = "DynamicQuantizeMatMul", Domain = MsDomain };
                fused.Input.Add(dql.Input[0]);
                fused.Input.Add(mmi.Input[1]);
                fused.Input.Add(scaleMul.Input[sj]);
                fused.Input.Add(bZp);
                fused.Input.Add(add.Input[bj]);
                remove.Add(dql);
                dq++;
            }
            else
            {
                fused = new NodeProto { Name = UniqueName(ctx, mmi.Name + "_MatMulIntegerToFloat"), OpType = "MatMulIntegerToFloat", Domain = MsDomain };
                fused.Input.Add(mmi.Input[0]);
                fused.Input.Add(mmi.Input[1]);
                fused.Input.Add(dql.Output[1]);
                fused.Input.Add(scaleMul.Input[sj]);
                fused.Input.Add(mmi.Input.Count > 2 ? mmi.Input[2] : "");
                fused.Input.Add(bZp);
                fused.Input.Add(add.Input[bj]);
                mi++;
            }
            fused.Output.Add(add.Output[0]);
            if (ctx.SingleConsumer(scaleMul.Output[0])) remove.Add(scaleMul);
            remove.Add(mmi); remove.Add(cast); remove.Add(mul);
            replace[add] = fused;
        }
        if (replace.Count > 0) ApplyRewrite(g, remove, replace);
        return (dq, mi);
    }

    /// <summary>An exact (erf) GELU subgraph: its input x, its output, and its nodes [Div|Mul, Erf, Add, Mul(x), Mul(0.5)].</summary>
    internal sealed record GeluMatch(string Input, string Output, NodeProto[] Nodes);

    /// <summary>Matches <c>Mul(Mul(x, Add(Erf(Div(x, √2) | Mul(x, 1/√2)), 1)), 0.5)</c> around <paramref name="erf"/>.</summary>
    internal static GeluMatch? TryMatchGelu(GraphIndex ctx, NodeProto erf)
    {
        var div = ctx.Producer(erf.Input[0]);
        if (div is not { Domain: "" } || div.Input.Count != 2 || !ctx.SingleConsumer(div.Output[0])) return null;
        var c = ctx.ConstScalar(div.Input[1]);
        if (c is null) return null;
        bool okScale = div.OpType switch
        {
            "Div" => Math.Abs(c.Value - Math.Sqrt(2)) < 1e-4,
            "Mul" => Math.Abs(c.Value - Math.Sqrt(0.5)) < 1e-4,
            _ => false,
        };
        if (!okScale) return null;
        string x = div.Input[0];
        if (!ctx.SingleConsumer(erf.Output[0])) return null;
        var add1 = ctx.OnlyConsumer(erf.Output[0]);
        if (add1 is not { OpType: "Add", Domain: "" } || add1.Input.Count != 2 || !ctx.SingleConsumer(add1.Output[0])) return null;
        var one = ctx.ConstScalar(add1.Input[add1.Input[0] == erf.Output[0] ? 1 : 0]);
        if (one is not 1.0) return null;
        var mulX = ctx.OnlyConsumer(add1.Output[0]);
        if (mulX is not { OpType: "Mul", Domain: "" } || mulX.Input.Count != 2 || !ctx.SingleConsumer(mulX.Output[0])) return null;
        if (mulX.Input[0] != x && mulX.Input[1] != x) return null;
        var mulHalf = ctx.OnlyConsumer(mulX.Output[0]);
        if (mulHalf is not { OpType: "Mul", Domain: "" } || mulHalf.Input.Count != 2) return null;
        var half = ctx.ConstScalar(mulHalf.Input[mulHalf.Input[0] == mulX.Output[0] ? 1 : 0]);
        if (half is not 0.5) return null;
        if (ctx.ConsumerCount(x) != 2) return null; // x feeds exactly Div and Mul
        return new GeluMatch(x, mulHalf.Output[0], [div, erf, add1, mulX, mulHalf]);
    }

    /// <summary>
    /// <c>Mul(Mul(x, Add(Erf(Div(x, √2) | Mul(x, 1/√2)), 1)), 0.5)</c> ⇒ <c>Gelu(x)</c>, or <c>BiasGelu(x0, bias)</c> when
    /// <c>x = Add(x0, bias[N])</c> feeds only this GELU.
    /// </summary>
    private static (int Gelu, int BiasGelu) FuseGelu(GraphProto g)
    {
        var ctx = new GraphIndex(g);
        var remove = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var replace = new Dictionary<NodeProto, NodeProto>(ReferenceEqualityComparer.Instance);
        int gelu = 0, biasGelu = 0;
        foreach (var erf in g.Node.Where(n => n.OpType == "Erf" && n.Domain.Length == 0).ToList())
        {
            if (TryMatchGelu(ctx, erf) is not { } m) continue;
            var (x, div, add1, mulX, mulHalf) = (m.Input, m.Nodes[0], m.Nodes[2], m.Nodes[3], m.Nodes[4]);
            var xp = ctx.Producer(x);
            NodeProto fused;
            if (xp is { OpType: "Add", Domain: "" } && xp.Input.Count == 2 && !replace.ContainsKey(xp)
                && SplitBias(ctx, xp) is { } split)
            {
                fused = new NodeProto { Name = UniqueName(ctx, (xp.Name.Length > 0 ? xp.Name : erf.Name) + "_BiasGelu"), OpType = "BiasGelu", Domain = MsDomain };
                fused.Input.Add(split.Input);
                fused.Input.Add(split.Bias);
                remove.Add(xp);
                biasGelu++;
            }
            else
            {
                fused = new NodeProto { Name = UniqueName(ctx, erf.Name + "_Gelu"), OpType = "Gelu", Domain = MsDomain };
                fused.Input.Add(x);
                gelu++;
            }
            fused.Output.Add(mulHalf.Output[0]);
            remove.Add(div); remove.Add(erf); remove.Add(add1); remove.Add(mulX);
            replace[mulHalf] = fused;
        }
        if (replace.Count > 0) ApplyRewrite(g, remove, replace);
        return (gelu, biasGelu);
    }

    /// <summary>
    /// <c>LayerNormalization(Add(p, r), γ, β)</c> over the last axis, where <c>p</c> is an fp32 <c>MatMul</c> projection
    /// output (optionally through <c>Add(bias[N])</c>) and <c>r</c> a previous (Skip)LayerNormalization output — the BERT residual, both [B,S,N] —
    /// ⇒ <c>SkipLayerNormalization(p, r, γ, β[, bias])</c>.
    /// </summary>
    private static int FuseSkipLayerNorm(GraphProto g)
    {
        var ctx = new GraphIndex(g);
        var remove = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var replace = new Dictionary<NodeProto, NodeProto>(ReferenceEqualityComparer.Instance);
        int count = 0;
        foreach (var ln in g.Node.Where(n => n.OpType == "LayerNormalization" && n.Domain.Length == 0).ToList())
        {
            if (GetInt(ln, "axis", -1) != -1 || ln.Input.Count < 2) continue;
            if (ln.Output.Skip(1).Any(o => o.Length > 0 && ctx.ConsumerCount(o) > 0)) continue;
            var gamma = ctx.Constant(ln.Input[1]);
            if (gamma is not { Dims.Count: 1 } || gamma.DataType != (int)TensorProto.Types.DataType.Float) continue;
            long n = gamma.Dims[0];
            string beta = ln.Input.Count > 2 ? ln.Input[2] : "";
            if (beta.Length > 0 && ctx.Constant(beta) is not { Dims.Count: 1 }) continue;
            var add = ctx.Producer(ln.Input[0]);
            if (add is not { OpType: "Add", Domain: "" } || add.Input.Count != 2 || !ctx.SingleConsumer(add.Output[0]) || remove.Contains(add)) continue;
            int pj = -1;
            for (int j = 0; j < 2 && pj < 0; j++)
                if (IsResidual(ctx, add.Input[1 - j]) && IsProjection(ctx, add.Input[j], n, out _)) pj = j;
            if (pj < 0) continue;
            string input = add.Input[pj], skip = add.Input[1 - pj], bias = "";
            IsProjection(ctx, input, n, out var biasAdd);
            if (biasAdd is not null && !remove.Contains(biasAdd) && ctx.SingleConsumer(biasAdd.Output[0]) && SplitBias(ctx, biasAdd) is { } sb)
            {
                input = sb.Input; bias = sb.Bias;
                remove.Add(biasAdd);
            }
            var fused = new NodeProto { Name = UniqueName(ctx, (ln.Name.Length > 0 ? ln.Name : add.Name) + "_SkipLayerNorm"), OpType = "SkipLayerNormalization", Domain = MsDomain };
            fused.Input.Add(input);
            fused.Input.Add(skip);
            fused.Input.Add(ln.Input[1]);
            fused.Input.Add(beta);
            fused.Input.Add(bias);
            while (fused.Input[^1].Length == 0) fused.Input.RemoveAt(fused.Input.Count - 1);
            fused.Output.Add(ln.Output[0]);
            var eps = ln.Attribute.FirstOrDefault(a => a.Name == "epsilon");
            fused.Attribute.Add(new AttributeProto { Name = "epsilon", Type = AttributeProto.Types.AttributeType.Float, F = eps?.F ?? 1e-5f });
            remove.Add(add);
            replace[ln] = fused;
            count++;
        }
        if (replace.Count > 0) ApplyRewrite(g, remove, replace);
        return count;
    }

    private static bool IsResidual(GraphIndex ctx, string name) =>
        ctx.Producer(name) is { } p && p.Output[0] == name
        && ((p.OpType == "LayerNormalization" && p.Domain.Length == 0) || (p.OpType == "SkipLayerNormalization" && p.Domain == MsDomain));

    /// <summary>Whether <paramref name="name"/> is a [.., n] projection output, optionally through one <c>Add(bias[n])</c>.</summary>
    private static bool IsProjection(GraphIndex ctx, string name, long n, out NodeProto? biasAdd)
    {
        biasAdd = null;
        var p = ctx.Producer(name);
        if (p is { OpType: "Add", Domain: "" } && p.Input.Count == 2 && SplitBias(ctx, p) is { } sb
            && ctx.Constant(sb.Bias) is { } b && b.Dims[0] == n)
        {
            biasAdd = p;
            p = ctx.Producer(sb.Input);
        }
        // fp32 MatMul only. On the int8 fixture, SkipLayerNormalization after the attention-output DynamicQuantizeMatMul
        // changed logits by up to 0.67 under ORT 1.31.1 CPU (cause not diagnosed; ORT's own SkipLayerNormFusion also
        // leaves that residual alone and fuses the FFN-output one itself), so quantized projections are not matched.
        return p is { OpType: "MatMul", Domain: "" } && ctx.InferHiddenSize(p.Output[0]) == n;
    }

    private static (string Input, string Bias)? SplitBias(GraphIndex ctx, NodeProto add)
    {
        for (int j = 0; j < 2; j++)
        {
            var c = ctx.Constant(add.Input[j]);
            if (c is { Dims.Count: 1 } && c.DataType == (int)TensorProto.Types.DataType.Float && ctx.Constant(add.Input[1 - j]) is null)
                return (add.Input[1 - j], add.Input[j]);
        }
        return null;
    }

    /// <summary>Replaces/removes nodes in place, then drops dead nodes, unused initializers and stale value_info.</summary>
    private static void ApplyRewrite(GraphProto g, HashSet<NodeProto> remove, Dictionary<NodeProto, NodeProto> replace)
    {
        var newNodes = new List<NodeProto>(g.Node.Count);
        foreach (var n in g.Node)
        {
            if (replace.TryGetValue(n, out var r)) newNodes.Add(r);
            else if (!remove.Contains(n)) newNodes.Add(n);
        }
        g.Node.Clear();
        g.Node.AddRange(EliminateDeadNodes(g, newNodes));
        PruneValueInfoAndInitializers(g);
    }

    internal static string Describe(GraphFusionReport r) => string.Create(CultureInfo.InvariantCulture,
        $"attention layers {r.Attention.LayersFused}, DynamicQuantizeMatMul+bias {r.DynamicQuantizeMatMuls}, MatMulIntegerToFloat+bias {r.MatMulIntegerToFloats}, Gelu {r.GeluFused}, BiasGelu {r.BiasGeluFused}, SkipLayerNorm {r.SkipLayerNorms}, nodes removed {r.NodesRemoved}");
}
