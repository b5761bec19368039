using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Sift.Onnx;
using Sift.Server.Runtime;
using Sift.Testing;

namespace Sift.Server.Tests;

/// <summary>The real server app (same builder as the CLI) on an in-memory TestServer, with the real tiny model.</summary>
public sealed class ServerHarness : IAsyncDisposable
{
    private ServerHarness(WebApplication app, HttpClient client)
    {
        App = app;
        Client = client;
    }

    public static string Tiny => TestPaths.Fixture("ce-bert-tiny");
    public static string Tiny2Label => TestPaths.Fixture("ce-bert-tiny-2label");

    public WebApplication App { get; }
    public HttpClient Client { get; }

    public static ServerOptions Options(Func<ServerOptions, ServerOptions>? change = null)
    {
        var o = new ServerOptions { Models = [new ModelSpec(null, Tiny)], Threads = 1 };
        return change is null ? o : change(o);
    }

    public static async Task<ServerHarness> StartAsync(ServerOptions options, bool waitReady = true)
    {
        var builder = SiftServer.CreateBuilder(options);
        builder.WebHost.UseTestServer();
        var app = SiftServer.Build(builder);
        await app.StartAsync();
        var harness = new ServerHarness(app, app.GetTestClient());
        if (waitReady)
        {
            await harness.WaitReadyAsync();
        }
        return harness;
    }

    public async Task WaitReadyAsync()
    {
        var registry = App.Services.GetRequiredService<ModelRegistry>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (registry.State == ServerState.Loading && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        Assert.True(registry.State == ServerState.Ready, $"server not ready: {registry.State} {registry.FailureMessage}");
    }

    public T Service<T>() where T : notnull => App.Services.GetRequiredService<T>();

    public Task<HttpResponseMessage> PostJsonAsync(string path, object body, CancellationToken ct = default) =>
        PostRawAsync(path, JsonSerializer.Serialize(body), ct);

    public Task<HttpResponseMessage> PostRawAsync(string path, string body, CancellationToken ct = default) =>
        Client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"), ct);

    public static async Task<JsonNode> JsonAsync(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync()) ?? throw new InvalidOperationException("null JSON");

    /// <summary>
    /// Asserts the status and the error body in the route's protocol shape (TEI <c>{"error": MESSAGE, "error_type"}</c>,
    /// Cohere/Jina <c>{"message"}</c>, Sift <c>{"error": {"code", "message"}}</c>), each with Sift's code and field;
    /// returns them as one object with "code", "message" and "field".
    /// </summary>
    public static async Task<JsonObject> AssertErrorAsync(HttpResponseMessage response, int status, string? code = null, string? field = null)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var root = JsonNode.Parse(text)!.AsObject();
        var path = response.RequestMessage?.RequestUri?.AbsolutePath.TrimEnd('/') ?? "";
        JsonObject error;
        if (path is "/rerank" or "/health" or "/info")
        {
            Assert.True(root["error"] is JsonValue, "TEI routes answer {\"error\": MESSAGE, \"error_type\"}: " + text);
            Assert.Contains(root["error_type"]!.GetValue<string>(), new[] { "Validation", "Overloaded", "Tokenizer", "Backend", "Unhealthy" });
            error = new JsonObject { ["code"] = root["code"]?.GetValue<string>(), ["message"] = root["error"]!.GetValue<string>(), ["field"] = root["field"]?.GetValue<string>() };
        }
        else if (path is "/v1/rerank" or "/v2/rerank")
        {
            Assert.Null(root["error"]);
            error = new JsonObject { ["code"] = root["code"]?.GetValue<string>(), ["message"] = root["message"]!.GetValue<string>(), ["field"] = root["field"]?.GetValue<string>() };
        }
        else
        {
            error = root["error"]!.AsObject().DeepClone().AsObject();
        }
        Assert.False(string.IsNullOrWhiteSpace(error["code"]!.GetValue<string>()));
        var message = error["message"]!.GetValue<string>();
        Assert.False(string.IsNullOrWhiteSpace(message));
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal); // no stack trace
        if (code is not null) Assert.Equal(code, error["code"]!.GetValue<string>());
        if (field is not null)
        {
            Assert.Equal(field, error["field"]?.GetValue<string>());
            Assert.Contains(field.Split('[')[0], message, StringComparison.Ordinal);
        }
        return error;
    }

    public static AuthenticationHeaderValue Bearer(string key) => new("Bearer", key);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

/// <summary>One server (dynamic batching on, defaults) and the library encoder the tests compare with.</summary>
public sealed class TinyServerFixture : IAsyncLifetime
{
    public ServerHarness Server { get; private set; } = null!;

    /// <summary>The library, loaded independently: the reference every server score is compared to.</summary>
    public CrossEncoder Library { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Library = CrossEncoder.Load(ServerHarness.Tiny, new CrossEncoderOptions { IntraOpThreads = 1 });
        Server = await ServerHarness.StartAsync(ServerHarness.Options());
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Library.Dispose();
    }
}

[CollectionDefinition("tiny")]
public sealed class TinyCollection : ICollectionFixture<TinyServerFixture>;

/// <summary>Texts for tests: short, medium, long, non-ASCII.</summary>
internal static class Corpus
{
    public static readonly string[] Docs =
    [
        "BM25 is a bag-of-words ranking function used by search engines to estimate relevance.",
        "Cross-encoders read the query and the passage together and output one relevance score.",
        "The capital of France is Paris, a city on the Seine.",
        "Dense retrieval embeds queries and documents into vectors and compares them by cosine similarity.",
        "Café crème und Müsli: Frühstück in Zürich. 東京は日本の首都です。",
        "",
        "Reciprocal rank fusion combines several ranked lists by summing 1 / (k + rank).",
        "Photosynthesis converts light energy into chemical energy in plants.",
    ];

    public static string Long(int words) => string.Join(' ', Enumerable.Range(0, words).Select(i => "token" + (i % 50)));

    public static string[] Queries =>
    [
        "what is bm25",
        "how do cross encoders score passages",
        "capital of france",
        "vector search",
        "frühstück",
        "rank fusion",
        "plants and light",
        "",
    ];
}
