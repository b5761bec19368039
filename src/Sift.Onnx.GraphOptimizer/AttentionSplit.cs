using Google.Protobuf;
using Sift.Onnx.GraphOptimizer.Proto;

namespace Sift.Onnx.GraphOptimizer;

/// <summary>A computation lifted out of the graph, to be run by the host between two segments; writes <see cref="Output"/>.</summary>
public abstract record HostStep(string Output)
{
    /// <summary>The tensors the step reads.</summary>
    public abstract IReadOnlyList<string> Inputs { get; }
}

/// <summary>One self-attention core lifted out of the graph, to be computed by the host between two segments.</summary>
/// <param name="Query">Projected queries [batch, seq, hidden] (projection bias already added).</param>
/// <param name="Key">Projected keys [batch, seq, hidden].</param>
/// <param name="Value">Projected values [batch, seq, hidden].</param>
/// <param name="Output">The attention context [batch, seq, hidden] the next segment reads.</param>
/// <param name="NumHeads">Heads.</param>
/// <param name="HeadSize">Channels per head (hidden / heads).</param>
/// <param name="Scale">Factor applied to QKᵀ before the softmax (usually 1/√head size).</param>
public sealed record HostAttention(string Query, string Key, string Value, string Output, int NumHeads, int HeadSize, float Scale) : HostStep(Output)
{
    /// <inheritdoc />
    public override IReadOnlyList<string> Inputs => [Query, Key, Value];
}

/// <summary>An exact GELU, <c>x·½·(1 + erf(x/√2))</c>, elementwise from <paramref name="Input"/> to <paramref name="Output"/>.</summary>
public sealed record HostGelu(string Input, string Output) : HostStep(Output)
{
    /// <inheritdoc />
    public override IReadOnlyList<string> Inputs => [Input];
}

/// <summary>
/// The graph's outputs depend only on each sequence's first token ([CLS] / &lt;s&gt;, what a classification head pools)
/// from host step <see cref="Step"/> (the last attention) on. That step may compute only its first query row, and
/// <see cref="Inputs"/>, the per-token tensors [batch, seq, …] computed before it that later segments read (the
/// residual), may be cut to their first row: the rest of the last layer then runs on one token per sequence
/// instead of all of them. Proved from the graph (only position-wise operators before a Gather/Slice of token 0),
/// never assumed.
/// </summary>
public sealed record FirstTokenTail(int Step, IReadOnlyList<string> Inputs);

/// <summary>A self-contained ONNX model holding the nodes between two attention cores.</summary>
/// <param name="Model">Serialized ModelProto.</param>
/// <param name="Inputs">Tensors it reads: graph inputs, earlier segments' outputs or attention outputs.</param>
/// <param name="Outputs">Tensors it produces that later steps (or the caller) read.</param>
public sealed record GraphSegment(byte[] Model, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs);

/// <summary>
/// A transformer graph cut at its attention cores (and optionally its GELUs): run <c>Segments[0]</c>, <c>Steps[0]</c>,
/// <c>Segments[1]</c>, …, <c>Segments[^1]</c>, passing tensors by name. The masks of all attention cores come from
/// <see cref="MaskInput"/> (1 = real token, 0 = padding); masked keys get zero weight, exactly as the additive −∞/−10000 mask gives.
/// </summary>
/// <param name="FirstTokenTail">Set when the outputs read only each sequence's first token after the last attention (see <see cref="GraphOptimizer.FirstTokenTail"/>).</param>
/// <param name="FirstTokenTailWhy">Why not, when <paramref name="FirstTokenTail"/> is null.</param>
public sealed record SplitGraph(
    IReadOnlyList<GraphSegment> Segments, IReadOnlyList<HostStep> Steps, string MaskInput,
    IReadOnlyList<string> GraphInputs, IReadOnlyList<string> GraphOutputs,
    FirstTokenTail? FirstTokenTail = null, string FirstTokenTailWhy = "")
{
    /// <summary>The attention steps, in order.</summary>
    public IReadOnlyList<HostAttention> Attentions => [.. Steps.OfType<HostAttention>()];
}

public static partial class OnnxGraphOptimizer
{
    /// <summary>
    /// Cuts a BERT-style encoder at each self-attention core (the same pattern <see cref="FuseAttention(string, string, AttentionFusionOptions?)"/>
    /// matches: Q/K/V reshape/transpose → QKᵀ → scale → mask → softmax → ·V → transpose/reshape), so the host can compute
    /// attention with its own kernel while ONNX Runtime keeps everything else (the projections, quantized GEMMs,
    /// LayerNorm, GELU). Returns null, with the reason, when the graph does not have that shape: nothing is guessed.
    /// </summary>
    /// <param name="modelBytes">The ONNX model.</param>
    /// <param name="maskInput">The graph input holding the padding mask.</param>
    /// <param name="why">Why the graph could not be cut (empty on success).</param>
    /// <param name="gelu">Also cut at each exact GELU so the host computes it (fused with nothing, but cheaper than ONNX Runtime's CPU Gelu here).</param>
    public static SplitGraph? SplitAtAttention(ReadOnlySpan<byte> modelBytes, string maskInput, out string why, bool gelu = false) =>
        Split(ModelProto.Parser.ParseFrom(modelBytes), maskInput, out why, gelu, null);

