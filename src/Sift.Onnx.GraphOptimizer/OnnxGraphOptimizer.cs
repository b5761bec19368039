using System.Globalization;
using Google.Protobuf;
using Sift.Onnx.GraphOptimizer.Proto;

namespace Sift.Onnx.GraphOptimizer;

/// <summary>What <see cref="OnnxGraphOptimizer.FuseAttention(string, string, AttentionFusionOptions?)"/> did.</summary>
/// <param name="LayersFused">Number of self-attention blocks replaced by <c>com.microsoft.MultiHeadAttention</c>.</param>
/// <param name="Pattern">Human-readable description of the matched subgraph (empty when nothing matched).</param>
/// <param name="NumHeads">Heads per layer of the fused blocks (0 when nothing matched).</param>
/// <param name="HeadSize">Head size of the fused blocks (0 when nothing matched).</param>
/// <param name="BiasesFolded">Whether the Q/K/V projection biases were folded into the fused node's packed bias.</param>
/// <param name="NodesRemoved">Net number of graph nodes removed.</param>
/// <param name="Notes">Why candidate blocks were skipped, if any were.</param>
public sealed record FusionReport(int LayersFused, string Pattern, int NumHeads, int HeadSize, bool BiasesFolded, int NodesRemoved, IReadOnlyList<string> Notes)
{
    /// <summary>True when at least one layer was fused.</summary>
    public bool Changed => LayersFused > 0;
}

/// <summary>Options for <see cref="OnnxGraphOptimizer.FuseAttention(string, string, AttentionFusionOptions?)"/>.</summary>
public sealed class AttentionFusionOptions
{
    /// <summary>Fold the Q/K/V projection bias Adds into MultiHeadAttention's packed <c>bias</c> input (default true).</summary>
    public bool FoldProjectionBias { get; init; } = true;
}

/// <summary>
/// Offline ONNX graph rewrites that ONNX Runtime's own optimizer misses for recent exports.
/// </summary>
public static partial class OnnxGraphOptimizer
{
    private const string MsDomain = "com.microsoft";

    /// <summary>
    /// Replaces each BERT-style self-attention block exported as
    /// <c>Reshape/Transpose(Q,K,V) → MatMul → Mul|Div(scale) → Add(mask) → Softmax → MatMul → Transpose → Reshape</c>
    /// by one <c>com.microsoft.MultiHeadAttention</c> node (query/key/value [B,S,hidden], the additive mask as
    /// <c>attention_bias</c>). The Q/K/V projections (fp32 MatMul or quantized MatMulInteger) are left untouched, so it
    /// works on both fp32 and dynamically-quantized int8 models. Writes <paramref name="outputOnnx"/> only when something
    /// was fused (returns <see cref="FusionReport.LayersFused"/> = 0 and writes nothing otherwise). Models with external
    /// data are not supported (nothing fused).
    /// </summary>
    public static FusionReport FuseAttention(string inputOnnx, string outputOnnx, AttentionFusionOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(inputOnnx);
        ArgumentException.ThrowIfNullOrEmpty(outputOnnx);
        var model = OnnxModelIO.Load(inputOnnx);
        var report = FuseAttention(model, options ?? new AttentionFusionOptions());
        if (report.Changed) OnnxModelIO.Save(model, outputOnnx);
        return report;
    }

    /// <summary>In-memory variant: rewrites <paramref name="modelBytes"/>; returns the new bytes (or null when nothing matched).</summary>
    public static (byte[]? Model, FusionReport Report) FuseAttention(ReadOnlySpan<byte> modelBytes, AttentionFusionOptions? options = null)
    {
        var model = ModelProto.Parser.ParseFrom(modelBytes);
        var report = FuseAttention(model, options ?? new AttentionFusionOptions());
        return (report.Changed ? model.ToByteArray() : null, report);
    }

