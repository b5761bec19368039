namespace Sift.Evaluation.Tests;

public class MetricParseTests
{
    [Theory]
    [InlineData("ndcg@10", "ndcg@10")]
    [InlineData("nDCG@10", "ndcg@10")]
    [InlineData("ndcg_cut_10", "ndcg@10")]
    [InlineData("ndcg_cut.10", "ndcg@10")]
    [InlineData("ndcg", "ndcg")]
    [InlineData("mrr@10", "mrr@10")]
    [InlineData("recip_rank", "mrr")]
    [InlineData("MRR", "mrr")]
    [InlineData("recall@100", "recall@100")]
    [InlineData("recall_100", "recall@100")]
    [InlineData("recall.1000", "recall@1000")]
    [InlineData("R@100", "recall@100")]
    [InlineData("map", "map")]
    [InlineData("MAP", "map")]
    [InlineData("map@100", "map@100")]
    [InlineData("map_cut_100", "map@100")]
    [InlineData("p@5", "p@5")]
    [InlineData("P_5", "p@5")]
    [InlineData("P.5", "p@5")]
    [InlineData("precision@5", "p@5")]
    public void Parses_common_spellings_to_canonical_keys(string text, string key)
    {
        Assert.Equal(key, Metric.Parse(text).Key);
    }

    [Theory]
    [InlineData("")]
    [InlineData("bleu")]
    [InlineData("ndcg@0")]
    [InlineData("ndcg_cut")]
    [InlineData("ndcg@x")]
    [InlineData("@10")]
    public void Rejects_unknown_metrics_with_a_helpful_message(string text)
    {
        var ex = Assert.Throws<SiftException>(() => Metric.Parse(text));
        Assert.Contains("ndcg@", ex.Message);
    }

    [Fact]
    public void Parses_lists_and_removes_duplicates()
    {
        var list = Metric.ParseList("ndcg@10, ndcg_cut_10 recall@100;map");
        Assert.Equal(["ndcg@10", "recall@100", "map"], list.Select(m => m.Key));
    }
}
