using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Sift.Onnx.GraphOptimizer.Proto;
using Sift.Testing;

namespace Sift.Onnx.GraphOptimizer.Tests;

public class Float16ConversionTests
{
    private const int F32 = (int)TensorProto.Types.DataType.Float;
    private const int F16 = (int)TensorProto.Types.DataType.Float16;

    [Theory]
    [InlineData("ce-bert-tiny")]
    [InlineData("ce-minilm-l6-arch")]
    [InlineData("bi-bert-tiny")]
    public void KeepsIoNormsSoftmaxAndHeadInFp32AndTheRestInFp16(string fixture)
    {
        var original = OnnxModelIO.Load(Path.Combine(TestPaths.Fixture(fixture), "onnx", "model.onnx"));
        var model = original.Clone();
        var report = OnnxGraphOptimizer.ConvertToFloat16(model, new Float16Options());
        var g = model.Graph;

        // keep_io_types: same names and element types in and out.
        Assert.Equal(original.Graph.Input.Select(i => (i.Name, i.Type.TensorType.ElemType)), g.Input.Select(i => (i.Name, i.Type.TensorType.ElemType)));
        Assert.Equal(original.Graph.Output.Select(o => (o.Name, o.Type.TensorType.ElemType)), g.Output.Select(o => (o.Name, o.Type.TensorType.ElemType)));

        var types = OnnxGraphOptimizer.InferFloat16ElementTypes(g);
        Assert.All(g.Output, o => Assert.Equal(F32, types[o.Name]));
        foreach (var n in g.Node.Where(n => n.OpType is "LayerNormalization" or "Softmax"))
        {
            Assert.Equal(F32, types[n.Input[0]]);
        }
        // The encoder's matrix multiplications read fp16 weights; the classifier head (Gemm) reads fp32.
        var inits = g.Initializer.ToDictionary(t => t.Name);
        var matmulWeights = g.Node.Where(n => n.OpType == "MatMul").SelectMany(n => n.Input).Where(inits.ContainsKey).Select(i => inits[i]).ToList();
        Assert.NotEmpty(matmulWeights);
        Assert.All(matmulWeights, w => Assert.Equal(F16, w.DataType));
        Assert.All(g.Node.Where(n => n.OpType == "Gemm"), n => Assert.Equal(F32, types[n.Input[0]]));
        if (fixture.StartsWith("ce-", StringComparison.Ordinal)) Assert.True(report.HeadNodes >= 3, report.ToString());
        Assert.True(report.NodesFp16 > report.NodesFp32, report.ToString());

        // Most of the bytes are fp16 now, and ONNX Runtime accepts the graph.
        long bytes16 = g.Initializer.Where(t => t.DataType == F16).Sum(t => t.RawData.Length);
        long bytesAll = g.Initializer.Sum(t => (long)t.RawData.Length);
        Assert.True(bytes16 > 0.9 * bytesAll, $"{bytes16} of {bytesAll} initializer bytes are fp16");
        using var session = new InferenceSession(model.ToByteArray());
        Assert.Equal(original.Graph.Output.Select(o => o.Name), session.OutputMetadata.Keys);
    }

    [Fact]
    public void FusableNormsVariantLeavesNormsAndSoftmaxInFp16()
    {
        var model = OnnxModelIO.Load(Path.Combine(TestPaths.Fixture("ce-bert-tiny"), "onnx", "model.onnx"));
        OnnxGraphOptimizer.ConvertToFloat16(model, new Float16Options { BlockedOps = Float16Options.FusableNormsBlockedOps });
        var types = OnnxGraphOptimizer.InferFloat16ElementTypes(model.Graph);
        var norms = model.Graph.Node.Where(n => n.OpType is "LayerNormalization" or "Softmax").ToList();
        Assert.NotEmpty(norms);
        // The head after the last LayerNorm still reads fp32; every other norm and softmax reads fp16.
        Assert.All(norms.SkipLast(1), n => Assert.Equal(F16, types[n.Input[0]]));
        Assert.All(model.Graph.Output, o => Assert.Equal(F32, types[o.Name]));
        using var session = new InferenceSession(model.ToByteArray());
        Assert.Single(session.OutputMetadata);
    }

