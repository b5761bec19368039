namespace Sift.Core.Tests;

public class RankFusionTests
{
    private static IReadOnlyList<Candidate> List(params (string Id, float Score)[] items) =>
        items.Select((x, i) => new Candidate(new Document("text of " + x.Id, x.Id), x.Score, i + 1)).ToList();

    // A: d1, d2, d3 (scores 10, 6, 2); B: d3, d1, d4 (scores 0.9, 0.7, 0.5).
    private static readonly IReadOnlyList<IReadOnlyList<Candidate>> Lists =
    [
        List(("d1", 10f), ("d2", 6f), ("d3", 2f)),
        List(("d3", 0.9f), ("d1", 0.7f), ("d4", 0.5f)),
    ];

    [Fact]
    public void Rrf_sums_reciprocal_ranks_with_k60()
    {
        var fused = RankFusion.ReciprocalRank(Lists);

        // d1 = 1/61 + 1/62, d3 = 1/63 + 1/61, d2 = 1/62, d4 = 1/63
        Assert.Equal(["d1", "d3", "d2", "d4"], fused.Select(c => c.Document.Id));
        Assert.Equal(1.0 / 61 + 1.0 / 62, fused[0].Score, 6);
        Assert.Equal(1.0 / 63 + 1.0 / 61, fused[1].Score, 6);
        Assert.Equal(1.0 / 62, fused[2].Score, 6);
        Assert.Equal(1.0 / 63, fused[3].Score, 6);
        Assert.Equal([1, 2, 3, 4], fused.Select(c => c.Rank));
    }

    [Fact]
    public void Rrf_with_custom_k_and_weights()
    {
        var fused = RankFusion.ReciprocalRank(Lists, k: 0, weights: [1f, 3f]);

        // k=0: d1 = 1/1 + 3/2 = 2.5, d3 = 1/3 + 3/1 = 3.333, d2 = 1/2, d4 = 3/3 = 1
        Assert.Equal(["d3", "d1", "d4", "d2"], fused.Select(c => c.Document.Id));
        Assert.Equal(10.0 / 3, fused[0].Score, 5);
        Assert.Equal(2.5, fused[1].Score, 5);
        Assert.Equal(1.0, fused[2].Score, 5);
        Assert.Equal(0.5, fused[3].Score, 5);
    }

    [Fact]
    public void Weighted_fusion_min_max_normalizes_each_list()
    {
        var fused = RankFusion.WeightedScore(Lists, [0.3f, 0.7f]);

        // A normalized: d1 1, d2 0.5, d3 0. B normalized: d3 1, d1 0.5, d4 0.
        // d1 = .3*1 + .7*.5 = .65; d3 = .7*1 = .7; d2 = .3*.5 = .15; d4 = 0
        Assert.Equal(["d3", "d1", "d2", "d4"], fused.Select(c => c.Document.Id));
        Assert.Equal([0.7f, 0.65f, 0.15f, 0f], fused.Select(c => c.Score), new FloatComparer(1e-6f));
    }

    [Fact]
    public void Weighted_fusion_defaults_to_equal_weights()
    {
        var fused = RankFusion.Fuse(Lists, new FusionOptions { Method = FusionMethod.WeightedScore });

        // d1 = .5 + .25 = .75, d3 = .5, d2 = .25, d4 = 0
        Assert.Equal(["d1", "d3", "d2", "d4"], fused.Select(c => c.Document.Id));
        Assert.Equal(0.75f, fused[0].Score, 6);
    }

    [Fact]
    public void Constant_scores_normalize_to_one()
    {
        var fused = RankFusion.WeightedScore([List(("a", 3f), ("b", 3f))], [1f]);
        Assert.All(fused, c => Assert.Equal(1f, c.Score));
        Assert.Equal(["a", "b"], fused.Select(c => c.Document.Id)); // tie: better rank first
    }

    [Fact]
    public void Duplicates_within_a_list_count_once_at_their_best_rank()
    {
        var a = List(("d1", 5f), ("d2", 4f), ("d1", 3f));
        var fused = RankFusion.ReciprocalRank([a]);
        Assert.Equal(["d1", "d2"], fused.Select(c => c.Document.Id));
        Assert.Equal(1.0 / 61, fused[0].Score, 6);
    }

    [Fact]
    public void Documents_without_ids_are_deduped_by_text()
    {
        IReadOnlyList<Candidate> a = [new(new Document("same text"), 1f, 1)];
        IReadOnlyList<Candidate> b = [new(new Document("same text"), 2f, 1), new(new Document("other"), 1f, 2)];
        var fused = RankFusion.ReciprocalRank([a, b]);
        Assert.Equal(2, fused.Count);
        Assert.Equal("same text", fused[0].Document.Text);
        Assert.Equal(2.0 / 61, fused[0].Score, 6);
    }

    [Fact]
    public void Ties_break_deterministically_by_first_appearance()
    {
        // x and y get exactly the same RRF score (1/61 + 1/62) and the same best rank; x appears first.
        var fused = RankFusion.ReciprocalRank([List(("x", 1f), ("y", 1f)), List(("y", 1f), ("x", 1f))]);
        Assert.Equal(fused[0].Score, fused[1].Score);
        Assert.Equal(["x", "y"], fused.Select(c => c.Document.Id));
        var again = RankFusion.ReciprocalRank([List(("x", 1f), ("y", 1f)), List(("y", 1f), ("x", 1f))]);
        Assert.Equal(fused.Select(c => c.Document.Id), again.Select(c => c.Document.Id));
    }

    [Fact]
    public void TopN_cuts_the_fused_list()
    {
        var fused = RankFusion.Fuse(Lists, topN: 2);
        Assert.Equal(["d1", "d3"], fused.Select(c => c.Document.Id));
    }

    [Fact]
    public void Wrong_weight_count_is_a_user_error()
    {
        var e = Assert.Throws<SiftException>(() => RankFusion.WeightedScore(Lists, [1f]));
        Assert.Contains("one weight per", e.Message);
        Assert.Throws<SiftException>(() => RankFusion.WeightedScore(Lists, [0f, 0f]));
    }

    [Fact]
    public void Empty_lists_fuse_to_nothing()
    {
        Assert.Empty(RankFusion.ReciprocalRank([[], []]));
        Assert.Empty(RankFusion.WeightedScore([[], []]));
    }

    private sealed class FloatComparer(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(float obj) => 0;
    }
}
