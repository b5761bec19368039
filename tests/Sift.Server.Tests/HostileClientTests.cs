using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Sift.Onnx;

namespace Sift.Server.Tests;

/// <summary>
/// The faults a hostile client found (issue 15), one test each: every answer is a 4xx in the route's protocol shape,
/// never a 5xx, an empty body or plain text.
/// </summary>
[Collection("tiny")]
public sealed class HostileClientTests(TinyServerFixture fx)
{
    private Task<HttpResponseMessage> PostBytes(string path, byte[] body) =>
        fx.Server.Client.PostAsync(path, new ByteArrayContent(body) { Headers = { { "Content-Type", "application/json" } } });

    private static byte[] Bytes(params object[] parts) =>
        parts.SelectMany(p => p is string s ? Encoding.UTF8.GetBytes(s) : (byte[])p).ToArray();

    public static TheoryData<string, string, string> BadTextCases => new()
    {
        // JSON that is valid but holds an unpaired surrogate escape: .NET cannot turn it into a string.
        { "/rerank", "{\"query\":\"q\\ud800\",\"texts\":[\"x \\udc00\"]}", "query" },
        { "/rerank", "{\"query\":\"q\",\"texts\":[\"ok\", \"x \\udc00\"]}", "texts[1]" },
        { "/rerank", "{\"query\":\"q\",\"texts\":[\"ok\"],\"model\":\"\\ud800\"}", "model" },
        { "/v1/rerank", "{\"model\":\"m\\udfff\",\"query\":\"q\",\"documents\":[\"a\"]}", "model" },
        { "/v2/rerank", "{\"query\":\"q\",\"documents\":[{\"text\":\"\\ud83d\"}]}", "documents[0].text" },
        { "/v1/rerank", "{\"query\":\"q\",\"documents\":[\"\\udc00\\ud800\"]}", "documents[0]" },
        { "/rerank", "{\"\\udc00\":1,\"query\":\"q\",\"texts\":[\"a\"]}", "" }, // in a property name: no field to name
        { "/search", "{\"query\":\"\\ud800\"}", "" }, // no index here: 404 comes first, still not a 500
    };

    [Theory]
    [MemberData(nameof(BadTextCases))]
    public async Task Lone_surrogates_are_400_naming_the_field(string path, string body, string field)
    {
        using var response = await PostBytes(path, Encoding.UTF8.GetBytes(body));
        if (path == "/search")
        {
            await ServerHarness.AssertErrorAsync(response, 404, "no_index");
            return;
        }
        await ServerHarness.AssertErrorAsync(response, 400, "invalid_text", field.Length == 0 ? null : field);
    }

    [Theory]
    [InlineData("/rerank", "texts[0]")]
    [InlineData("/v1/rerank", "documents[0]")]
    [InlineData("/v2/rerank", "documents[0].text")]
    public async Task Bytes_that_are_not_utf8_are_400_naming_the_field(string path, string field)
    {
        var bad = new byte[] { (byte)'a', (byte)'b', 0xff, 0xfe, (byte)'c', (byte)'d' };
        var body = path == "/rerank" ? Bytes("{\"query\":\"q\",\"texts\":[\"", bad, "\"]}")
            : field.EndsWith(".text") ? Bytes("{\"query\":\"q\",\"documents\":[{\"text\":\"", bad, "\"}]}")
            : Bytes("{\"query\":\"q\",\"documents\":[\"", bad, "\"]}");
        using var response = await PostBytes(path, body);
        await ServerHarness.AssertErrorAsync(response, 400, "invalid_text", field);

        using var inQuery = await PostBytes(path, path == "/rerank" ? Bytes("{\"query\":\"", bad, "\",\"texts\":[\"a\"]}") : Bytes("{\"query\":\"", bad, "\",\"documents\":[\"a\"]}"));
        await ServerHarness.AssertErrorAsync(inQuery, 400, "invalid_text", "query");
    }

    [Fact]
    public async Task Each_protocol_answers_errors_in_its_own_shape()
    {
        using var tei = await fx.Server.PostRawAsync("/rerank", "{\"query\": 5, \"texts\": [\"a\"]}");
        var t = await ServerHarness.JsonAsync(tei);
        Assert.Equal("'query' must be a string", t["error"]!.GetValue<string>()); // TEI: error is the message
        Assert.Equal("Validation", t["error_type"]!.GetValue<string>());
        Assert.Equal("invalid_type", t["code"]!.GetValue<string>());

        using var cohere = await fx.Server.PostRawAsync("/v2/rerank", "{\"query\": \"q\"}");
        var c = await ServerHarness.JsonAsync(cohere);
        Assert.Equal("'documents' is required", c["message"]!.GetValue<string>()); // Cohere/Jina SDKs read message
        Assert.Equal("documents", c["field"]!.GetValue<string>());

        using var sift = await fx.Server.Client.GetAsync("/nope");
        var s = await ServerHarness.JsonAsync(sift);
        Assert.Equal("not_found", s["error"]!["code"]!.GetValue<string>());

        // Overloaded and unhealthy map to TEI's own error types.
        Assert.Equal("Overloaded", Http.ErrorBody.TeiErrorType(429, "overloaded"));
        Assert.Equal("Unhealthy", Http.ErrorBody.TeiErrorType(503, "model_loading"));
        Assert.Equal("Backend", Http.ErrorBody.TeiErrorType(500, "internal_error"));
        Assert.Equal("Tokenizer", Http.ErrorBody.TeiErrorType(422, "tokenizer"));
    }