    /// <summary>
    /// File-to-files variant: reads <paramref name="onnxPath"/> as a stream and writes segment i to
    /// <c><paramref name="segmentPath"/>(i)</c> as soon as it is cut, so a large model is held in memory once (the
    /// returned segments' <see cref="GraphSegment.Model"/> are empty).
    /// </summary>
    public static SplitGraph? SplitAtAttention(string onnxPath, Func<int, string> segmentPath, string maskInput, out string why, bool gelu = false)
    {
        ArgumentNullException.ThrowIfNull(segmentPath);
        return Split(OnnxModelIO.Load(onnxPath), maskInput, out why, gelu, (i, m) =>
        {
            using var fs = File.Create(segmentPath(i));
            m.WriteTo(fs);
        });
    }

    private static SplitGraph? Split(ModelProto model, string maskInput, out string why, bool gelu, Action<int, ModelProto>? write)
    {
        var g = model.Graph;
        why = "";
        if (g is null) { why = "model has no graph"; return null; }
        if (g.Initializer.Any(t => t.DataLocation == TensorProto.Types.DataLocation.External)) { why = "external-data models are not supported"; return null; }
        var initNames = new HashSet<string>(g.Initializer.Select(t => t.Name), StringComparer.Ordinal);
        var graphInputs = g.Input.Select(i => i.Name).Where(n => !initNames.Contains(n)).ToList();
        if (!graphInputs.Contains(maskInput)) { why = $"no graph input named {maskInput}"; return null; }

        // Constant nodes become initializers, so every segment that reads one gets it as a constant (ONNX Runtime's
        // fusions, e.g. GELU from Erf, only match constant operands) rather than as an input from an earlier segment.
        foreach (var c in g.Node.Where(n => n.OpType == "Constant" && n.Domain.Length == 0 && n.Output.Count == 1).ToList())
        {
            if (c.Attribute.FirstOrDefault(a => a.Name == "value")?.T is not { } value) continue;
            var init = value.Clone();
            init.Name = c.Output[0];
            g.Initializer.Add(init);
            initNames.Add(init.Name);
            g.Node.Remove(c);
        }

        var ctx = new GraphIndex(g);
        var matches = new List<Match>();
        foreach (var softmax in g.Node.Where(n => n.OpType == "Softmax" && n.Domain.Length == 0).ToList())
        {
            var m = TryMatch(ctx, softmax, new AttentionFusionOptions { FoldProjectionBias = false }, out var reason);
            if (m is null) { why = $"{softmax.Name}: {reason}"; return null; }
            if (m.Mask is null) { why = $"{softmax.Name}: attention has no padding mask"; return null; }
            var maskSources = GraphInputAncestors(ctx, m.Mask, initNames);
            if (maskSources.Count != 1 || !maskSources.Contains(maskInput))
            {
                why = $"{softmax.Name}: its mask is not computed from {maskInput} alone";
                return null;
            }
            matches.Add(m);
        }
        if (matches.Count == 0) { why = "no self-attention block found"; return null; }
        var gelus = new List<GeluMatch>();
        if (gelu)
        {
            foreach (var erf in g.Node.Where(n => n.OpType == "Erf" && n.Domain.Length == 0).ToList())
            {
                if (TryMatchGelu(ctx, erf) is { } gm) gelus.Add(gm);
            }
        }

        // The node list with each attention core (and GELU) replaced by a placeholder at the position of its last node.
        var removed = new HashSet<NodeProto>(matches.SelectMany(m => m.Nodes).Concat(gelus.SelectMany(m => m.Nodes)), ReferenceEqualityComparer.Instance);
        var placeholderOf = new Dictionary<NodeProto, int>(ReferenceEqualityComparer.Instance);
        var order = new List<NodeProto>();
        var steps = new List<HostStep>();
        var lastToStep = new Dictionary<NodeProto, HostStep>(ReferenceEqualityComparer.Instance);
        foreach (var m in matches) lastToStep[m.Last] = new HostAttention(m.Query, m.Key, m.Value, m.Output, (int)m.NumHeads, (int)m.HeadSize, m.Scale);
        foreach (var m in gelus) lastToStep[m.Nodes[^1]] = new HostGelu(m.Input, m.Output);
        foreach (var n in g.Node)
        {
            if (lastToStep.TryGetValue(n, out var step))
            {
                var p = new NodeProto { OpType = step is HostAttention ? "HostAttention" : "HostGelu", Domain = "sift" };
                p.Input.AddRange(step.Inputs);
                p.Output.Add(step.Output);
                placeholderOf[p] = steps.Count;
                steps.Add(step);
                order.Add(p);
            }
            else if (!removed.Contains(n))
            {
                order.Add(n);
            }
        }
        order = EliminateDeadNodes(g, order);
        if (placeholderOf.Keys.Any(p => !order.Contains(p, ReferenceEqualityComparer.Instance))) { why = "an attention or GELU output is unused"; return null; }

        // Segment of every tensor: 0 for graph inputs, k+1 after attention k, else the latest segment among a node's inputs.
        // Nodes computed from initializers alone (Identity of a weight, constant shapes) float: each segment that reads
        // one gets its own copy, so ONNX Runtime still sees constants there and folds/fuses them (e.g. a bias into the
        // quantized MatMul) instead of receiving them as segment inputs.
        var segmentOf = new Dictionary<string, int>(StringComparer.Ordinal);
        var floatingProducer = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        var nodesBySegment = Enumerable.Range(0, steps.Count + 1).Select(_ => new List<NodeProto>()).ToList();
        foreach (var n in order)
        {
            if (!placeholderOf.ContainsKey(n) && n.Input.All(i => i.Length == 0 || initNames.Contains(i) || floatingProducer.ContainsKey(i)))
            {
                foreach (var o in n.Output) if (o.Length > 0) floatingProducer[o] = n;
                continue;
            }
            int seg = 0;
            foreach (var i in n.Input)
            {
                if (i.Length > 0 && segmentOf.TryGetValue(i, out var s)) seg = Math.Max(seg, s);
            }
            if (placeholderOf.TryGetValue(n, out var a))
            {
                if (seg > a) { why = $"host step {a} reads a tensor computed after step {a - 1}"; return null; }
                segmentOf[n.Output[0]] = a + 1;
                continue;
            }
            foreach (var o in n.Output) if (o.Length > 0) segmentOf[o] = seg;
            nodesBySegment[seg].Add(n);
        }
        var position = new Dictionary<NodeProto, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < order.Count; i++) position[order[i]] = i;
        for (int s = 0; s < nodesBySegment.Count; s++)
        {
            var copies = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
            var pending = new Stack<string>(nodesBySegment[s].SelectMany(n => n.Input));
            while (pending.Count > 0)
            {
                if (floatingProducer.TryGetValue(pending.Pop(), out var f) && copies.Add(f))
                    foreach (var i in f.Input) pending.Push(i);
            }
            if (copies.Count > 0)
                nodesBySegment[s] = [.. nodesBySegment[s].Concat(copies).OrderBy(n => position[n])];
        }