    internal static FusionReport FuseAttention(ModelProto model, AttentionFusionOptions options)
    {
        var notes = new List<string>();
        var g = model.Graph;
        if (g is null) return new FusionReport(0, "", 0, 0, false, 0, ["model has no graph"]);
        if (g.Initializer.Any(t => t.DataLocation == TensorProto.Types.DataLocation.External))
            return new FusionReport(0, "", 0, 0, false, 0, ["external-data models are not supported"]);
        var msOpset = model.OpsetImport.FirstOrDefault(o => o.Domain == MsDomain);
        if (msOpset is not null && msOpset.Version < 1)
            return new FusionReport(0, "", 0, 0, false, 0, ["unsupported com.microsoft opset"]);

        int nodesBefore = g.Node.Count;
        var ctx = new GraphIndex(g);
        var matches = new List<Match>();
        foreach (var softmax in g.Node.Where(n => n.OpType == "Softmax" && n.Domain.Length == 0).ToList())
        {
            var m = TryMatch(ctx, softmax, options, out var why);
            if (m is null) { notes.Add($"{softmax.Name}: {why}"); continue; }
            matches.Add(m);
        }
        if (matches.Count == 0)
            return new FusionReport(0, "", 0, 0, false, 0, notes);

        // Apply: replace each matched block's last node by the fused node, drop the rest.
        var remove = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var replace = new Dictionary<NodeProto, NodeProto>(ReferenceEqualityComparer.Instance);
        int idx = 0;
        bool anyBias = false;
        foreach (var m in matches)
        {
            string prefix = UniqueName(ctx, (m.Softmax.Name.Length > 0 ? m.Softmax.Name : "attn" + idx) + "_fused");
            string? biasName = null;
            if (m.Bias is not null)
            {
                biasName = prefix + "_qkv_bias";
                g.Initializer.Add(TensorData.FromFloats(biasName, m.Bias, m.Bias.Length));
                anyBias = true;
            }
            var mha = new NodeProto { Name = prefix, OpType = "MultiHeadAttention", Domain = MsDomain };
            mha.Input.Add(m.Query);
            mha.Input.Add(m.Key);
            mha.Input.Add(m.Value);
            mha.Input.Add(biasName ?? "");
            mha.Input.Add("");             // key_padding_mask
            mha.Input.Add(m.Mask ?? "");   // attention_bias
            while (mha.Input.Count > 0 && mha.Input[^1].Length == 0) mha.Input.RemoveAt(mha.Input.Count - 1);
            mha.Output.Add(m.Output);
            mha.Attribute.Add(new AttributeProto { Name = "num_heads", Type = AttributeProto.Types.AttributeType.Int, I = m.NumHeads });
            mha.Attribute.Add(new AttributeProto { Name = "scale", Type = AttributeProto.Types.AttributeType.Float, F = m.Scale });
            foreach (var n in m.Nodes) remove.Add(n);
            replace[m.Last] = mha;
            idx++;
        }
        var newNodes = new List<NodeProto>(g.Node.Count);
        foreach (var n in g.Node)
        {
            if (replace.TryGetValue(n, out var r)) newNodes.Add(r);
            else if (!remove.Contains(n)) newNodes.Add(n);
        }
        g.Node.Clear();
        g.Node.AddRange(EliminateDeadNodes(g, newNodes));
        PruneValueInfoAndInitializers(g);
        if (msOpset is null) model.OpsetImport.Add(new OperatorSetIdProto { Domain = MsDomain, Version = 1 });

        var first = matches[0];
        string pattern = $"{(first.Bias is not null ? "Add(bias) → " : "")}Reshape[B,S,N,H] → Transpose(0,2,1,3 | K: 0,2,3,1) → MatMul(QKᵀ) → {first.ScaleOp}(scale={first.Scale.ToString("G6", CultureInfo.InvariantCulture)}) → "
            + $"{(first.Mask is not null ? "Add(mask) → " : "")}Softmax → MatMul(V) → Transpose(0,2,1,3) → Reshape[B,S,hidden]  ⇒  com.microsoft.MultiHeadAttention";
        return new FusionReport(matches.Count, pattern, (int)first.NumHeads, (int)first.HeadSize, anyBias, nodesBefore - g.Node.Count, notes);
    }

    private sealed record Match(
        NodeProto Softmax, NodeProto Last, List<NodeProto> Nodes, string Query, string Key, string Value, string? Mask,
        float[]? Bias, float Scale, string ScaleOp, long NumHeads, long HeadSize, string Output);

