using Sift.Onnx.GraphOptimizer.Proto;

namespace Sift.Onnx.GraphOptimizer;

/// <summary>Producer/consumer lookups and constant folding of small shape tensors over one graph.</summary>
internal sealed class GraphIndex
{
    private readonly Dictionary<string, NodeProto> _producer = new();
    private readonly Dictionary<string, List<NodeProto>> _consumers = new();
    private readonly Dictionary<string, TensorProto> _inits = new();
    private readonly HashSet<string> _names = new();
    private readonly HashSet<string> _graphOutputs;

    public GraphIndex(GraphProto g)
    {
        foreach (var t in g.Initializer) { _inits[t.Name] = t; _names.Add(t.Name); }
        foreach (var i in g.Input) _names.Add(i.Name);
        foreach (var n in g.Node)
        {
            if (n.Name.Length > 0) _names.Add(n.Name);
            foreach (var o in n.Output) { if (o.Length > 0) { _producer[o] = n; _names.Add(o); } }
            foreach (var i in n.Input)
            {
                if (i.Length == 0) continue;
                if (!_consumers.TryGetValue(i, out var l)) _consumers[i] = l = new List<NodeProto>();
                l.Add(n);
            }
        }
        _graphOutputs = new HashSet<string>(g.Output.Select(o => o.Name));
    }

    public bool NameExists(string name) => _names.Contains(name);
    public void Reserve(string name) => _names.Add(name);

    public NodeProto? Producer(string name) => _producer.GetValueOrDefault(name);

    public bool SingleConsumer(string name) =>
        !_graphOutputs.Contains(name) && _consumers.TryGetValue(name, out var l) && l.Count == 1;

    /// <summary>Number of consuming nodes (graph outputs count as one more).</summary>
    public int ConsumerCount(string name) =>
        (_consumers.TryGetValue(name, out var l) ? l.Count : 0) + (_graphOutputs.Contains(name) ? 1 : 0);

    public NodeProto? OnlyConsumer(string name) => SingleConsumer(name) ? _consumers[name][0] : null;

    /// <summary>The nodes reading <paramref name="name"/> (empty when none).</summary>
    public IReadOnlyList<NodeProto> Consumers(string name) => _consumers.TryGetValue(name, out var l) ? l : [];

    public bool IsGraphOutput(string name) => _graphOutputs.Contains(name);

    /// <summary>Initializer behind <paramref name="name"/>, looking through Identity and Constant nodes.</summary>
    public TensorProto? Constant(string name)
    {
        for (int depth = 0; depth < 4; depth++)
        {
            if (_inits.TryGetValue(name, out var t)) return t;
            var p = Producer(name);
            if (p is null) return null;
            if (p.OpType == "Constant" && p.Domain.Length == 0)
                return p.Attribute.FirstOrDefault(a => a.Name == "value")?.T;
            if (p.OpType == "Identity" && p.Domain.Length == 0) { name = p.Input[0]; continue; }
            return null;
        }
        return null;
    }

    public double? ConstScalar(string name)
    {
        var t = Constant(name);
        if (t is null || t.Dims.Aggregate(1L, (a, b) => a * b) != 1) return null;
        try { return TensorData.ReadAsDoubles(t)[0]; } catch (NotSupportedException) { return null; }
    }

    /// <summary>
    /// Values of a 1-D int64 shape tensor: a constant, or a Concat of pieces each of which is a constant
    /// (known) or a runtime scalar (null, e.g. batch/sequence). Returns null when the length is unknown.
    /// </summary>
    public long?[]? ShapeValues(string name)
    {
        var c = Constant(name);
        if (c is not null)
        {
            if (c.Dims.Count != 1) return null;
            try { return TensorData.ReadAsDoubles(c).Select(v => (long?)(long)v).ToArray(); } catch (NotSupportedException) { return null; }
        }
        var p = Producer(name);
        if (p is not { OpType: "Concat" }) return null;
        var list = new List<long?>();
        foreach (var i in p.Input)
        {
            var ic = Constant(i);
            if (ic is not null)
            {
                if (ic.Dims.Count > 1) return null;
                try { list.AddRange(TensorData.ReadAsDoubles(ic).Select(v => (long?)(long)v)); } catch (NotSupportedException) { return null; }
                continue;
            }
            // A runtime piece: accept Unsqueeze of a scalar (one element).
            var ip = Producer(i);
            if (ip is { OpType: "Unsqueeze" }) { list.Add(null); continue; }
            return null;
        }
        return list.ToArray();
    }

    public int ShapeLength(string name) => ShapeValues(name)?.Length ?? -1;

    /// <summary>Last-dimension size of a projection output, read from the weights/bias feeding it.</summary>
    public long InferHiddenSize(string name)
    {
        for (int depth = 0; depth < 6; depth++)
        {
            var p = Producer(name);
            if (p is null) return -1;
            switch (p.OpType)
            {
                case "Add":
                {
                    foreach (var i in p.Input)
                    {
                        var c = Constant(i);
                        if (c is { Dims.Count: 1 }) return c.Dims[0];
                    }
                    var other = p.Input.FirstOrDefault(i => Constant(i) is null);
                    if (other is null) return -1;
                    name = other;
                    continue;
                }
                case "MatMul" or "MatMulInteger":
                {
                    var w = Constant(p.Input[1]);
                    return w is { Dims.Count: 2 } ? w.Dims[1] : -1;
                }
                case "MatMulIntegerToFloat" or "DynamicQuantizeMatMul" or "FusedMatMul" or "Gemm":
                {
                    var w = Constant(p.Input[1]);
                    return w is { Dims.Count: 2 } ? w.Dims[1] : -1;
                }
                case "Mul" or "Cast":
                {
                    var other = p.Input.FirstOrDefault(i => Constant(i) is null && Producer(i) is not null);
                    if (other is null) return -1;
                    name = other;
                    continue;
                }
                default:
                    return -1;
            }
        }
        return -1;
    }

    /// <summary>If <paramref name="name"/> = Add(x, bias[hidden]) with a single consumer, returns (x, bias, node).</summary>
    public (string Input, float[] Bias, NodeProto Node)? SplitBiasAdd(string name, long hidden)
    {
        var p = Producer(name);
        if (p is not { OpType: "Add", Domain: "" } || p.Input.Count != 2 || !SingleConsumer(name)) return null;
        for (int j = 0; j < 2; j++)
        {
            var c = Constant(p.Input[j]);
            if (c is null || c.Dims.Count != 1 || c.Dims[0] != hidden || c.DataType != (int)TensorProto.Types.DataType.Float) continue;
            if (Constant(p.Input[1 - j]) is not null) return null;
            try { return (p.Input[1 - j], TensorData.ReadFloats(c), p); } catch (NotSupportedException) { return null; }
        }
        return null;
    }
}
