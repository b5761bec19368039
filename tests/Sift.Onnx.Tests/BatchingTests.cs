using Sift.Testing;

namespace Sift.Onnx.Tests;

/// <summary>GPU-oriented batching that runs the same on a CPU: the token-budget planner and the IO-binding path.</summary>
public class BatchingTests
{
    [Fact]
    public void TokenBudgetKeepsEveryBatchUnderBudgetAndPairCap()
    {
        var lengths = new[] { 3, 5, 5, 8, 10, 10, 12, 40, 41, 200 };
        var batches = TokenBudget.Plan(lengths, maxTokens: 40, maxPairs: 3);
        // Consecutive, covering, non-empty.
        Assert.Equal(0, batches[0].Start);
        Assert.Equal(lengths.Length, batches[^1].End);
        for (var i = 1; i < batches.Count; i++) Assert.Equal(batches[i - 1].End, batches[i].Start);
        foreach (var (start, end) in batches)
        {
            var count = end - start;
            Assert.InRange(count, 1, 3);
            // Over budget only as a batch of one (a single pair longer than the budget).
            Assert.True(count == 1 || count * lengths[end - 1] <= 40, $"[{start}, {end}) pads to {count * lengths[end - 1]}");
        }
        Assert.Equal([(0, 3), (3, 6), (6, 7), (7, 8), (8, 9), (9, 10)], batches);
    }

    [Fact]
    public void TokenBudgetPacksShortSequencesDensely()
    {
        var lengths = Enumerable.Repeat(16, 100).Concat(Enumerable.Repeat(128, 100)).ToArray();
        var batches = TokenBudget.Plan(lengths, maxTokens: 2048, maxPairs: 256);
        // 2048 / 16 = 128 short ones fit a batch; 2048 / 128 = 16 long ones do.
        Assert.Equal((0, 100), batches[0]);
        Assert.All(batches.Skip(1), b => Assert.True(b.End - b.Start <= 16));
        Assert.Equal(1 + 7, batches.Count); // 100 short in one batch; 100 long in ceil(100 / 16) = 7
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenBudget.Plan(lengths, 0, 8));
    }

    [Fact]
    public void TokenBudgetBatchesScoreLikeFixedBatches()
    {
        var pairs = References.Pairs;
        using var fixedBatches = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), new CrossEncoderOptions { HostAttention = false });
        using var budgeted = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), new CrossEncoderOptions { HostAttention = false, MaxBatchTokens = 600, BatchSize = 64 });
        var stats = new ScoringStats();
        var docs = pairs.Select(p => new Document(p.Document)).ToArray();
        budgeted.Rerank(pairs[0].Query, docs, null, stats);
        var lengths = docs.Select(d => budgeted.EncodePair(pairs[0].Query, d.Text).Length).Order().ToArray();
        Assert.Equal(TokenBudget.Plan(lengths, 600, 64).Count, stats.Batches);
        var a = fixedBatches.PredictLogits(pairs);
        var b = budgeted.PredictLogits(pairs);
        for (var i = 0; i < pairs.Count; i++) Assert.Equal(a[i][0], b[i][0], 4);
    }

    [Theory]
    [InlineData("ce-bert-tiny")]
    [InlineData("ce-xlmr-tiny")] // no token_type_ids input
    public void IoBindingGivesIdenticalLogits(string model)
    {
        var pairs = References.Pairs;
        using var plain = CrossEncoder.Load(TestPaths.Fixture(model), new CrossEncoderOptions { HostAttention = false, IoBinding = false });
        using var bound = CrossEncoder.Load(TestPaths.Fixture(model), new CrossEncoderOptions { HostAttention = false, IoBinding = true });
        Assert.False(plain.UsesIoBinding);
        Assert.True(bound.UsesIoBinding);
        var a = plain.PredictLogits(pairs);
        var b = bound.PredictLogits(pairs);
        for (var i = 0; i < pairs.Count; i++) Assert.Equal(a[i], b[i]);
    }

    [Fact]
    public void IoBindingWorksForEmbeddings()
    {
        var texts = References.Pairs.Select(p => p.Query).ToArray();
        using var plain = BiEncoder.Load(TestPaths.Fixture("bi-bert-tiny"), new BiEncoderOptions { HostAttention = false });
        using var bound = BiEncoder.Load(TestPaths.Fixture("bi-bert-tiny"), new BiEncoderOptions { HostAttention = false, IoBinding = true, MaxBatchTokens = 512 });
        var a = plain.Embed(texts);
        var b = bound.Embed(texts);
        for (var i = 0; i < texts.Length; i++)
        {
            for (var j = 0; j < a[i].Length; j++) Assert.Equal(a[i][j], b[i][j], 5);
        }
    }
}
