using System.Net;
using System.Text.Json.Nodes;

namespace Sift.Server.Tests;

/// <summary>Contract tests of POST /rerank (TEI), /v1/rerank and /v2/rerank (Cohere, Jina) against the library's scores.</summary>
[Collection("tiny")]
public sealed class RerankEndpointTests(TinyServerFixture fx)
{
    private const float Tolerance = 1e-5f;

    private IReadOnlyList<RerankResult> Library(string query, IReadOnlyList<string> docs, RerankOptions? options = null) =>
        fx.Library.Rerank(query, docs.Select(d => new Document(d)).ToList(), options);

    [Fact]
    public async Task Tei_rerank_returns_library_scores_best_first()
    {
        var query = "what is bm25";
        using var response = await fx.Server.PostJsonAsync("/rerank", new { query, texts = Corpus.Docs });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var ranks = (await ServerHarness.JsonAsync(response)).AsArray();
        var expected = Library(query, Corpus.Docs);
        Assert.Equal(expected.Count, ranks.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Index, ranks[i]!["index"]!.GetValue<int>());
            Assert.Equal(expected[i].Score, ranks[i]!["score"]!.GetValue<float>(), Tolerance);
            Assert.Null(ranks[i]!["text"]); // only with return_text
        }
        for (var i = 1; i < ranks.Count; i++)
        {
            Assert.True(ranks[i - 1]!["score"]!.GetValue<float>() >= ranks[i]!["score"]!.GetValue<float>());
        }
        Assert.True(response.Headers.Contains("x-prompt-tokens"));
    }

    [Fact]
    public async Task Tei_raw_scores_are_logits_and_return_text_echoes()
    {
        var query = "capital of france";
        using var response = await fx.Server.PostJsonAsync("/rerank", new { query, texts = Corpus.Docs, raw_scores = true, return_text = true });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var ranks = (await ServerHarness.JsonAsync(response)).AsArray();
        var expected = Library(query, Corpus.Docs, new RerankOptions { Activation = ScoreActivation.Raw });
        for (var i = 0; i < expected.Count; i++)
        {
            var idx = ranks[i]!["index"]!.GetValue<int>();
            Assert.Equal(expected[i].Index, idx);
            Assert.Equal(expected[i].Logits[^1], ranks[i]!["score"]!.GetValue<float>(), Tolerance);
            Assert.Equal(Corpus.Docs[idx], ranks[i]!["text"]!.GetValue<string>());
        }
        // Raw logits leave [0, 1] for this model (its logits spread over about ±5).
        Assert.Contains(ranks, r => r!["score"]!.GetValue<float>() is < 0 or > 1);
    }

    [Fact]
    public async Task Tei_over_length_is_413_unless_truncate()
    {
        var docs = new[] { "short passage", Corpus.Long(700) };
        using var refused = await fx.Server.PostJsonAsync("/rerank", new { query = "q", texts = docs });
        await ServerHarness.AssertErrorAsync(refused, 413, "input_too_long", "texts[1]");

        using var truncated = await fx.Server.PostJsonAsync("/rerank", new { query = "q", texts = docs, truncate = true });
        Assert.Equal(HttpStatusCode.OK, truncated.StatusCode);
        var ranks = (await ServerHarness.JsonAsync(truncated)).AsArray();
        var expected = Library("q", docs);
        foreach (var e in expected)
        {
            var got = ranks.Single(r => r!["index"]!.GetValue<int>() == e.Index)!;
            Assert.Equal(e.Score, got["score"]!.GetValue<float>(), Tolerance);
        }
    }

    [Fact]
    public async Task Tei_left_truncation_keeps_the_end_of_the_text()
    {
        var tail = "the capital of france is paris";
        var doc = Corpus.Long(700) + " " + tail;
        using var left = await fx.Server.PostJsonAsync("/rerank", new { query = "capital", texts = new[] { doc }, truncate = true, truncation_direction = "Left" });
        using var right = await fx.Server.PostJsonAsync("/rerank", new { query = "capital", texts = new[] { doc }, truncate = true, truncation_direction = "Right" });
        Assert.Equal(HttpStatusCode.OK, left.StatusCode);
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        var l = (await ServerHarness.JsonAsync(left))[0]!["score"]!.GetValue<float>();
        var r = (await ServerHarness.JsonAsync(right))[0]!["score"]!.GetValue<float>();
        Assert.Equal(Library("capital", [doc])[0].Score, r, Tolerance);
        Assert.NotEqual(r, l); // a different window of the text was scored

        using var bad = await fx.Server.PostJsonAsync("/rerank", new { query = "q", texts = new[] { "a" }, truncation_direction = "Up" });
        await ServerHarness.AssertErrorAsync(bad, 422, "invalid_value", "truncation_direction");
    }

    [Theory]
    [InlineData("/v1/rerank", "1")]
    [InlineData("/v2/rerank", "2")]
    public async Task Cohere_rerank_shape_and_scores(string path, string version)
    {
        var query = "how do cross encoders score passages";
        var documents = new object[] { Corpus.Docs[0], new { text = Corpus.Docs[1] }, Corpus.Docs[2], new { text = Corpus.Docs[3], title = "ignored" } };
        using var response = await fx.Server.PostJsonAsync(path, new { model = "ce-bert-tiny", query, documents, top_n = 3, return_documents = true });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = (await ServerHarness.JsonAsync(response)).AsObject();
        Assert.True(Guid.TryParse(body["id"]!.GetValue<string>(), out _));
        Assert.Equal("ce-bert-tiny", body["model"]!.GetValue<string>());
        Assert.Equal(version, body["meta"]!["api_version"]!["version"]!.GetValue<string>());
        Assert.Equal(1, body["meta"]!["billed_units"]!["search_units"]!.GetValue<int>());
        var tokens = body["meta"]!["tokens"]!["input_tokens"]!.GetValue<int>();
        Assert.True(tokens > 0);
        Assert.Equal(tokens, body["usage"]!["total_tokens"]!.GetValue<int>());

        var texts = Corpus.Docs[..4];
        var expected = Library(query, texts);
        var results = body["results"]!.AsArray();
        Assert.Equal(3, results.Count);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(expected[i].Index, results[i]!["index"]!.GetValue<int>());
            Assert.Equal(expected[i].Score, results[i]!["relevance_score"]!.GetValue<float>(), Tolerance);
            Assert.Equal(texts[expected[i].Index], results[i]!["document"]!["text"]!.GetValue<string>());
            // The document comes back as it was sent, as Cohere answers: an object keeps all of its fields.
            var sentTitle = expected[i].Index == 3 ? "ignored" : null;
            Assert.Equal(sentTitle, results[i]!["document"]!["title"]?.GetValue<string>());
        }
    }

    [Fact]
    public async Task Cohere_defaults_model_omits_documents_and_truncates_long_input()
    {
        var docs = new[] { Corpus.Long(900), "short" };
        using var response = await fx.Server.PostJsonAsync("/v2/rerank", new { query = "q", documents = docs });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ServerHarness.JsonAsync(response);
        var results = body["results"]!.AsArray();
        Assert.Equal(2, results.Count);
        Assert.All(results, r => Assert.Null(r!["document"]));
        var expected = Library("q", docs);
        Assert.Equal(expected[0].Score, results[0]!["relevance_score"]!.GetValue<float>(), Tolerance);
    }

    [Fact]
    public async Task Cohere_max_tokens_per_doc_cuts_each_document()
    {
        var doc = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda";
        using var response = await fx.Server.PostJsonAsync("/v1/rerank", new { query = "greek letters", documents = new[] { doc }, max_tokens_per_doc = 4 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var score = (await ServerHarness.JsonAsync(response))["results"]![0]!["relevance_score"]!.GetValue<float>();
        var tokens = fx.Library.Tokenizer.Tokenize(doc);
        Assert.True(tokens.Count > 4);
        var prefix = doc[..tokens.Offsets[3].End];
        Assert.Equal(Library("greek letters", [prefix])[0].Score, score, Tolerance);
        Assert.NotEqual(Library("greek letters", [doc])[0].Score, score);

        using var bad = await fx.Server.PostJsonAsync("/v1/rerank", new { query = "q", documents = new[] { doc }, max_tokens_per_doc = 0 });
        await ServerHarness.AssertErrorAsync(bad, 422, "invalid_value", "max_tokens_per_doc");
    }

    [Fact]
    public async Task Unknown_model_is_404_naming_the_served_ones()
    {
        using var response = await fx.Server.PostJsonAsync("/v1/rerank", new { model = "rerank-english-v3.0", query = "q", documents = new[] { "a" } });
        var error = await ServerHarness.AssertErrorAsync(response, 404, "model_not_found", "model");
        Assert.Contains("ce-bert-tiny", error["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Health_info_metrics_and_openapi()
    {
        using var health = await fx.Server.Client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("ok", (await ServerHarness.JsonAsync(health))["status"]!.GetValue<string>());

        using var info = await fx.Server.Client.GetAsync("/info");
        Assert.Equal(HttpStatusCode.OK, info.StatusCode);
        var i = await ServerHarness.JsonAsync(info);
        Assert.Equal("ce-bert-tiny", i["model_id"]!.GetValue<string>());
        Assert.Equal(512, i["max_input_length"]!.GetValue<int>());
        Assert.Equal("LABEL_0", i["model_type"]!["reranker"]!["id2label"]!["0"]!.GetValue<string>());
        Assert.Equal(16384, i["max_batch_tokens"]!.GetValue<int>());
        Assert.Equal(1000, i["max_client_batch_size"]!.GetValue<int>());
        Assert.Equal(64, i["max_concurrent_requests"]!.GetValue<int>());
        Assert.Equal(2_000_000, i["max_payload_bytes"]!.GetValue<long>());
        Assert.True(i["dynamic_batching"]!.GetValue<bool>());
        Assert.False(i["api_key_required"]!.GetValue<bool>());
        Assert.Equal("float32", i["model_dtype"]!.GetValue<string>());
        var m = i["models"]![0]!;
        Assert.Equal(1, m["num_labels"]!.GetValue<int>());
        Assert.Equal("fp32", m["precision"]!.GetValue<string>());
        Assert.Equal("sigmoid", m["activation"]!.GetValue<string>());
        Assert.Null(i["search"]);

        using (await fx.Server.PostJsonAsync("/rerank", new { query = "q", texts = new[] { "a", "b" } })) { }
        using var metrics = await fx.Server.Client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        var text = await metrics.Content.ReadAsStringAsync();
        Assert.Contains("sift_requests_total{endpoint=\"/rerank\",status=\"200\"}", text);
        foreach (var name in new[] { "sift_queue_depth", "sift_batch_size_bucket", "sift_batch_tokens_bucket", "sift_inference_duration_seconds_bucket", "sift_request_duration_seconds_bucket", "sift_requests_in_flight" })
        {
            Assert.Contains(name, text);
        }

        using var openapi = await fx.Server.Client.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, openapi.StatusCode);
        var doc = await ServerHarness.JsonAsync(openapi);
        var paths = doc["paths"]!.AsObject();
        foreach (var p in new[] { "/rerank", "/v1/rerank", "/v2/rerank", "/search", "/health", "/info" })
        {
            Assert.True(paths.ContainsKey(p), p + " missing from the OpenAPI document");
        }
        Assert.NotNull(paths["/rerank"]!["post"]!["requestBody"]);
    }

    [Fact]
    public async Task Unknown_route_is_a_json_404()
    {
        using var response = await fx.Server.Client.GetAsync("/nope");
        await ServerHarness.AssertErrorAsync(response, 404, "not_found");
    }
}
