using Sift.Testing;

namespace Sift.Onnx.Tests;

/// <summary>Scores equal sentence-transformers' CrossEncoder outputs recorded in references.json.</summary>
public class CrossEncoderParityTests
{
    public static TheoryData<string> Fp32Models => new() { "ce-bert-tiny", "ce-bert-tiny-2label", "ce-minilm-l6-arch" };

    [Theory]
    [MemberData(nameof(Fp32Models))]
    public void RawLogitsMatchSentenceTransformers(string name)
    {
        using var ce = CrossEncoder.Load(TestPaths.Fixture(name));
        var expected = References.Logits(name, "st_raw_logits");
        var pairs = References.Pairs.Take(expected.Length).ToArray(); // ce-minilm-l6-arch: first 40 pairs
        var actual = ce.PredictLogits(pairs);
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Length, actual[i].Length);
            for (var j = 0; j < expected[i].Length; j++)
            {
                Assert.True(Math.Abs(expected[i][j] - actual[i][j]) <= 1e-4,
                    $"{name} pair {i} label {j}: expected {expected[i][j]}, got {actual[i][j]}");
            }
        }
    }

    [Theory]
    [InlineData("ce-bert-tiny")]
    [InlineData("ce-bert-tiny-2label")]
    public void Int8LogitsMatchOnnxRuntimeWhenBatchedLikeTheReference(string name)
    {
        // The reference ran batches of 16 in input order; dynamic quantization scales depend on the whole batch.
        using var ce = CrossEncoder.Load(TestPaths.Fixture(name), new CrossEncoderOptions { Precision = ModelPrecision.Int8, BatchSize = 16, SortByLength = false, HostAttention = false });
        var expected = References.Logits(name, "ort_int8_logits");
        var actual = ce.PredictLogits(References.Pairs);
        for (var i = 0; i < expected.Length; i++)
        {
            for (var j = 0; j < expected[i].Length; j++)
            {
                Assert.True(Math.Abs(expected[i][j] - actual[i][j]) <= 1e-3, $"{name} pair {i}: expected {expected[i][j]}, got {actual[i][j]}");
            }
        }
    }

    [Fact]
    public void DefaultScoresAreSigmoidForOneLabel()
    {
        using var ce = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"));
        Assert.Equal(ScoreActivation.Sigmoid, ce.Activation);
        var expected = References.Scores("ce-bert-tiny", "st_default_scores");
        var actual = ce.Score(References.Pairs);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4, $"pair {i}: expected {expected[i]}, got {actual[i]}");
        }
    }

    [Fact]
    public void TwoLabelModelScoresBySoftmaxOfLastClass()
    {
        using var ce = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny-2label"));
        Assert.Equal(2, ce.NumLabels);
        var logits = References.Logits("ce-bert-tiny-2label", "st_raw_logits");
        var scores = ce.Score(References.Pairs);
        for (var i = 0; i < logits.Length; i++)
        {
            var (a, b) = (logits[i][0], logits[i][1]);
            var softmaxLast = 1 / (1 + Math.Exp(a - b));
            Assert.True(Math.Abs(softmaxLast - scores[i]) <= 1e-4, $"pair {i}: expected {softmaxLast}, got {scores[i]}");
        }
        // Raw activation exposes the positive-class logit.
        var raw = ce.Score(References.Pairs, ScoreActivation.Raw);
        Assert.True(Math.Abs(raw[0] - logits[0][1]) <= 1e-4);
    }

    [Fact]
    public void MaxLength48MatchesOnnxRuntimeReference()
    {
        using var ce = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), new CrossEncoderOptions { MaxLength = 48 });
        Assert.Equal(48, ce.MaxLength);
        var expected = References.Logits("ce-bert-tiny", "ort_fp32_logits_max48");
        var actual = ce.PredictLogits(References.Pairs);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i][0] - actual[i][0]) <= 1e-4, $"pair {i}: expected {expected[i][0]}, got {actual[i][0]}");
        }
    }

    [Fact]
    public void RerankOrderEqualsSortingReferenceLogitsPerQuery()
    {
        using var ce = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"));
        var pairs = References.Pairs;
        var logits = References.Scores("ce-bert-tiny", "st_raw_logits");
        var groups = Enumerable.Range(0, pairs.Count).GroupBy(i => pairs[i].Query).Where(g => g.Count() > 1).ToArray();
        Assert.NotEmpty(groups);
        foreach (var g in groups)
        {
            var idx = g.ToArray();
            var docs = idx.Select(i => new Document(pairs[i].Document, id: i.ToString())).ToArray();
            var ranked = ce.Rerank(g.Key, docs, new RerankOptions { Activation = ScoreActivation.Raw });
            var expectedOrder = idx.OrderByDescending(i => logits[i]).Select(i => i.ToString()).ToArray();
            Assert.Equal(expectedOrder, ranked.Select(r => r.Document.Id).ToArray());
        }
    }

    [Fact]
    public void Fp32LogitDoesNotDependOnItsBatch()
    {
        using var ce = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), new CrossEncoderOptions { BatchSize = 100 });
        var pairs = References.Pairs;
        var target = pairs[3];
        var alone = ce.PredictLogits([target])[0][0];
        var crowd = Enumerable.Range(0, 99).Select(i => pairs[(i * 7) % pairs.Count]).Prepend(target).ToArray();
        var among = ce.PredictLogits(crowd)[0][0];
        Assert.True(Math.Abs(alone - among) <= 1e-5, $"alone {alone} vs among 99 others {among}");
    }
}