    [Fact]
    public async Task Method_not_allowed_and_unknown_openapi_documents_are_json()
    {
        using var get = await fx.Server.Client.GetAsync("/rerank");
        // Issue 15: a route that exists for other methods is a 405 with Allow, not a 404.
        Assert.Contains("GET /rerank", (await ServerHarness.AssertErrorAsync(get, 405, "method_not_allowed"))["message"]!.GetValue<string>());
        Assert.Contains("POST", get.Content.Headers.Allow);
        using var v2 = await fx.Server.Client.GetAsync("/openapi/v2.json");
        var e = await ServerHarness.AssertErrorAsync(v2, 404, "not_found");
        Assert.Contains("/openapi/v1.json", e["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Head_health_is_200()
    {
        using var head = await fx.Server.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/health"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
    }

    [Fact]
    public async Task Info_shows_names_and_checksums_not_paths()
    {
        using var info = await fx.Server.Client.GetAsync("/info");
        var text = await info.Content.ReadAsStringAsync();
        Assert.DoesNotContain(Path.GetDirectoryName(ServerHarness.Tiny)!, text);
        Assert.DoesNotContain("\"path\"", text);
        var m = JsonNode.Parse(text)!["models"]![0]!;
        Assert.Equal("model.onnx", m["onnx_file"]!.GetValue<string>());
        Assert.Matches("^[0-9a-f]{64}$", m["sha256"]!.GetValue<string>());
        Assert.Equal(m["sha256"]!.GetValue<string>(), JsonNode.Parse(text)!["model_sha"]!.GetValue<string>());
    }

    [Fact]
    public async Task OpenApi_lists_metrics_security_optional_model_and_numeric_scores()
    {
        using var openapi = await fx.Server.Client.GetAsync("/openapi/v1.json");
        var doc = await ServerHarness.JsonAsync(openapi);
        Assert.NotNull(doc["paths"]!["/metrics"]!["get"]);
        Assert.Equal("bearer", doc["components"]!["securitySchemes"]!["bearer"]!["scheme"]!.GetValue<string>());
        Assert.Equal("http", doc["components"]!["securitySchemes"]!["bearer"]!["type"]!.GetValue<string>());
        var schemas = doc["components"]!["schemas"]!;
        var required = schemas["CohereRerankRequest"]!["required"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.DoesNotContain("model", required);
        Assert.Contains("query", required);
        Assert.Equal("number", schemas["TeiRank"]!["properties"]!["score"]!["type"]!.GetValue<string>());
        Assert.Equal("number", schemas["CohereResult"]!["properties"]!["relevance_score"]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Cohere_v1_rank_fields_rank_object_documents_by_those_fields()
    {
        var docs = new object[]
        {
            new { title = "BM25", body = "a ranking function used by search engines" },
            new { title = "Paris", body = "the capital of France" },
        };
        using var one = await fx.Server.PostJsonAsync("/v1/rerank", new { query = "what is bm25", documents = docs, rank_fields = new[] { "body" } });
        var r1 = (await ServerHarness.JsonAsync(one))["results"]!.AsArray();
        Assert.Equal(2, r1.Count);
        var byIndex1 = r1.ToDictionary(r => r!["index"]!.GetValue<int>(), r => r!["relevance_score"]!.GetValue<float>());
        Assert.Equal(fx.Library.Score("what is bm25", "a ranking function used by search engines"), byIndex1[0], 1e-5f);
        Assert.Equal(fx.Library.Score("what is bm25", "the capital of France"), byIndex1[1], 1e-5f);

        using var two = await fx.Server.PostJsonAsync("/v1/rerank", new { query = "what is bm25", documents = docs, rank_fields = new[] { "title", "body" } });
        var r2 = (await ServerHarness.JsonAsync(two))["results"]!.AsArray().ToDictionary(r => r!["index"]!.GetValue<int>(), r => r!["relevance_score"]!.GetValue<float>());
        Assert.Equal(fx.Library.Score("what is bm25", "title: BM25\nbody: a ranking function used by search engines"), r2[0], 1e-5f);

        using var missing = await fx.Server.PostJsonAsync("/v1/rerank", new { query = "q", documents = new object[] { new { title = "x" }, new { body = "y" } }, rank_fields = new[] { "title" } });
        await ServerHarness.AssertErrorAsync(missing, 422, "missing_field", "documents[1].title");
        using var empty = await fx.Server.PostJsonAsync("/v1/rerank", new { query = "q", documents = new[] { "a" }, rank_fields = Array.Empty<string>() });
        await ServerHarness.AssertErrorAsync(empty, 422, "invalid_value", "rank_fields");
    }

    [Fact]
    public async Task Cohere_max_chunks_per_doc_scores_the_best_window_like_the_library()
    {
        var longDoc = Corpus.Long(1500);
        using var chunked = CrossEncoder.Load(ServerHarness.Tiny, new CrossEncoderOptions { IntraOpThreads = 1, LongDocuments = LongDocumentStrategy.Chunk, MaxChunks = 3, ChunkOverlap = 64 });
        var expected = chunked.Rerank("token7", [new Document(longDoc), new Document("short")]);
        using var response = await fx.Server.PostJsonAsync("/v1/rerank", new { query = "token7", documents = new[] { longDoc, "short" }, max_chunks_per_doc = 3 });
        var results = (await ServerHarness.JsonAsync(response))["results"]!.AsArray().ToDictionary(r => r!["index"]!.GetValue<int>(), r => r!["relevance_score"]!.GetValue<float>());
        foreach (var e in expected)
        {
            Assert.Equal(e.Score, results[e.Index], 1e-5f);
        }
        // One chunk is plain truncation, as without the field.
        using var one = await fx.Server.PostJsonAsync("/v1/rerank", new { query = "token7", documents = new[] { longDoc }, max_chunks_per_doc = 1 });
        Assert.Equal(fx.Library.Score("token7", longDoc), (await ServerHarness.JsonAsync(one))["results"]![0]!["relevance_score"]!.GetValue<float>(), 1e-5f);
        using var bad = await fx.Server.PostJsonAsync("/v1/rerank", new { query = "q", documents = new[] { "a" }, max_chunks_per_doc = 0 });
        await ServerHarness.AssertErrorAsync(bad, 422, "invalid_value", "max_chunks_per_doc");
    }
}

/// <summary>Limits Kestrel enforces before any middleware: on a real socket, every answer is still JSON.</summary>
public sealed class KestrelLimitTests
{
    [Fact]
    public async Task Long_urls_big_headers_and_slow_bodies_get_json_errors()
    {
        var (app, baseUri) = await HostingTests.StartKestrelAsync(ServerHarness.Options());
        await using (app)
        {
            using var client = new HttpClient { BaseAddress = baseUri };
            using var longUrl = await client.GetAsync("/health?x=" + new string('a', 10_000));
            await ServerHarness.AssertErrorAsync(longUrl, 414, "uri_too_long");

            using var bigHeaders = new HttpRequestMessage(HttpMethod.Get, "/info");
            bigHeaders.Headers.Add("X-Big", new string('b', 40_000));
            using var big = await client.SendAsync(bigHeaders);
            await ServerHarness.AssertErrorAsync(big, 431, "headers_too_large");

            using var many = new HttpRequestMessage(HttpMethod.Get, "/v1/rerank");
            for (var i = 0; i < 150; i++) many.Headers.Add("X-H" + i, "v");
            using var manyResponse = await client.SendAsync(many);
            await ServerHarness.AssertErrorAsync(manyResponse, 431, "headers_too_large");

            // A body that stops arriving: Kestrel's minimum data rate (240 B/s after a 5 s grace) trips, and the answer is a JSON 408.
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(baseUri.Host, baseUri.Port);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /rerank HTTP/1.1\r\nHost: {baseUri.Authority}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"query\""));
            var buffer = new byte[8192];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var received = new StringBuilder();
            while (!received.ToString().Contains("}", StringComparison.Ordinal))
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (n == 0) break;
                received.Append(Encoding.UTF8.GetString(buffer, 0, n));
            }
            var text = received.ToString();
            Assert.True(text.StartsWith("HTTP/1.1 408", StringComparison.Ordinal), text);
            Assert.Contains("application/json", text);
            var json = text[text.IndexOf("\r\n\r\n", StringComparison.Ordinal)..]; // chunked: the JSON sits inside one chunk
            var body = JsonNode.Parse(json[json.IndexOf('{')..(json.LastIndexOf('}') + 1)])!;
            Assert.Equal("request_timeout", body["code"]!.GetValue<string>());
            Assert.Equal("Validation", body["error_type"]!.GetValue<string>());
        }
    }
}
