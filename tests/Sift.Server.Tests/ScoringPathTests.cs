using System.Net;
using System.Text.Json.Nodes;
using Sift.Onnx;
using Sift.Retrieval;

namespace Sift.Server.Tests;

/// <summary>
/// Issue 15, one scoring path: the server scores through <see cref="CrossEncoder.RerankWithUsageAsync"/> (its batcher is
/// only the runner), so every route's scores equal the library's within 1e-6, with truncation side, per-document caps and
/// chunking as library options.
/// </summary>
public sealed class ScoringPathTests
{
    private const float Tolerance = 1e-6f;
    private static readonly string LongDoc = string.Join(" ", Enumerable.Range(0, 120).Select(i => $"sentence {i} is about topic{i % 13} and value {i * 7}."));
    private static readonly string[] Texts = [.. Corpus.Docs, LongDoc, "topic5 " + LongDoc[..400]];

    private static void AssertSameRanking(IReadOnlyList<RerankResult> expected, JsonArray got, string scoreField)
    {
        Assert.Equal(expected.Count, got.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Index, got[i]!["index"]!.GetValue<int>());
            Assert.Equal(expected[i].Score, got[i]![scoreField]!.GetValue<float>(), Tolerance);
        }
    }

    [Theory]
    [InlineData(false, "Right")]
    [InlineData(true, "Right")]
    [InlineData(false, "Left")]
    public async Task Tei_rerank_scores_equal_the_library(bool raw, string direction)
    {
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with { MaxLength = 64 }));
        using var library = CrossEncoder.Load(ServerHarness.Tiny, new CrossEncoderOptions { MaxLength = 64, IntraOpThreads = 1 });
        const string query = "what does a cross-encoder read? topic5";
        var expected = await library.RerankAsync(query, Texts.Select(t => new Document(t)).ToList(), new RerankOptions
        {
            Activation = raw ? ScoreActivation.Raw : null,
            TruncationSide = direction == "Left" ? TruncationSide.Left : TruncationSide.Right,
        });

        using var response = await server.PostJsonAsync("/rerank", new { query, texts = Texts, raw_scores = raw, truncate = true, truncation_direction = direction });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        AssertSameRanking(expected, (await ServerHarness.JsonAsync(response)).AsArray(), "score");
    }

    [Fact]
    public async Task Left_truncation_keeps_the_end_of_the_document()
    {
        using var library = CrossEncoder.Load(ServerHarness.Tiny, new CrossEncoderOptions { MaxLength = 32 });
        var docs = new List<Document> { new(LongDoc) };
        var right = library.Rerank("q", docs)[0].Score;
        var left = library.Rerank("q", docs, new RerankOptions { TruncationSide = TruncationSide.Left })[0].Score;
        Assert.NotEqual(right, left);
        // Left truncation keeps the end of the document: the pair is [CLS] q [SEP] + the document's last tokens + [SEP].
        var tok = library.Tokenizer;
        var q = tok.Tokenize("q");
        var d = tok.Tokenize(LongDoc);
        var keep = 32 - tok.NumSpecialTokensToAdd(isPair: true) - q.Count;
        var pair = tok.Build(q, d, 32, Sift.Tokenizers.TruncationStrategy.LongestFirst, truncateLeft: true);
        Assert.Equal(32, pair.Length);
        Assert.Equal(d.Ids[^keep..], pair.InputIds[(pair.Length - 1 - keep)..^1]);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task Over_long_input_without_truncation_is_a_typed_error_the_server_maps_to_413()
    {
        using var library = CrossEncoder.Load(ServerHarness.Tiny, new CrossEncoderOptions { MaxLength = 64 });
        var ex = await Assert.ThrowsAsync<InputTooLongException>(() => library.RerankAsync("q", [new Document("short"), new Document(LongDoc)], new RerankOptions { Truncate = false }));
        Assert.Equal(1, ex.DocumentIndex);
        Assert.Equal(64, ex.MaxTokens);
        Assert.True(ex.Tokens > 64);

        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with { MaxLength = 64 }));
        using var refused = await server.PostJsonAsync("/rerank", new { query = "q", texts = new[] { "short", LongDoc } });
        var error = await ServerHarness.AssertErrorAsync(refused, 413, "input_too_long", "texts[1]");
        Assert.Contains($"is {ex.Tokens} tokens, more than the model's max of 64", error["message"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("/v1/rerank")]
    [InlineData("/v2/rerank")]
    public async Task Cohere_rerank_scores_equal_the_library_with_top_n_and_max_tokens_per_doc(string path)
    {
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with { MaxLength = 128 }));
        using var library = CrossEncoder.Load(ServerHarness.Tiny, new CrossEncoderOptions { MaxLength = 128 });
        const string query = "topic5 value";
        var expected = await library.RerankAsync(query, Texts.Select(t => new Document(t)).ToList(), new RerankOptions { TopK = 4, MaxTokensPerDocument = 20 });

        using var response = await server.PostJsonAsync(path, new { query, documents = Texts, top_n = 4, max_tokens_per_doc = 20 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ServerHarness.JsonAsync(response);
        AssertSameRanking(expected, body["results"]!.AsArray(), "relevance_score");
    }

    [Fact]
    public async Task Cohere_max_chunks_per_doc_scores_equal_the_library_chunking()
    {
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with { MaxLength = 64 }));
        using var library = CrossEncoder.Load(ServerHarness.Tiny, new CrossEncoderOptions { MaxLength = 64 });
        var expected = await library.RerankAsync("topic5", Texts.Select(t => new Document(t)).ToList(), new RerankOptions { MaxChunks = 6 });
        Assert.Contains(expected, r => r.Window is not null);

        using var response = await server.PostJsonAsync("/v1/rerank", new { query = "topic5", documents = Texts, max_chunks_per_doc = 6 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        AssertSameRanking(expected, (await ServerHarness.JsonAsync(response))["results"]!.AsArray(), "relevance_score");
    }

    [Fact]
    public async Task Cohere_return_documents_returns_the_document_the_client_sent()
    {
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options());
        var documents = new object[]
        {
            new { text = "BM25 ranks documents", id = "a", meta = new { year = 1994, tags = new[] { "ir" } } },
            "Cross-encoders read query and passage together",
        };
        using var response = await server.PostJsonAsync("/v2/rerank", new { query = "bm25", documents, return_documents = true });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var results = (await ServerHarness.JsonAsync(response))["results"]!.AsArray();
        var first = results.Single(r => r!["index"]!.GetValue<int>() == 0)!["document"]!;
        Assert.Equal("a", first["id"]!.GetValue<string>());
        Assert.Equal(1994, first["meta"]!["year"]!.GetValue<int>());
        Assert.Equal("ir", first["meta"]!["tags"]![0]!.GetValue<string>());
        Assert.Equal("BM25 ranks documents", first["text"]!.GetValue<string>());
        var second = results.Single(r => r!["index"]!.GetValue<int>() == 1)!["document"]!;
        Assert.Equal("Cross-encoders read query and passage together", second["text"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("GET", "/rerank")]
    [InlineData("GET", "/v1/rerank")]
    [InlineData("DELETE", "/v2/rerank")]
    [InlineData("GET", "/search")]
    [InlineData("POST", "/health")]
    public async Task A_method_a_route_does_not_take_is_405_with_allow(string method, string path)
    {
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options());
        using var response = await server.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        var allow = string.Join(",", response.Content.Headers.Allow);
        Assert.Contains(path == "/health" ? "GET" : "POST", allow);
        await ServerHarness.AssertErrorAsync(response, 405, "method_not_allowed");
        // An unknown route stays a 404.
        using var missing = await server.Client.GetAsync("/no-such-route");
        await ServerHarness.AssertErrorAsync(missing, 404, "not_found");
    }

    [Fact]
    public async Task Search_in_chunk_mode_keeps_the_window_each_score_came_from()
    {
        var dir = Path.Combine(Path.GetTempPath(), "sift-server-chunk-index-" + Guid.NewGuid().ToString("N"));
        try
        {
            var docs = new[] { new Document(LongDoc, id: "long"), new Document("topic5 in a short passage", id: "short") };
            using (var index = SiftIndex.Create(dir))
            {
                await index.AddAsync(docs);
            }
            await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with { IndexPath = dir, LongDocs = LongDocumentStrategy.Chunk, MaxLength = 64 }));
            using var response = await server.PostJsonAsync("/search", new { query = "topic5 sentence", mode = "bm25", top_n = 2, top_k = 2 });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var results = (await ServerHarness.JsonAsync(response))["results"]!.AsArray();

            using var library = CrossEncoder.Load(ServerHarness.Tiny, new CrossEncoderOptions { LongDocuments = LongDocumentStrategy.Chunk, MaxLength = 64 });
            var expected = library.Rerank("topic5 sentence", [docs[0]])[0].Window!;
            var hit = results.Single(r => r!["id"]!.GetValue<string>() == "long")!;
            var window = hit["window"]!;
            Assert.Equal(expected.Start, window["start"]!.GetValue<int>());
            Assert.Equal(expected.End, window["end"]!.GetValue<int>());
            Assert.Equal(expected.Ordinal, window["ordinal"]!.GetValue<int>());
            Assert.Equal(expected.WindowCount, window["window_count"]!.GetValue<int>());
            Assert.Null(results.Single(r => r!["id"]!.GetValue<string>() == "short")!["window"]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
