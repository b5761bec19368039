using Sift.Testing;

namespace Sift.Onnx.Tests;

public class RerankApiTests : IClassFixture<RerankApiTests.Model>
{
    public sealed class Model : IDisposable
    {
        public CrossEncoder Encoder { get; } = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"));
        public void Dispose() => Encoder.Dispose();
    }

    private readonly CrossEncoder _ce;

    public RerankApiTests(Model model) => _ce = model.Encoder;

    private static readonly Document[] Docs =
    [
        new("BM25 is a bag-of-words ranking function.", id: "a"),
        new("Cross-encoders read the query and passage jointly.", id: "b", metadata: new Dictionary<string, object?> { ["source"] = "wiki", ["year"] = 2024 }),
        new("Paris is the capital of France.", id: "c"),
    ];

    [Fact]
    public void EmptyDocumentListGivesEmptyResult() => Assert.Empty(_ce.Rerank("q", []));

    [Fact]
    public void NullQueryIsAnArgumentError() => Assert.Throws<ArgumentException>(() => _ce.Rerank(null!, Docs));

    [Fact]
    public void NullDocumentNamesItsIndex()
    {
        var ex = Assert.Throws<ArgumentException>(() => _ce.Rerank("q", [Docs[0], null!, Docs[2]]));
        Assert.Contains("Document 1", ex.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void NonPositiveTopKIsRejected(int k) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => _ce.Rerank("q", Docs, new RerankOptions { TopK = k }));

    [Theory]
    [InlineData(1.5f)]
    [InlineData(-0.1f)]
    [InlineData(float.NaN)]
    public void ThresholdOutsideSigmoidRangeIsRejected(float t)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => _ce.Rerank("q", Docs, new RerankOptions { Threshold = t }));
        Assert.Contains("Threshold", ex.Message);
    }

    [Fact]
    public void RawThresholdMayBeAnyFiniteNumber() =>
        Assert.NotNull(_ce.Rerank("q", Docs, new RerankOptions { Activation = ScoreActivation.Raw, Threshold = -100 }));

    [Fact]
    public void ResultsAreSortedCutAndCarryIdsAndMetadata()
    {
        var all = _ce.Rerank("what reads query and passage jointly?", Docs);
        Assert.Equal(3, all.Count);
        Assert.True(all[0].Score >= all[1].Score && all[1].Score >= all[2].Score);
        var scores = _ce.Score(Docs.Select(d => ("what reads query and passage jointly?", d.Text)).ToArray());
        foreach (var r in all)
        {
            Assert.Same(Docs[r.Index], r.Document);
            Assert.Equal(scores[r.Index], r.Score, 6);
        }
        Assert.Equal("wiki", all.Single(r => r.Document.Id == "b").Document.Metadata!["source"]);

        var top1 = _ce.Rerank("what reads query and passage jointly?", Docs, new RerankOptions { TopK = 1 });
        Assert.Equal(all[0].Index, Assert.Single(top1).Index);

        var threshold = all[1].Score;
        var above = _ce.Rerank("what reads query and passage jointly?", Docs, new RerankOptions { Threshold = threshold });
        Assert.All(above, r => Assert.True(r.Score >= threshold));
        Assert.Equal(all.Count(r => r.Score >= threshold), above.Count);
    }

    [Fact]
    public void TiesKeepInputOrder()
    {
        var same = Enumerable.Range(0, 5).Select(i => new Document("identical passage text", id: i.ToString())).ToArray();
        var ranked = _ce.Rerank("query", same);
        Assert.Equal(new[] { "0", "1", "2", "3", "4" }, ranked.Select(r => r.Document.Id!).ToArray());
    }

    [Fact]
    public void MetaFieldsAndPrefixesAreJoinedIntoTheScoredText()
    {
        var opts = new RerankOptions { MetaFieldsToEmbed = ["source", "missing"], QueryPrefix = "query: ", DocumentPrefix = "passage: " };
        var r = _ce.Rerank("capital", [Docs[1]], opts)[0];
        var expected = _ce.Score("query: capital", "passage: wiki\n" + Docs[1].Text);
        Assert.Equal(expected, r.Score, 6);
    }

    [Fact]
    public void CalibrationFactorIsSigmoidOfScaledLogit()
    {
        var raw = _ce.Rerank("capital of France", Docs, new RerankOptions { Activation = ScoreActivation.Raw });
        var calibrated = _ce.Rerank("capital of France", Docs, new RerankOptions { CalibrationFactor = 0.5f });
        foreach (var c in calibrated)
        {
            var logit = raw.Single(r => r.Index == c.Index).Score;
            Assert.Equal(1 / (1 + Math.Exp(-logit * 0.5)), c.Score, 5);
        }
    }

    [Fact]
    public void SoftmaxOnOneLabelModelIsAClearError()
    {
        var ex = Assert.Throws<SiftException>(() => _ce.Rerank("q", Docs, new RerankOptions { Activation = ScoreActivation.Softmax }));
        Assert.Contains("two or more labels", ex.Message);
    }

    [Fact]
    public async Task AsyncRerankHonoursCancellation()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _ce.RerankAsync("q", Docs, cancellationToken: cts.Token));
        var ok = await _ce.RerankAsync("q", Docs);
        Assert.Equal(3, ok.Count);
    }

    [Fact]
    public async Task ConcurrentCallsGiveTheSameScoresAsSequentialOnes()
    {
        var pairs = References.Pairs.Take(20).ToArray();
        var expected = _ce.Score(pairs);
        var tasks = Enumerable.Range(0, 8).Select(_ => _ce.ScoreAsync(pairs)).ToArray();
        foreach (var got in await Task.WhenAll(tasks))
        {
            Assert.Equal(expected, got);
        }
    }

    [Fact]
    public void HardInputsNeverThrow()
    {
        string[] hard = ["", " ", "\t\n\r", "\0\u0001\u001f", "\uD800 lone \uDC00", "😀🙏🏽", "日本語のテキスト", new string('x', 1_000_000), string.Join(" ", Enumerable.Repeat("word", 200_000))];
        var docs = hard.Select(h => new Document(h)).ToArray();
        foreach (var q in hard.Take(6))
        {
            var r = _ce.Rerank(q, docs);
            Assert.Equal(hard.Length, r.Count);
            Assert.All(r, x => Assert.True(float.IsFinite(x.Score)));
        }
    }
}
