using System.Text.Json;
using Sift.Testing;

namespace Sift.Onnx.Tests;

/// <summary>
/// XLM-RoBERTa (SentencePiece Unigram, converted SentencePiece with Precompiled normalizer) and RoBERTa
/// (byte-level BPE) cross-encoders: no token_type_ids input; logits equal sentence-transformers'.
/// </summary>
public class FamilyParityTests
{
    public static TheoryData<string, string> Models => new()
    {
        { "ce-xlmr-tiny", "references-families.json" },
        { "ce-roberta-bpe-tiny", "references-families.json" },
        { "ce-xlmr-spm-tiny", "references-xlmr-spm.json" },
    };

    private static (IReadOnlyList<(string, string)> Pairs, JsonElement Model) Load(string model, string file)
    {
        var root = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixtures, file))).RootElement;
        var pairs = root.GetProperty("pairs").EnumerateArray().Select(p => (p[0].GetString()!, p[1].GetString()!)).ToArray();
        return (pairs, root.GetProperty("models").GetProperty(model));
    }

    private static float[] Column(JsonElement model, string key) =>
        model.GetProperty(key).EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Array ? e[0].GetSingle() : e.GetSingle()).ToArray();

    [Theory]
    [MemberData(nameof(Models))]
    public void RawLogitsMatchSentenceTransformers(string model, string file)
    {
        var (pairs, refs) = Load(model, file);
        using var ce = CrossEncoder.Load(TestPaths.Fixture(model));
        Assert.False(ce.UsesTokenTypeIds);
        var expected = Column(refs, "st_raw_logits");
        var actual = ce.PredictLogits(pairs);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i][0]) <= 1e-4, $"{model} pair {i}: expected {expected[i]}, got {actual[i][0]}");
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Int8LogitsMatchOnnxRuntimeWhenBatchedLikeTheReference(string model, string file)
    {
        var (pairs, refs) = Load(model, file);
        using var ce = CrossEncoder.Load(TestPaths.Fixture(model), new CrossEncoderOptions { Precision = ModelPrecision.Int8, BatchSize = 16, SortByLength = false, HostAttention = false });
        var expected = Column(refs, "ort_int8_logits");
        var actual = ce.PredictLogits(pairs);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i][0]) <= 1e-3, $"{model} pair {i}: expected {expected[i]}, got {actual[i][0]}");
        }
    }

    [Fact]
    public void RobertaStyleMaxLengthReservesPaddingPositions()
    {
        using var ce = CrossEncoder.Load(TestPaths.Fixture("ce-roberta-bpe-tiny"));
        Assert.True(ce.MaxLength <= 512);
    }
}
