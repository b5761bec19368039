using System.Diagnostics;
using System.Net;
using System.Text;
using Sift.Onnx;
using Sift.Retrieval;

namespace Sift.Server.Tests;

/// <summary>
/// Bounded fuzzing (issue 15): random bytes, random JSON and random unicode at every route for a fixed time. No answer
/// may be a 5xx, every error must be JSON, and the server must still answer /health and a valid request afterwards.
/// Set SIFT_FUZZ_SEED to replay a failure (the seed is in the failure message); SIFT_FUZZ_SECONDS to run longer.
/// </summary>
public sealed class FuzzTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sift-fuzz-index-" + Guid.NewGuid().ToString("N"));

    private static readonly string[] PostRoutes = ["/rerank", "/v1/rerank", "/v2/rerank", "/search"];
    private static readonly string[] GetRoutes = ["/health", "/info", "/metrics", "/openapi/v1.json", "/openapi/v2.json", "/", "/rerank"];
    private static readonly string[] Fields =
    [
        "query", "texts", "documents", "model", "top_n", "top_k", "raw_scores", "return_text", "truncate", "truncation_direction",
        "return_documents", "max_tokens_per_doc", "rank_fields", "max_chunks_per_doc", "mode", "threshold", "text", "title", "priority",
    ];

    public async Task InitializeAsync()
    {
        using var index = SiftIndex.Create(_dir);
        await index.AddAsync(Corpus.Docs.Where(d => d.Length > 0).Select((d, i) => new Document(d, id: "d" + i)).ToList());
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
    public async Task Random_input_at_every_route_never_gets_a_5xx()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("SIFT_FUZZ_SEED"), out var s) ? s : Environment.TickCount;
        var seconds = double.TryParse(Environment.GetEnvironmentVariable("SIFT_FUZZ_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out var sec) ? sec : 15;
        var rng = new Random(seed);
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with { IndexPath = _dir, MaxClientBatchSize = 50 }));
        var sw = Stopwatch.StartNew();
        var sent = 0;
        var statuses = new Dictionary<int, int>();
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            var kind = rng.Next(4);
            HttpRequestMessage request;
            if (rng.Next(6) == 0)
            {
                // Random paths without controls or lone surrogates: TestServer's client cannot build those (Kestrel answers them 400 itself).
                var path = rng.Next(3) == 0
                    ? "/fuzz/" + new string(RandomUnicode(rng, 20).Where(c => !char.IsControl(c) && !char.IsSurrogate(c) && c is not '?' and not '#').ToArray())
                    : GetRoutes[rng.Next(GetRoutes.Length)];
                request = new HttpRequestMessage(rng.Next(4) == 0 ? HttpMethod.Head : HttpMethod.Get, new Uri(server.Client.BaseAddress!, Uri.EscapeDataString(path).Replace("%2F", "/")));
            }
            else
            {
                byte[] body = kind switch
                {
                    0 => RandomBytes(rng),
                    1 => Encoding.UTF8.GetBytes(RandomJson(rng, 0)),
                    2 => Encoding.UTF8.GetBytes(PlausibleRequest(rng)),
                    _ => Mutate(rng, Encoding.UTF8.GetBytes(PlausibleRequest(rng))),
                };
                request = new HttpRequestMessage(HttpMethod.Post, PostRoutes[rng.Next(PostRoutes.Length)]) { Content = new ByteArrayContent(body) };
                request.Content.Headers.TryAddWithoutValidation("Content-Type", rng.Next(3) == 0 ? "text/plain" : "application/json");
            }
            var description = $"{request.Method} {request.RequestUri} (seed {seed}, request {sent})";
            using (request)
            using (var response = await server.Client.SendAsync(request))
            {
                var status = (int)response.StatusCode;
                statuses[status] = statuses.GetValueOrDefault(status) + 1;
                var text = await response.Content.ReadAsStringAsync();
                Assert.True(status < 500, $"{description} answered {status}: {text}");
                if (status >= 400 && request.Method != HttpMethod.Head)
                {
                    Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
                    System.Text.Json.JsonDocument.Parse(text).Dispose();
                }
            }
            sent++;
        }
        Assert.True(sent > 100, $"only {sent} requests in {seconds} s");
        using var health = await server.Client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using var ok = await server.PostJsonAsync("/rerank", new { query = "q", texts = new[] { "a", "b" } });
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.True(statuses.Keys.Any(k => k == 200), "no request succeeded: the fuzzer only exercised parsing; statuses " + string.Join(", ", statuses));
    }

    private static byte[] RandomBytes(Random rng)
    {
        var b = new byte[rng.Next(0, 600)];
        rng.NextBytes(b);
        return b;
    }

    private static byte[] Mutate(Random rng, byte[] b)
    {
        for (var i = rng.Next(1, 4); i > 0 && b.Length > 0; i--)
        {
            b[rng.Next(b.Length)] = (byte)rng.Next(256);
        }
        return b;
    }

    /// <summary>Text from all of Unicode, including escaped lone surrogates, controls, and characters JSON must escape.</summary>
    private static string RandomUnicode(Random rng, int max)
    {
        var sb = new StringBuilder();
        for (var n = rng.Next(0, max); n > 0; n--)
        {
            switch (rng.Next(6))
            {
                case 0: sb.Append((char)rng.Next(0x20, 0x7f)); break;
                case 1: sb.Append(char.ConvertFromUtf32(rng.Next(0x80, 0xd800))); break;
                case 2: sb.Append(char.ConvertFromUtf32(rng.Next(0x10000, 0x10ffff))); break;
                case 3: sb.Append((char)rng.Next(0xd800, 0xe000)); break; // lone surrogate
                case 4: sb.Append((char)rng.Next(0, 0x20)); break;
                default: sb.Append("token" + rng.Next(50) + ' '); break;
            }
        }
        return sb.ToString();
    }

    /// <summary>A JSON string literal, with lone surrogates written as \u escapes (valid JSON, invalid text).</summary>
    private static string JsonString(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in s)
        {
            if (c is '"' or '\\') sb.Append('\\').Append(c);
            else if (c < 0x20 || char.IsSurrogate(c)) sb.Append("\\u").Append(((int)c).ToString("x4"));
            else sb.Append(c);
        }
        return sb.Append('"').ToString();
    }

    private static string RandomJson(Random rng, int depth)
    {
        switch (depth > 4 ? rng.Next(5) : rng.Next(8))
        {
            case 0: return "null";
            case 1: return rng.Next(2) == 0 ? "true" : "false";
            case 2: return rng.Next(3) switch { 0 => rng.Next(-5, 100).ToString(), 1 => (rng.NextDouble() * 1e6 - 5e5).ToString("R", System.Globalization.CultureInfo.InvariantCulture), _ => "1e400" };
            case 3:
            case 4: return JsonString(RandomUnicode(rng, 30));
            case 5: return "[" + string.Join(",", Enumerable.Range(0, rng.Next(0, 6)).Select(_ => RandomJson(rng, depth + 1))) + "]";
            default:
                return "{" + string.Join(",", Enumerable.Range(0, rng.Next(0, 7)).Select(_ =>
                    JsonString(rng.Next(3) == 0 ? RandomUnicode(rng, 8) : Fields[rng.Next(Fields.Length)]) + ":" + RandomJson(rng, depth + 1))) + "}";
        }
    }

    /// <summary>A request shaped like a real one, with each field's value drawn from a plausible or a wrong type.</summary>
    private static string PlausibleRequest(Random rng)
    {
        string Value(string field) => rng.Next(4) == 0 ? RandomJson(rng, 3) : field switch
        {
            "query" or "model" or "mode" or "truncation_direction" or "text" => JsonString(rng.Next(5) == 0 ? "ce-bert-tiny" : RandomUnicode(rng, 40)),
            "texts" or "documents" or "rank_fields" => "[" + string.Join(",", Enumerable.Range(0, rng.Next(0, 8)).Select(_ =>
                rng.Next(3) == 0 ? "{\"text\":" + JsonString(RandomUnicode(rng, 200)) + ",\"title\":" + JsonString(RandomUnicode(rng, 10)) + "}" : JsonString(RandomUnicode(rng, 300)))) + "]",
            "threshold" => (rng.NextDouble() * 2 - 0.5).ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            "raw_scores" or "return_text" or "truncate" or "return_documents" => rng.Next(2) == 0 ? "true" : "false",
            _ => rng.Next(-2, 70).ToString(),
        };
        var fields = Fields.Where(_ => rng.Next(2) == 0).Prepend("query").Append(rng.Next(2) == 0 ? "texts" : "documents").Distinct();
        return "{" + string.Join(",", fields.Select(f => JsonString(f) + ":" + Value(f))) + "}";
    }
}
