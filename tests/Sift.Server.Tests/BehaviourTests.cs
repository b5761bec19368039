using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Sift.Onnx;
using Sift.Server.Runtime;
using Sift.Server.Http;
using Sift.Testing;

namespace Sift.Server.Tests;

/// <summary>An HTTP body that sends its first bytes, then waits for a signal before finishing (no Content-Length).</summary>
internal sealed class GatedContent(string head, string tail, Task gate) : HttpContent
{
    public GatedContent(string body) : this(body, "", Task.CompletedTask) { }

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        await stream.WriteAsync(Encoding.UTF8.GetBytes(head));
        await stream.FlushAsync();
        await gate;
        await stream.WriteAsync(Encoding.UTF8.GetBytes(tail));
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }
}

/// <summary>Auth, backpressure, health before load, cancellation, multiple models, batching switch.</summary>
public sealed class BehaviourTests
{
    private static async Task WaitUntil(Func<bool> condition, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for a condition");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Api_key_is_required_except_on_health()
    {
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with { ApiKey = "s3cret-key" }));
        var body = new { query = "q", texts = new[] { "a" } };

        using var none = await server.PostJsonAsync("/rerank", body);
        await ServerHarness.AssertErrorAsync(none, 401, "unauthorized");
        Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);

        using var wrongReq = new HttpRequestMessage(HttpMethod.Post, "/rerank") { Content = JsonContent(body) };
        wrongReq.Headers.Authorization = ServerHarness.Bearer("s3cret-kez");
        using var wrong = await server.Client.SendAsync(wrongReq);
        await ServerHarness.AssertErrorAsync(wrong, 401, "unauthorized");

        using var rightReq = new HttpRequestMessage(HttpMethod.Post, "/rerank") { Content = JsonContent(body) };
        rightReq.Headers.Authorization = ServerHarness.Bearer("s3cret-key");
        using var right = await server.Client.SendAsync(rightReq);
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);

        using var metrics = await server.Client.GetAsync("/metrics");
        await ServerHarness.AssertErrorAsync(metrics, 401);
        using var health = await server.Client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);

        using var infoReq = new HttpRequestMessage(HttpMethod.Get, "/info");
        infoReq.Headers.Authorization = ServerHarness.Bearer("s3cret-key");
        using var info = await server.Client.SendAsync(infoReq);
        Assert.True((await ServerHarness.JsonAsync(info))["api_key_required"]!.GetValue<bool>());
        Assert.DoesNotContain("s3cret", await info.Content.ReadAsStringAsync());
    }

    private static StringContent JsonContent(object body) =>
        new(System.Text.Json.JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    [Fact]
    public async Task Past_max_concurrent_requests_is_429_with_retry_after()
    {
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with { MaxConcurrentRequests = 1 }));
        var limiter = server.Service<ConcurrencyLimiter>();
        var release = new TaskCompletionSource();
        // The first request holds its slot while its body is still arriving.
        var first = server.Client.PostAsync("/rerank", new GatedContent("{\"query\": \"q\", ", "\"texts\": [\"a\", \"b\"]}", release.Task));
        await WaitUntil(() => limiter.InFlight == 1);

        using var second = await server.PostJsonAsync("/rerank", new { query = "q", texts = new[] { "a" } });
        await ServerHarness.AssertErrorAsync(second, 429, "overloaded");
        Assert.Equal("1", second.Headers.GetValues("Retry-After").Single());

        release.SetResult();
        using var firstResponse = await first;
        Assert.Equal(HttpStatusCode.OK, firstResponse.StatusCode);
        await WaitUntil(() => limiter.InFlight == 0);
        using var third = await server.PostJsonAsync("/rerank", new { query = "q", texts = new[] { "a" } });
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);

        using var metrics = await server.Client.GetAsync("/metrics");
        var text = await metrics.Content.ReadAsStringAsync();
        Assert.Contains("sift_requests_total{endpoint=\"/rerank\",status=\"429\"} 1", text);
        Assert.Contains("sift_requests_rejected_total 1", text);
    }

    [Fact]
    public async Task Health_is_503_until_the_model_is_loaded_and_warm()
    {
        var gate = new TaskCompletionSource();
        var options = ServerHarness.Options() with { BeforeLoad = ct => gate.Task.WaitAsync(ct) };
        await using var server = await ServerHarness.StartAsync(options, waitReady: false);
        using (var loading = await server.Client.GetAsync("/health"))
        {
            await ServerHarness.AssertErrorAsync(loading, 503, "model_loading");
        }
        using (var rerank = await server.PostJsonAsync("/rerank", new { query = "q", texts = new[] { "a" } }))
        {
            await ServerHarness.AssertErrorAsync(rerank, 503, "model_loading");
            Assert.True(rerank.Headers.Contains("Retry-After"));
        }
        gate.SetResult();
        await server.WaitReadyAsync();
        using var ready = await server.Client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task A_model_that_fails_to_load_keeps_health_503_with_the_reason()
    {
        var missing = Path.Combine(Path.GetTempPath(), "sift-no-such-model-" + Guid.NewGuid().ToString("N"));
        await using var server = await ServerHarness.StartAsync(new ServerOptions { Models = [new ModelSpec(null, missing)] }, waitReady: false);
        await WaitUntil(() => server.Service<ModelRegistry>().State != ServerState.Loading);
        using var health = await server.Client.GetAsync("/health");
        var error = await ServerHarness.AssertErrorAsync(health, 503, "unhealthy");
        Assert.Contains("Model not found", error["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Several_models_are_chosen_by_the_model_field()
    {
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with
        {
            Models = [ModelSpec.Parse("one=" + ServerHarness.Tiny), ModelSpec.Parse("two=" + ServerHarness.Tiny2Label)],
        }));
        using var one = CrossEncoder.Load(ServerHarness.Tiny);
        using var two = CrossEncoder.Load(ServerHarness.Tiny2Label);
        var docs = Corpus.Docs[..4];
        var expectedOne = one.Rerank("capital", docs.Select(d => new Document(d)).ToList());
        var expectedTwo = two.Rerank("capital", docs.Select(d => new Document(d)).ToList());
        Assert.NotEqual(expectedOne[0].Score, expectedTwo[0].Score);

        foreach (var (model, expected) in new[] { ((string?)null, expectedOne), ("one", expectedOne), ("two", expectedTwo) })
        {
            using var response = await server.PostJsonAsync("/v1/rerank", new { model, query = "capital", documents = docs });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = await ServerHarness.JsonAsync(response);
            Assert.Equal(model ?? "one", body["model"]!.GetValue<string>());
            var results = body["results"]!.AsArray();
            for (var i = 0; i < expected.Count; i++)
            {
                Assert.Equal(expected[i].Index, results[i]!["index"]!.GetValue<int>());
                Assert.Equal(expected[i].Score, results[i]!["relevance_score"]!.GetValue<float>(), 1e-5f);
            }
        }
        using var tei = await server.PostJsonAsync("/rerank", new { model = "two", query = "capital", texts = docs });
        var rank = (await ServerHarness.JsonAsync(tei)).AsArray();
        Assert.Equal(expectedTwo[0].Score, rank[0]!["score"]!.GetValue<float>(), 1e-5f);

        using var info = await server.Client.GetAsync("/info");
        var models = (await ServerHarness.JsonAsync(info))["models"]!.AsArray();
        Assert.Equal(["one", "two"], models.Select(m => m!["name"]!.GetValue<string>()));
        Assert.Equal("softmax", models[1]!["activation"]!.GetValue<string>());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Concurrent_requests_each_get_exactly_their_own_scores(bool dynamicBatching)
    {
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with { DynamicBatching = dynamicBatching, MaxBatchRequests = 16 }));
        using var library = CrossEncoder.Load(ServerHarness.Tiny, new CrossEncoderOptions { IntraOpThreads = 1 });
        var rng = new Random(7);
        var requests = Enumerable.Range(0, 48).Select(i =>
        {
            var n = 1 + rng.Next(12);
            var docs = Enumerable.Range(0, n).Select(_ => Corpus.Docs[rng.Next(Corpus.Docs.Length)] + " " + Corpus.Long(rng.Next(40))).ToArray();
            var query = Corpus.Queries[i % Corpus.Queries.Length] + " #" + i;
            return (query, docs);
        }).ToList();

        var responses = await Task.WhenAll(requests.Select(async r =>
        {
            using var response = await server.PostJsonAsync("/rerank", new { r.query, texts = r.docs, raw_scores = true });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (await ServerHarness.JsonAsync(response)).AsArray();
        }));

        for (var k = 0; k < requests.Count; k++)
        {
            var (query, docs) = requests[k];
            var expected = library.Rerank(query, docs.Select(d => new Document(d)).ToList(), new RerankOptions { Activation = ScoreActivation.Raw });
            var got = responses[k];
            Assert.Equal(docs.Length, got.Count);
            foreach (var e in expected)
            {
                var score = got.Single(x => x!["index"]!.GetValue<int>() == e.Index)!["score"]!.GetValue<float>();
                Assert.Equal(e.Logits[^1], score, 1e-5f);
            }
        }

        var metrics = await (await server.Client.GetAsync("/metrics")).Content.ReadAsStringAsync();
        var total = requests.Sum(r => r.docs.Length);
        Assert.Contains($"sift_pairs_scored_total{{model=\"ce-bert-tiny\"}} {total}", metrics);
        Assert.Contains("sift_queue_depth{model=\"ce-bert-tiny\"} 0", metrics);
    }

    [Fact]
    public async Task A_client_that_disconnects_cancels_its_queued_work()
    {
        // The MiniLM-sized fixture is slow enough (one thread) that the big request keeps the worker busy for seconds.
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with
        {
            MaxBatchRequests = 8,
            BatchWorkers = 1, // one worker: the small request's pairs wait behind the big one's
            Models = [new ModelSpec(null, Sift.Testing.TestPaths.Fixture("ce-minilm-l6-arch"))],
        }));
        // A big request keeps the worker busy; the second client gives up while its pairs are still queued.
        var big = server.PostJsonAsync("/rerank", new { query = "busy", texts = Enumerable.Range(0, 200).Select(i => Corpus.Long(60) + i).ToArray(), truncate = true });
        var registry = server.Service<ModelRegistry>();
        await WaitUntil(() => registry.Models[0].Runner.QueueDepth > 0);
        using var cts = new CancellationTokenSource();
        var small = server.PostJsonAsync("/rerank", new { query = "gone", texts = Enumerable.Range(0, 50).Select(i => "doc " + i).ToArray() }, cts.Token);
        var batcher = Assert.IsType<Sift.Server.Batching.DynamicBatcher>(registry.Models[0].Runner);
        await WaitUntil(() => batcher.EnqueuedPairs >= 250 || big.IsCompleted);
        Assert.False(big.IsCompleted, "the busy request finished too soon for this test");
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => small);
        using var bigResponse = await big;
        Assert.Equal(HttpStatusCode.OK, bigResponse.StatusCode);
        await WaitUntil(() => registry.Models[0].Runner.QueueDepth == 0);

        var metrics = await (await server.Client.GetAsync("/metrics")).Content.ReadAsStringAsync();
        Assert.Contains("sift_pairs_cancelled_total{model=\"ce-minilm-l6-arch\"} 50", metrics);
        Assert.Contains("sift_pairs_scored_total{model=\"ce-minilm-l6-arch\"} 200", metrics);
    }

    [Fact]
    public async Task Int8_precision_loads_the_quantized_weights()
    {
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with { Precision = ModelPrecision.Int8 }));
        using var library = CrossEncoder.Load(ServerHarness.Tiny, new CrossEncoderOptions { Precision = ModelPrecision.Int8 });
        using var response = await server.PostJsonAsync("/rerank", new { query = "q", texts = Corpus.Docs[..3] });
        var ranks = (await ServerHarness.JsonAsync(response)).AsArray();
        var expected = library.Rerank("q", Corpus.Docs[..3].Select(d => new Document(d)).ToList());
        Assert.Equal(expected[0].Score, ranks[0]!["score"]!.GetValue<float>(), 1e-5f);
        var info = await ServerHarness.JsonAsync(await server.Client.GetAsync("/info"));
        Assert.Equal("int8", info["model_dtype"]!.GetValue<string>());
        // /info names the weights file (no path: issue 15) and its checksum.
        Assert.Equal("model_quantized.onnx", info["models"]![0]!["onnx_file"]!.GetValue<string>());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(ServerHarness.Tiny, "onnx", "model_quantized.onnx")))),
            info["models"]![0]!["sha256"]!.GetValue<string>());
    }
}