        // Who reads each tensor: the segment index, or the attention's index as a reader "between" segments.
        var readAfter = new Dictionary<string, int>(StringComparer.Ordinal); // latest reader position, 2k = segment k, 2k+1 = attention k
        void Read(string name, int position)
        {
            if (name.Length == 0) return;
            readAfter[name] = readAfter.TryGetValue(name, out var p) ? Math.Max(p, position) : position;
        }
        for (int s = 0; s < nodesBySegment.Count; s++)
            foreach (var n in nodesBySegment[s]) foreach (var i in n.Input) Read(i, 2 * s);
        for (int a = 0; a < steps.Count; a++)
        {
            foreach (var i in steps[a].Inputs) Read(i, 2 * a + 1);
        }
        var graphOutputs = g.Output.Select(o => o.Name).ToList();
        foreach (var o in graphOutputs) Read(o, int.MaxValue);

        var types = InferElementTypes(g);
        var segments = new List<GraphSegment>();
        for (int s = 0; s < nodesBySegment.Count; s++)
        {
            var nodes = nodesBySegment[s];
            var produced = new HashSet<string>(nodes.SelectMany(n => n.Output).Where(o => o.Length > 0), StringComparer.Ordinal);
            var consumed = new List<string>();
            foreach (var n in nodes) foreach (var i in n.Input) if (i.Length > 0 && !consumed.Contains(i)) consumed.Add(i);
            var inputs = consumed.Where(i => !produced.Contains(i) && !initNames.Contains(i)).ToList();
            var outputs = produced.Where(o => readAfter.TryGetValue(o, out var p) && p > 2 * s).OrderBy(o => o, StringComparer.Ordinal).ToList();
            if (outputs.Count == 0) { why = $"segment {s} produces nothing that is read later"; return null; }

            var sub = new GraphProto { Name = $"{g.Name}_segment{s}" };
            sub.Node.AddRange(nodes);
            var usedInits = new HashSet<string>(consumed, StringComparer.Ordinal);
            sub.Initializer.AddRange(g.Initializer.Where(t => usedInits.Contains(t.Name)));
            foreach (var (names, target) in new[] { (inputs, sub.Input), (outputs, sub.Output) })
            {
                foreach (var name in names)
                {
                    if (!types.TryGetValue(name, out var type)) { why = $"element type of {name} is unknown"; return null; }
                    target.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = type } } });
                }
            }
            var subModel = new ModelProto
            {
                IrVersion = model.IrVersion, ProducerName = "sift-split", ProducerVersion = model.ProducerVersion,
                Domain = model.Domain, ModelVersion = model.ModelVersion, Graph = sub,
            };
            subModel.OpsetImport.AddRange(model.OpsetImport);
            if (write is null)
            {
                segments.Add(new GraphSegment(subModel.ToByteArray(), inputs, outputs));
            }
            else
            {
                write(s, subModel);
                segments.Add(new GraphSegment([], inputs, outputs));
            }
        }
        var tail = AnalyzeFirstTokenTail(g, nodesBySegment, steps, initNames, floatingProducer, graphInputs, graphOutputs, types, out var tailWhy);
        return new SplitGraph(segments, steps, maskInput, graphInputs, graphOutputs, tail, tailWhy);
    }

    /// <summary>Graph inputs (not initializers) whose values <paramref name="name"/> is computed from (shapes alone do not count).</summary>
    private static HashSet<string> GraphInputAncestors(GraphIndex ctx, string name, HashSet<string> initNames)
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>([name]);
        while (stack.Count > 0)
        {
            var t = stack.Pop();
            if (t.Length == 0 || !seen.Add(t) || initNames.Contains(t)) continue;
            var p = ctx.Producer(t);
            if (p is null) { found.Add(t); continue; }
            if (p.OpType is "Shape" or "Size" && p.Domain.Length == 0) continue;
            foreach (var i in p.Input) stack.Push(i);
        }
        return found;
    }

    /// <summary>
    /// Element type of every tensor, propagated forward from inputs and initializers with the type rules of the
    /// operators BERT-family exports use. Tensors whose type cannot be derived are left out.
    /// </summary>
    private static Dictionary<string, int> InferElementTypes(GraphProto g)
    {
        var types = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var i in g.Input) if (i.Type?.TensorType is { } tt) types[i.Name] = tt.ElemType;
        foreach (var v in g.ValueInfo) if (v.Type?.TensorType is { } tt && tt.ElemType != 0) types[v.Name] = tt.ElemType;
        foreach (var o in g.Output) if (o.Type?.TensorType is { } tt && tt.ElemType != 0) types[o.Name] = tt.ElemType;
        foreach (var t in g.Initializer) types[t.Name] = t.DataType;
        const int Float = (int)TensorProto.Types.DataType.Float, Int64 = (int)TensorProto.Types.DataType.Int64;
        const int Int32 = (int)TensorProto.Types.DataType.Int32, Bool = (int)TensorProto.Types.DataType.Bool, Uint8 = (int)TensorProto.Types.DataType.Uint8;
        int? In(NodeProto n, int k) => n.Input.Count > k && types.TryGetValue(n.Input[k], out var t) ? t : null;
        foreach (var n in g.Node)
        {
            int?[] outs = (n.Domain.Length == 0 ? n.OpType : n.Domain + "." + n.OpType) switch
            {
                "Constant" => [n.Attribute.FirstOrDefault(a => a.Name == "value")?.T?.DataType],
                "Cast" => [(int)GetInt(n, "to", 0)],
                "Shape" or "Size" or "NonZero" or "ArgMax" or "ArgMin" => [Int64],
                "Equal" or "Less" or "Greater" or "LessOrEqual" or "GreaterOrEqual" or "Not" or "And" or "Or" or "Xor" or "IsNaN" or "IsInf" => [Bool],
                "MatMulInteger" or "ConvInteger" => [Int32],
                "DynamicQuantizeLinear" => [Uint8, Float, Uint8],
                "DequantizeLinear" => [Float],
                "QuantizeLinear" => [In(n, 2) ?? Uint8],
                "ConstantOfShape" => [n.Attribute.FirstOrDefault(a => a.Name == "value")?.T?.DataType ?? Float],
                "Where" => [In(n, 1)],
                "LayerNormalization" => [In(n, 0), Float, Float],
                "com.microsoft.DynamicQuantizeMatMul" or "com.microsoft.MatMulIntegerToFloat" => [Float],
                _ => Enumerable.Repeat(In(n, 0), n.Output.Count).ToArray(),
            };
            for (int k = 0; k < n.Output.Count && k < outs.Length; k++)
            {
                if (n.Output[k].Length > 0 && outs[k] is int t && t != 0) types.TryAdd(n.Output[k], t);
            }
        }
        return types;
    }
}
