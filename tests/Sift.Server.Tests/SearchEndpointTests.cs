using System.Net;
using Sift.Onnx;
using Sift.Retrieval;

namespace Sift.Server.Tests;

/// <summary>POST /search: BM25 over a small index built here, reranked by the served model.</summary>
public sealed class SearchEndpointTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sift-server-index-" + Guid.NewGuid().ToString("N"));

    private static readonly Document[] Docs = Corpus.Docs
        .Where(d => d.Length > 0)
        .Select((d, i) => new Document(d, id: "d" + i, title: i == 0 ? "BM25" : null))
        .Concat(Enumerable.Range(0, 12).Select(i => new Document($"search engines rank documents; filler passage number {i} about ranking and retrieval", id: "f" + i)))
        .ToArray();

    public async Task InitializeAsync()
    {
        using var index = SiftIndex.Create(_dir);
        await index.AddAsync(Docs);
    }

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Search_retrieves_with_bm25_and_reranks_with_the_library_scores()
    {
        const string query = "ranking search engines bm25";
        IReadOnlyList<Candidate> candidates;
        using (var index = SiftIndex.Open(_dir))
        {
            candidates = await index.Bm25().RetrieveAsync(query, 8);
        }
        Assert.True(candidates.Count >= 4);
        using var library = CrossEncoder.Load(ServerHarness.Tiny);
        var expected = library.Rerank(query, candidates.Select(c => c.Document).ToList(), new RerankOptions { TopK = 3 });

        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with { IndexPath = _dir }));
        using var response = await server.PostJsonAsync("/search", new { query, mode = "bm25", top_n = 8, top_k = 3 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ServerHarness.JsonAsync(response);
        Assert.Equal("bm25", body["mode"]!.GetValue<string>());
        Assert.Equal(candidates.Count, body["candidates"]!.GetValue<int>());
        var results = body["results"]!.AsArray();
        Assert.Equal(3, results.Count);
        for (var i = 0; i < 3; i++)
        {
            var r = results[i]!;
            var e = expected[i];
            var c = candidates[e.Index];
            Assert.Equal(c.Document.Id, r["id"]!.GetValue<string>());
            Assert.Equal(i + 1, r["rank"]!.GetValue<int>());
            Assert.Equal(e.Score, r["score"]!.GetValue<float>(), 1e-5f);
            Assert.Equal(c.Rank, r["stage1_rank"]!.GetValue<int>());
            Assert.Equal(c.Score, r["stage1_score"]!.GetValue<float>(), 1e-5f);
            Assert.Equal(c.Document.Text, r["text"]!.GetValue<string>());
        }
        Assert.True(body["timings"]!["total_ms"]!.GetValue<double>() > 0);

        var info = await ServerHarness.JsonAsync(await server.Client.GetAsync("/info"));
        Assert.Equal("bm25", info["search"]!["default_mode"]!.GetValue<string>());
        Assert.False(info["search"]!["dense"]!.GetValue<bool>());

        // Defaults: mode bm25 (no vectors), top_k 10.
        using var defaults = await server.PostJsonAsync("/search", new { query });
        Assert.Equal(HttpStatusCode.OK, defaults.StatusCode);
        Assert.Equal(10, (await ServerHarness.JsonAsync(defaults))["results"]!.AsArray().Count);

        using var dense = await server.PostJsonAsync("/search", new { query, mode = "dense" });
        await ServerHarness.AssertErrorAsync(dense, 422, "mode_unavailable", "mode");
        using var badMode = await server.PostJsonAsync("/search", new { query, mode = "fuzzy" });
        await ServerHarness.AssertErrorAsync(badMode, 422, "invalid_value", "mode");
        using var badK = await server.PostJsonAsync("/search", new { query, top_n = 2, top_k = 5 });
        await ServerHarness.AssertErrorAsync(badK, 422, "invalid_value", "top_k");
        using var missing = await server.PostJsonAsync("/search", new { mode = "bm25" });
        await ServerHarness.AssertErrorAsync(missing, 422, "missing_field", "query");
    }

    [Fact]
    public async Task Search_without_an_index_is_404()
    {
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options());
        using var response = await server.PostJsonAsync("/search", new { query = "q" });
        await ServerHarness.AssertErrorAsync(response, 404, "no_index");
    }
}
