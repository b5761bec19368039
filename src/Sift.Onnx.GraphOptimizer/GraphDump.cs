using System.Text;
using Google.Protobuf;
using Sift.Onnx.GraphOptimizer.Proto;

namespace Sift.Onnx.GraphOptimizer;

/// <summary>Human-readable dumps of an ONNX graph, for understanding what a fusion pass must match.</summary>
public static class GraphDump
{
    /// <summary>
    /// Lists the nodes whose name or outputs contain <paramref name="filter"/> (all nodes when null):
    /// op type, domain, inputs (with initializer shapes), outputs and attributes.
    /// </summary>
    public static string Dump(string onnxPath, string? filter = null, int maxNodes = 400)
    {
        var model = OnnxModelIO.Load(onnxPath);
        var g = model.Graph;
        var inits = g.Initializer.ToDictionary(t => t.Name, t => t);
        var sb = new StringBuilder();
        sb.Append("ir_version=").Append(model.IrVersion).Append(" producer=").Append(model.ProducerName).Append(' ').AppendLine(model.ProducerVersion);
        foreach (var o in model.OpsetImport) sb.Append("opset ").Append(o.Domain.Length == 0 ? "ai.onnx" : o.Domain).Append(' ').Append(o.Version).AppendLine();
        foreach (var i in g.Input) sb.Append("input ").AppendLine(i.Name);
        foreach (var o in g.Output) sb.Append("output ").AppendLine(o.Name);
        sb.Append("nodes=").Append(g.Node.Count).Append(" initializers=").Append(g.Initializer.Count).AppendLine();
        int n = 0;
        for (int idx = 0; idx < g.Node.Count && n < maxNodes; idx++)
        {
            var node = g.Node[idx];
            if (filter is not null && !node.Name.Contains(filter, StringComparison.Ordinal) && !node.Output.Any(o => o.Contains(filter, StringComparison.Ordinal)))
                continue;
            n++;
            sb.Append('#').Append(idx).Append(' ').Append(node.Domain.Length == 0 ? "" : node.Domain + ".").Append(node.OpType)
              .Append(" [").Append(node.Name).Append("] (");
            sb.Append(string.Join(", ", node.Input.Select(i => inits.TryGetValue(i, out var t) ? $"{i}:init{DescribeTensor(t)}" : i)));
            sb.Append(") -> (").Append(string.Join(", ", node.Output)).Append(')');
            foreach (var a in node.Attribute) sb.Append(' ').Append(a.Name).Append('=').Append(DescribeAttr(a));
            sb.AppendLine();
        }
        return sb.ToString();
    }

    internal static string DescribeTensor(TensorProto t)
    {
        var s = $"[{string.Join('x', t.Dims)}]{(TensorProto.Types.DataType)t.DataType}";
        long count = t.Dims.Aggregate(1L, (a, b) => a * b);
        if (count <= 8)
        {
            try { s += "{" + string.Join(',', TensorData.ReadAsDoubles(t).Select(v => v.ToString("G6", System.Globalization.CultureInfo.InvariantCulture))) + "}"; }
            catch (NotSupportedException) { }
        }
        return s;
    }

    private static string DescribeAttr(AttributeProto a) => a.Type switch
    {
        AttributeProto.Types.AttributeType.Int => a.I.ToString(System.Globalization.CultureInfo.InvariantCulture),
        AttributeProto.Types.AttributeType.Float => a.F.ToString("G6", System.Globalization.CultureInfo.InvariantCulture),
        AttributeProto.Types.AttributeType.Ints => "[" + string.Join(',', a.Ints) + "]",
        AttributeProto.Types.AttributeType.String => a.S.ToStringUtf8(),
        AttributeProto.Types.AttributeType.Tensor => "tensor" + DescribeTensor(a.T),
        _ => a.Type.ToString(),
    };
}