    [Fact]
    public void HandWrittenLayerNormStaysFp32WithItsEpsilon()
    {
        var model = DecomposedLayerNormModel();
        var converted = model.Clone();
        var report = OnnxGraphOptimizer.ConvertToFloat16(converted, new Float16Options());
        var types = OnnxGraphOptimizer.InferFloat16ElementTypes(converted.Graph);
        var g = converted.Graph;
        Assert.Equal(F16, types[g.Node.Single(n => n.OpType == "MatMul").Output[0]]);
        foreach (var op in new[] { "ReduceMean", "Sub", "Pow", "Sqrt", "Div", "Mul" })
        {
            Assert.All(g.Node.Where(n => n.OpType == op), n => Assert.Equal(F32, types[n.Output[0]]));
        }
        // Epsilon 1e-12 is 0 in fp16: it must stay an fp32 initializer.
        var eps = g.Initializer.Single(t => t.Name == "eps");
        Assert.Equal(F32, eps.DataType);
        Assert.Equal(2, report.CastsInserted); // x → fp16 for the MatMul, MatMul output → fp32 for the norm

        float[] x = Enumerable.Range(0, 2 * 8).Select(i => MathF.Sin(i) * 3).ToArray();
        float[] Run(ModelProto m)
        {
            using var s = new InferenceSession(m.ToByteArray());
            using var r = s.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x, [2, 8]))]);
            return r.First().AsEnumerable<float>().ToArray();
        }
        var expected = Run(model);
        var actual = Run(converted);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-2);
    }

    [Fact]
    public void OutOfRangeValuesClampToTheLargestHalfInsteadOfInfinity()
    {
        long clamped = 0;
        var bytes = OnnxGraphOptimizer.ToFloat16Bytes([-3.4028235e38f, 1e5f, 1.5f, 0f], ref clamped);
        var halves = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(bytes.Span).ToArray();
        Assert.Equal([(Half)(-65504f), (Half)65504f, (Half)1.5f, (Half)0f], halves);
        Assert.Equal(2, clamped);
    }

    [Fact]
    public void RefusesQuantizedModels()
    {
        var int8 = OnnxModelIO.Load(Path.Combine(TestPaths.Fixture("ce-bert-tiny"), "onnx", "model_quantized.onnx"));
        var ex = Assert.Throws<NotSupportedException>(() => OnnxGraphOptimizer.ConvertToFloat16(int8, new Float16Options()));
        Assert.Contains("quantized", ex.Message);
    }

    /// <summary>x[2,8] → MatMul(W) → LayerNorm written out (ReduceMean, Sub, Pow, ReduceMean, Add eps, Sqrt, Div, Mul, Add) → y.</summary>
    private static ModelProto DecomposedLayerNormModel()
    {
        static TensorProto Init(string name, float[] data, params long[] dims)
        {
            var t = new TensorProto { Name = name, DataType = F32, RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan())) };
            t.Dims.AddRange(dims);
            return t;
        }
        static NodeProto Node(string op, string[] inputs, string output, params AttributeProto[] attrs)
        {
            var n = new NodeProto { OpType = op, Name = output + "_node", Output = { output } };
            n.Input.AddRange(inputs);
            n.Attribute.AddRange(attrs);
            return n;
        }
        static ValueInfoProto Value(string name) => new()
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = F32, Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimValue = 2 }, new TensorShapeProto.Types.Dimension { DimValue = 8 } } } } },
        };
        var axes = new AttributeProto { Name = "axes", Type = AttributeProto.Types.AttributeType.Ints, Ints = { -1 } };
        var g = new GraphProto { Name = "ln" };
        g.Input.Add(Value("x"));
        g.Output.Add(Value("y"));
        g.Initializer.Add(Init("w", Enumerable.Range(0, 64).Select(i => MathF.Cos(i) / 2).ToArray(), 8, 8));
        g.Initializer.Add(Init("two", [2f]));
        g.Initializer.Add(Init("eps", [1e-12f]));
        g.Initializer.Add(Init("gamma", Enumerable.Range(0, 8).Select(i => 1 + i / 10f).ToArray(), 8));
        g.Initializer.Add(Init("beta", Enumerable.Range(0, 8).Select(i => i / 20f).ToArray(), 8));
        g.Node.Add(Node("MatMul", ["x", "w"], "h"));
        g.Node.Add(Node("ReduceMean", ["h"], "mean", axes));
        g.Node.Add(Node("Sub", ["h", "mean"], "d"));
        g.Node.Add(Node("Pow", ["d", "two"], "sq"));
        g.Node.Add(Node("ReduceMean", ["sq"], "var", axes.Clone()));
        g.Node.Add(Node("Add", ["var", "eps"], "var_eps"));
        g.Node.Add(Node("Sqrt", ["var_eps"], "std"));
        g.Node.Add(Node("Div", ["d", "std"], "norm"));
        g.Node.Add(Node("Mul", ["norm", "gamma"], "scaled"));
        g.Node.Add(Node("Add", ["scaled", "beta"], "y"));
        var model = new ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model;
    }
}
