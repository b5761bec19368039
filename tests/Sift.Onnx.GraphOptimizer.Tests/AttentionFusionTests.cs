using System.Text.Json;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Sift.Onnx.GraphOptimizer;
using Sift.Testing;
using Sift.Tokenizers;

namespace Sift.Onnx.GraphOptimizer.Tests;

public sealed class AttentionFusionTests : IDisposable
{
    private static readonly string ModelDir = TestPaths.Fixture("ce-minilm-l6-arch");
    private readonly string _tmp = Path.Combine(Path.GetTempPath(), "sift-fuse-" + Guid.NewGuid().ToString("N"));

    public AttentionFusionTests() => Directory.CreateDirectory(_tmp);

    public void Dispose()
    {
        try { Directory.Delete(_tmp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [Theory]
    [InlineData("model.onnx", 1e-4)]
    [InlineData("model_quantized.onnx", 2e-3)]
    public void FusedModelMatchesOriginalOnReferencePairs(string file, double tolerance)
    {
        string original = Path.Combine(ModelDir, "onnx", file);
        string fused = Path.Combine(_tmp, file);

        var report = OnnxGraphOptimizer.FuseAttention(original, fused);

        Assert.Equal(6, report.LayersFused);
        Assert.Equal(12, report.NumHeads);
        Assert.Equal(32, report.HeadSize);
        Assert.True(report.BiasesFolded);
        Assert.True(File.Exists(fused));

        var tok = HfTokenizer.FromDirectory(ModelDir);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixtures, "references.json")));
        var encodings = doc.RootElement.GetProperty("pairs").EnumerateArray()
            .Select(p => tok.EncodePair(p[0].GetString()!, p[1].GetString()!, 512)).ToList();
        Assert.NotEmpty(encodings);

        using var a = Scoring.Open(original);
        using var b = Scoring.Open(fused);
        var la = Scoring.ScoreAll(a, encodings);
        var lb = Scoring.ScoreAll(b, encodings);
        double max = la.Zip(lb, (x, y) => Math.Abs((double)x - y)).Max();
        Assert.True(max <= tolerance, $"max |Δlogit| = {max} > {tolerance}");
    }

    [Fact]
    public void UnmatchedGraphIsLeftUnchanged()
    {
        // x -> MatMul(W) -> Softmax -> Relu -> y: has a Softmax but no attention block.
        var g = new Proto.GraphProto { Name = "g" };
        g.Input.Add(new Proto.ValueInfoProto { Name = "x", Type = FloatType(2, 4) });
        g.Output.Add(new Proto.ValueInfoProto { Name = "y", Type = FloatType(2, 4) });
        g.Initializer.Add(TensorData.FromFloats("W", new float[16], 4, 4));
        g.Node.Add(Node("MatMul", ["x", "W"], ["m"]));
        g.Node.Add(Node("Softmax", ["m"], ["s"]));
        g.Node.Add(Node("Relu", ["s"], ["y"]));
        var model = new Proto.ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new Proto.OperatorSetIdProto { Domain = "", Version = 17 });
        string input = Path.Combine(_tmp, "tiny.onnx");
        string output = Path.Combine(_tmp, "tiny.fused.onnx");
        File.WriteAllBytes(input, model.ToByteArray());

        var report = OnnxGraphOptimizer.FuseAttention(input, output);

        Assert.Equal(0, report.LayersFused);
        Assert.False(report.Changed);
        Assert.False(File.Exists(output));
        Assert.Single(report.Notes);
        using var s = new InferenceSession(input); // the input is still a valid model
        Assert.Single(s.OutputMetadata);
    }

    [Fact]
    public void InMemoryOverloadReturnsNullWhenNothingMatches()
    {
        var model = new Proto.ModelProto { IrVersion = 8, Graph = new Proto.GraphProto { Name = "empty" } };
        var (bytes, report) = OnnxGraphOptimizer.FuseAttention(model.ToByteArray());
        Assert.Null(bytes);
        Assert.Equal(0, report.LayersFused);
    }

    private static Proto.NodeProto Node(string op, string[] inputs, string[] outputs)
    {
        var n = new Proto.NodeProto { OpType = op, Name = op + "_0" };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }

    private static Proto.TypeProto FloatType(params long[] dims)
    {
        var shape = new Proto.TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new Proto.TensorShapeProto.Types.Dimension { DimValue = d });
        return new Proto.TypeProto { TensorType = new Proto.TypeProto.Types.Tensor { ElemType = 1, Shape = shape } };
    }
}

/// <summary>Batched scoring (length-sorted batches of 8) shared by the fusion tests.</summary>
internal static class Scoring
{
    public static InferenceSession Open(string path)
    {
        using var o = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = 2, InterOpNumThreads = 1 };
        return new InferenceSession(path, o);
    }

    public static float[] ScoreAll(InferenceSession s, List<EncodedText> encodings)
    {
        var order = Enumerable.Range(0, encodings.Count).OrderBy(i => encodings[i].Length).ToArray();
        var result = new float[encodings.Count];
        for (int k = 0; k < order.Length; k += 8)
        {
            var idx = order.Skip(k).Take(8).ToArray();
            int len = idx.Max(i => encodings[i].Length);
            var ids = new long[idx.Length * len];
            var mask = new long[idx.Length * len];
            var types = new long[idx.Length * len];
            for (int r = 0; r < idx.Length; r++)
            {
                var e = encodings[idx[r]];
                for (int j = 0; j < e.Length; j++)
                {
                    ids[r * len + j] = e.InputIds[j];
                    mask[r * len + j] = 1;
                    types[r * len + j] = e.TypeIds[j];
                }
            }
            long[] shape = [idx.Length, len];
            using var v1 = OrtValue.CreateTensorValueFromMemory(ids, shape);
            using var v2 = OrtValue.CreateTensorValueFromMemory(mask, shape);
            using var v3 = OrtValue.CreateTensorValueFromMemory(types, shape);
            using var ro = new RunOptions();
            using var outs = s.Run(ro, ["input_ids", "attention_mask", "token_type_ids"], [v1, v2, v3], ["logits"]);
            var logits = outs[0].GetTensorDataAsSpan<float>();
            for (int r = 0; r < idx.Length; r++) result[idx[r]] = logits[r];
        }
        return result;
    }
}