    private static Match? TryMatch(GraphIndex ctx, NodeProto softmax, AttentionFusionOptions options, out string why)
    {
        why = "";
        var nodes = new List<NodeProto> { softmax };
        long axis = GetInt(softmax, "axis", -1);
        if (axis != -1 && axis != 3) { why = "softmax axis"; return null; }

        // Softmax input: Add(scaled, mask) or scaled directly.
        var sIn = ctx.Producer(softmax.Input[0]);
        string? mask = null;
        NodeProto? scaled = sIn;
        if (sIn is { OpType: "Add" } && ctx.SingleConsumer(sIn.Output[0]))
        {
            var a = ctx.Producer(sIn.Input[0]);
            var b = ctx.Producer(sIn.Input[1]);
            if (IsScaleOp(a)) { scaled = a; mask = sIn.Input[1]; }
            else if (IsScaleOp(b)) { scaled = b; mask = sIn.Input[0]; }
            else { why = "Add before Softmax has no scale input"; return null; }
            nodes.Add(sIn);
        }
        if (scaled is null || !IsScaleOp(scaled) || !ctx.SingleConsumer(scaled.Output[0])) { why = "no Mul/Div scale before Softmax"; return null; }
        nodes.Add(scaled);
        var scaleConst = ctx.ConstScalar(scaled.Input[1]);
        var qk = ctx.Producer(scaled.Input[0]);
        if (scaleConst is null || qk is not { OpType: "MatMul" } || !ctx.SingleConsumer(qk.Output[0])) { why = "scale is not constant or not fed by MatMul"; return null; }
        nodes.Add(qk);
        float scale = scaled.OpType == "Mul" ? (float)scaleConst.Value : (float)(1.0 / scaleConst.Value);

        var qT = MatchReshapeTranspose(ctx, qk.Input[0], [0, 2, 1, 3], nodes, out var q, out var qHead);
        var kT = MatchReshapeTranspose(ctx, qk.Input[1], [0, 2, 3, 1], nodes, out var k, out var kHead);
        if (!qT || !kT) { why = "Q/K not Reshape→Transpose"; return null; }

        // Softmax → MatMul(probs, V) → Transpose(0,2,1,3) → Reshape.
        var pv = ctx.OnlyConsumer(softmax.Output[0]);
        if (pv is not { OpType: "MatMul" } || pv.Input[0] != softmax.Output[0]) { why = "Softmax not followed by MatMul(probs, V)"; return null; }
        nodes.Add(pv);
        if (!MatchReshapeTranspose(ctx, pv.Input[1], [0, 2, 1, 3], nodes, out var v, out var vHead)) { why = "V not Reshape→Transpose"; return null; }
        var tOut = ctx.OnlyConsumer(pv.Output[0]);
        if (tOut is not { OpType: "Transpose" } || !PermIs(tOut, [0, 2, 1, 3])) { why = "no output Transpose"; return null; }
        nodes.Add(tOut);
        var rOut = ctx.OnlyConsumer(tOut.Output[0]) ?? ShapeOnlySiblings(ctx, tOut.Output[0], nodes);
        if (rOut is not { OpType: "Reshape" } || rOut.Input[0] != tOut.Output[0]) { why = "no output Reshape"; return null; }
        var outShapeLen = ctx.ShapeLength(rOut.Input[1]);
        if (outShapeLen != 3) { why = "output Reshape is not 3-D"; return null; }
        nodes.Add(rOut);

        if (qHead <= 0 || qHead != kHead || qHead != vHead) { why = "head size unknown or differs"; return null; }
        long hidden = ctx.InferHiddenSize(q);
        if (hidden <= 0 || hidden % qHead != 0) { why = "hidden size unknown"; return null; }
        if (ctx.InferHiddenSize(k) != hidden || ctx.InferHiddenSize(v) != hidden) { why = "Q/K/V hidden sizes differ"; return null; }

        // Optional: fold Q/K/V bias Adds into the packed bias input.
        float[]? bias = null;
        if (options.FoldProjectionBias)
        {
            var qb = ctx.SplitBiasAdd(q, hidden);
            var kb = ctx.SplitBiasAdd(k, hidden);
            var vb = ctx.SplitBiasAdd(v, hidden);
            if (qb is not null && kb is not null && vb is not null)
            {
                bias = [.. qb.Value.Bias, .. kb.Value.Bias, .. vb.Value.Bias];
                nodes.Add(qb.Value.Node); nodes.Add(kb.Value.Node); nodes.Add(vb.Value.Node);
                q = qb.Value.Input; k = kb.Value.Input; v = vb.Value.Input;
            }
        }
        if (nodes.Distinct(ReferenceEqualityComparer.Instance).Count() != nodes.Count) { why = "overlapping pattern"; return null; }
        return new Match(softmax, rOut, nodes, q, k, v, mask, bias, scale, scaled.OpType, hidden / qHead, qHead, rOut.Output[0]);
    }

    private static bool IsScaleOp(NodeProto? n) => n is { OpType: "Mul" or "Div", Domain: "" };

