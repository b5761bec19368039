namespace Sift.Retrieval.Tests;

/// <summary>The pipeline's top-N / top-K / threshold contract, over a real BM25 index and a term-overlap reranker.</summary>
public sealed class SearchPipelineTests : IAsyncLifetime
{
    private readonly TempDir _tmp = new();
    private SiftIndex _index = null!;

    public async Task InitializeAsync()
    {
        _index = SiftIndex.Create(_tmp.Sub("idx"));
        await _index.AddAsync(Corpus.Animals);
    }

    public Task DisposeAsync()
    {
        _index.Dispose();
        _tmp.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Without_a_reranker_hits_are_the_first_stage_top_k()
    {
        var bm25 = _index.Bm25();
        var pipeline = new SearchPipeline(bm25);

        var result = await pipeline.SearchAsync("cat dog species", new SearchOptions { TopK = 2 });

        var expected = await bm25.RetrieveAsync("cat dog species", 2);
        Assert.False(result.Reranked);
        Assert.Equal("bm25", result.Retriever);
        Assert.Equal(2, result.Candidates);
        Assert.Equal(expected.Select(c => c.Document.Id), result.Hits.Select(h => h.Document.Id));
        Assert.All(result.Hits, h =>
        {
            Assert.Null(h.RerankScore);
            Assert.Equal(h.Rank, h.Stage1Rank);
            Assert.Equal(h.Stage1Score, h.Score);
        });
        Assert.Equal(0, result.Timings.RerankMs);
        Assert.True(result.Timings.TotalMs >= result.Timings.RetrieveMs);
    }

    [Fact]
    public async Task The_reranker_sees_top_n_and_hits_are_its_top_k()
    {
        const string query = "dog live together young";
        var reranker = new TermOverlapReranker();
        var pipeline = new SearchPipeline(_index.Bm25(), reranker);
        var stage1 = await _index.Bm25().RetrieveAsync(query, 100);
        Assert.True(stage1.Count >= 3);

        var result = await pipeline.SearchAsync(query, new SearchOptions { TopN = 3, TopK = 2 });

        Assert.True(result.Reranked);
        Assert.Equal(3, result.Candidates);
        Assert.Equal(3, reranker.LastDocumentCount);
        Assert.Equal(2, reranker.LastOptions!.TopK);
        Assert.Equal(2, result.Hits.Count);
        var expected = stage1.Take(3).OrderByDescending(c => TermOverlapReranker.Score(query, c.Document)).Take(2).ToList();
        Assert.Equal(expected.Select(c => c.Document.Id), result.Hits.Select(h => h.Document.Id));
        Assert.Equal([1, 2], result.Hits.Select(h => h.Rank));
        foreach (var hit in result.Hits)
        {
            var c = stage1.Single(s => s.Document.Id == hit.Document.Id);
            Assert.Equal(c.Rank, hit.Stage1Rank);
            Assert.Equal(c.Score, hit.Stage1Score);
            Assert.Equal(TermOverlapReranker.Score(query, c.Document), hit.RerankScore);
            Assert.Equal(hit.RerankScore, hit.Score);
        }
        Assert.True(result.Hits[0].Score >= result.Hits[1].Score);
        Assert.True(result.Timings.TotalMs >= result.Timings.RetrieveMs + result.Timings.RerankMs - 0.01);
    }

    [Fact]
    public async Task Top_n_bounds_what_reranking_can_recover()
    {
        // "catdog" matches every query word but is not BM25's first hit for this query; it only wins when it is a candidate.
        const string query = "cat dog live together";
        var stage1 = await _index.Bm25().RetrieveAsync(query, 10);
        var catdogRank = stage1.Single(c => c.Document.Id == "catdog").Rank;
        var pipeline = new SearchPipeline(_index.Bm25(), new TermOverlapReranker());

        var wide = await pipeline.SearchAsync(query, new SearchOptions { TopN = 10, TopK = 1 });
        Assert.Equal("catdog", wide.Hits[0].Document.Id);
        Assert.Equal(catdogRank, wide.Hits[0].Stage1Rank);
        Assert.Equal(1f, wide.Hits[0].Score);

        var narrow = await pipeline.SearchAsync(query, new SearchOptions { TopN = 1, TopK = 1 });
        Assert.Equal(stage1[0].Document.Id, narrow.Hits[0].Document.Id);
    }

    [Fact]
    public async Task Threshold_filters_on_the_final_score()
    {
        const string query = "cat dog parrot";
        var reranked = new SearchPipeline(_index.Bm25(), new TermOverlapReranker());
        var all = await reranked.SearchAsync(query, new SearchOptions { TopK = 10 });
        Assert.Contains(all.Hits, h => h.Score < 0.5f);

        var cut = await reranked.SearchAsync(query, new SearchOptions { TopK = 10, Threshold = 0.5f });
        Assert.NotEmpty(cut.Hits);
        Assert.All(cut.Hits, h => Assert.True(h.Score >= 0.5f));
        Assert.Equal(all.Hits.Where(h => h.Score >= 0.5f).Select(h => h.Document.Id), cut.Hits.Select(h => h.Document.Id));

        var none = await reranked.SearchAsync(query, new SearchOptions { TopK = 10, Threshold = 1.01f });
        Assert.Empty(none.Hits);
        Assert.True(none.Candidates > 0);

        // Without a reranker the threshold applies to the stage-1 (BM25) score.
        var plain = new SearchPipeline(_index.Bm25());
        var bm25 = await plain.SearchAsync(query, new SearchOptions { TopK = 10 });
        var second = bm25.Hits[1].Score;
        var bm25Cut = await plain.SearchAsync(query, new SearchOptions { TopK = 10, Threshold = second });
        Assert.Equal(bm25.Hits.Take(2).Select(h => h.Document.Id), bm25Cut.Hits.Select(h => h.Document.Id));
    }

    [Fact]
    public async Task No_candidates_means_no_rerank_call()
    {
        var reranker = new TermOverlapReranker();
        var result = await new SearchPipeline(_index.Bm25(), reranker).SearchAsync("xylophone");
        Assert.Empty(result.Hits);
        Assert.Equal(0, reranker.Calls);
    }

    [Fact]
    public async Task Impossible_options_are_user_errors()
    {
        var pipeline = new SearchPipeline(_index.Bm25(), new TermOverlapReranker());
        var ex = await Assert.ThrowsAsync<SiftException>(() => pipeline.SearchAsync("cat", new SearchOptions { TopN = 5, TopK = 10 }));
        // Core names the option by its field (issue 15); surfaces pass their own spelling (the CLI: --top-n, the server: top_n).
        Assert.Contains("raise TopN", ex.Message);
        Assert.Equal("TopK", ex.Data[SearchOptions.FieldKey]);
        var cli = await Assert.ThrowsAsync<SiftException>(() => Task.Run(() => new SearchOptions { TopN = 5, TopK = 10 }.Validate(true, f => f == "TopN" ? "--top-n" : "--top-k")));
        Assert.Contains("raise --top-n", cli.Message);
        await Assert.ThrowsAsync<SiftException>(() => pipeline.SearchAsync("cat", new SearchOptions { TopK = 0 }));
        Assert.Throws<SiftException>(() => new SearchPipeline(_index.Bm25(), new TermOverlapReranker(), new SearchOptions { TopN = 0 }));
        // Without a reranker top-n plays no part, so top-k above it is fine.
        var plain = await new SearchPipeline(_index.Bm25()).SearchAsync("cat", new SearchOptions { TopN = 1, TopK = 5 });
        Assert.Equal(2, plain.Hits.Count);
    }
}