    /// <summary>
    /// Older PyTorch exports (all-MiniLM-L6-v2's, opset 13) build the output Reshape's target shape from
    /// <c>Shape</c> of the transposed attention output itself: Shape → Gather → Unsqueeze → Concat → Reshape. Returns that
    /// Reshape when every other reader of <paramref name="tensor"/> is such a Shape chain that ends in it, and adds the
    /// chains to <paramref name="nodes"/> (they go with the pattern; the Reshape's [B, S, hidden] is what replaces it).
    /// </summary>
    private static NodeProto? ShapeOnlySiblings(GraphIndex ctx, string tensor, List<NodeProto> nodes)
    {
        if (ctx.IsGraphOutput(tensor)) return null;
        var readers = ctx.Consumers(tensor);
        var reshapes = readers.Where(n => n is { OpType: "Reshape", Domain: "" } && n.Input[0] == tensor).ToList();
        if (reshapes.Count != 1) return null;
        var reshape = reshapes[0];
        var chain = new List<NodeProto>();
        var seen = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var work = new Queue<NodeProto>(readers.Where(n => !ReferenceEquals(n, reshape)));
        while (work.Count > 0)
        {
            var n = work.Dequeue();
            if (!seen.Add(n)) continue;
            if (n is not { OpType: "Shape" or "Gather" or "Unsqueeze" or "Concat" or "Cast" or "Squeeze", Domain: "" }) return null;
            chain.Add(n);
            foreach (var o in n.Output)
            {
                if (ctx.IsGraphOutput(o)) return null;
                foreach (var c in ctx.Consumers(o))
                {
                    if (ReferenceEquals(c, reshape))
                    {
                        if (reshape.Input[1] != o) return null; // may only feed the shape input
                        continue;
                    }
                    work.Enqueue(c);
                }
            }
        }
        if (chain.Count == 0) return null;
        nodes.AddRange(chain);
        return reshape;
    }

    private static bool MatchReshapeTranspose(GraphIndex ctx, string name, long[] perm, List<NodeProto> nodes, out string source, out long headSize)
    {
        source = ""; headSize = 0;
        var t = ctx.Producer(name);
        if (t is not { OpType: "Transpose" } || !PermIs(t, perm) || !ctx.SingleConsumer(t.Output[0])) return false;
        var r = ctx.Producer(t.Input[0]);
        if (r is not { OpType: "Reshape" } || !ctx.SingleConsumer(r.Output[0])) return false;
        var shape = ctx.ShapeValues(r.Input[1]);
        if (shape is null || shape.Length != 4 || shape[3] is not { } h || h <= 0) return false;
        if (shape[2] is { } n && n != -1 && n <= 0) return false;
        nodes.Add(t); nodes.Add(r);
        source = r.Input[0];
        headSize = h;
        return true;
    }

    private static bool PermIs(NodeProto n, long[] perm)
    {
        var a = n.Attribute.FirstOrDefault(x => x.Name == "perm");
        return a is not null && a.Ints.SequenceEqual(perm);
    }

    internal static long GetInt(NodeProto n, string name, long dflt)
    {
        var a = n.Attribute.FirstOrDefault(x => x.Name == name);
        return a is null ? dflt : a.I;
    }

    private static string UniqueName(GraphIndex ctx, string baseName)
    {
        string s = baseName.Replace('/', '_').TrimStart('_');
        string name = s;
        for (int i = 1; ctx.NameExists(name); i++) name = s + "_" + i.ToString(CultureInfo.InvariantCulture);
        ctx.Reserve(name);
        return name;
    }

    private static List<NodeProto> EliminateDeadNodes(GraphProto g, List<NodeProto> nodes)
    {
        var live = new HashSet<string>(g.Output.Select(o => o.Name));
        var keep = new bool[nodes.Count];
        for (int i = nodes.Count - 1; i >= 0; i--)
        {
            var n = nodes[i];
            if (n.Output.Any(live.Contains))
            {
                keep[i] = true;
                foreach (var inp in n.Input) if (inp.Length > 0) live.Add(inp);
            }
        }
        return nodes.Where((_, i) => keep[i]).ToList();
    }

    private static void PruneValueInfoAndInitializers(GraphProto g)
    {
        var used = new HashSet<string>(g.Node.SelectMany(n => n.Input));
        foreach (var o in g.Output) used.Add(o.Name);
        var produced = new HashSet<string>(g.Node.SelectMany(n => n.Output));
        var graphInputs = new HashSet<string>(g.Input.Select(i => i.Name));
        var deadInits = g.Initializer.Where(t => !used.Contains(t.Name) && !graphInputs.Contains(t.Name)).ToList();
        foreach (var t in deadInits) g.Initializer.Remove(t);
        var deadVi = g.ValueInfo.Where(v => !produced.Contains(v.Name)).ToList();
        foreach (var v in deadVi) g.ValueInfo.Remove(v);
    }
}
