using System.Collections;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Sift.Onnx;
using Sift.Server.Http;

namespace Sift.Server.Tests;

/// <summary>Options from flags, environment and config file; real Kestrel on loopback; graceful drain.</summary>
public sealed class HostingTests
{
    [Fact]
    public void Model_specs_parse_dir_and_name_equals_dir()
    {
        Assert.Equal(new ModelSpec(null, "/models/a"), ModelSpec.Parse("/models/a"));
        Assert.Equal(new ModelSpec("rerank-v3.5", "/models/a=b"), ModelSpec.Parse("rerank-v3.5=/models/a=b"));
        Assert.Equal(new ModelSpec(null, "./x=y/z"), ModelSpec.Parse("./x=y/z")); // '=' after a path separator is part of the path
        Assert.Throws<SiftException>(() => ModelSpec.Parse("name= "));
    }

    [Fact]
    public void Config_file_then_environment_override_defaults()
    {
        var path = Path.Combine(Path.GetTempPath(), $"sift-serve-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """
            {
              // comments are allowed
              "model": ["a=/m/a", "/m/b"],
              "port": 9001,
              "max_batch_tokens": 4096,
              "max-concurrent-requests": 8,
              "precision": "int8",
              "dynamic_batching": false,
              "api_key": "from-file",
            }
            """);
        try
        {
            var fromFile = ServerOptions.FromJsonFile(path);
            Assert.Equal([new ModelSpec("a", "/m/a"), new ModelSpec(null, "/m/b")], fromFile.Models);
            Assert.Equal(9001, fromFile.Port);
            Assert.Equal(4096, fromFile.MaxBatchTokens);
            Assert.Equal(8, fromFile.MaxConcurrentRequests);
            Assert.Equal(ModelPrecision.Int8, fromFile.Precision);
            Assert.False(fromFile.DynamicBatching);
            Assert.Equal("127.0.0.1", fromFile.Host); // default kept

            var env = new Hashtable
            {
                ["SIFT_PORT"] = "9002",
                ["SIFT_API_KEY"] = "from-env",
                ["SIFT_MODEL"] = "x=/m/x;/m/y",
                ["SIFT_MAX_CLIENT_BATCH_SIZE"] = "5",
                ["SIFT_DEBUG"] = "1", // other SIFT_ variables are not ours: ignored
                ["PATH"] = "/bin",
            };
            var merged = fromFile.ApplyEnvironment(env);
            Assert.Equal(9002, merged.Port);
            Assert.Equal("from-env", merged.ApiKey);
            Assert.Equal(5, merged.MaxClientBatchSize);
            Assert.Equal([new ModelSpec("x", "/m/x"), new ModelSpec(null, "/m/y")], merged.Models);
            Assert.Equal(4096, merged.MaxBatchTokens);
            Assert.DoesNotContain("from-env", merged.ToString());

            Assert.Throws<SiftException>(() => fromFile.ApplyEnvironment(new Hashtable { ["SIFT_PORT"] = "eighty" }));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void One_load_layers_file_environment_and_flags_with_one_name_per_setting()
    {
        var path = Path.Combine(Path.GetTempPath(), $"sift-serve-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{ "model": "/m/file", "port": 9001, "stride": 16, "max_chunks": 4, "api_key": null, "long_docs": "chunk" }""");
        try
        {
            var env = new Hashtable { ["SIFT_PORT"] = "9002", ["SIFT_CHUNK_OVERLAP"] = "24", ["SIFT_HOME"] = "/ignored" };
            var o = ServerOptions.Load(path, env, [new("port", "9003"), new("model:0", "a=/m/a"), new("model:1", "/m/b"), new("no-dynamic-batching", "true")]);
            Assert.Equal(9003, o.Port); // flags over environment over file
            Assert.Equal(24, o.ChunkOverlap); // stride (file) is the old name of chunk-overlap (environment)
            Assert.Equal(4, o.MaxChunks);
            Assert.Equal(LongDocumentStrategy.Chunk, o.LongDocs);
            Assert.Null(o.ApiKey);
            Assert.False(o.DynamicBatching);
            Assert.Equal([new ModelSpec("a", "/m/a"), new ModelSpec(null, "/m/b")], o.Models);
            Assert.Equal(16, ServerOptions.Load(path, new Hashtable()).ChunkOverlap);
            Assert.StartsWith("command line: unknown setting 'prot'", Assert.Throws<SiftException>(() => ServerOptions.Load(path, env, [new("prot", "1")])).Message);
            Assert.StartsWith("command line: port must be an integer", Assert.Throws<SiftException>(() => ServerOptions.Load(null, env, [new("port", "x")])).Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Bad_config_is_a_clear_error()
    {
        var path = Path.Combine(Path.GetTempPath(), $"sift-serve-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, "{\"prot\": 80}");
            var ex = Assert.Throws<SiftException>(() => ServerOptions.FromJsonFile(path));
            Assert.Contains("unknown setting 'prot'", ex.Message);
            File.WriteAllText(path, "{\"port\": ");
            Assert.Contains("malformed JSON", Assert.Throws<SiftException>(() => ServerOptions.FromJsonFile(path)).Message);
            Assert.Throws<SiftException>(() => ServerOptions.FromJsonFile(path + ".missing"));
        }
        finally
        {
            File.Delete(path);
        }
        Assert.Contains("--model", Assert.Throws<SiftException>(() => new ServerOptions().Validate()).Message);
        Assert.Throws<SiftException>(() => ServerHarness.Options(o => o with { MaxBatchTokens = 0 }).Validate());
        Assert.Throws<SiftException>(() => ServerHarness.Options(o => o with { Port = 70000 }).Validate());
    }

    internal static async Task<(WebApplication App, Uri Base)> StartKestrelAsync(ServerOptions options)
    {
        var app = SiftServer.Build(SiftServer.CreateBuilder(options with { Host = "127.0.0.1", Port = 0 }));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        var uri = new Uri(address);
        Assert.Equal("127.0.0.1", uri.Host); // loopback only
        var registry = app.Services.GetRequiredService<Runtime.ModelRegistry>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (registry.State != Runtime.ServerState.Ready && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        return (app, uri);
    }

    [Fact]
    public async Task Kestrel_on_loopback_serves_and_drains_in_flight_requests_on_stop()
    {
        var (app, baseUri) = await StartKestrelAsync(ServerHarness.Options(o => o with { MaxBatchRequests = 8 }));
        using var client = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(120) };
        await using (app)
        {
            using (var health = await client.GetAsync("/health"))
            {
                Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            }

            // Four requests in flight (their bodies still arriving), then a stop (what SIGTERM does): every one still
            // completes, including its inference, which runs during the drain.
            var limiter = app.Services.GetRequiredService<ConcurrencyLimiter>();
            var release = new TaskCompletionSource();
            var texts = JsonSerializer.Serialize(Enumerable.Range(0, 200).Select(i => Corpus.Long(100) + i).ToArray());
            var inflight = Enumerable.Range(0, 4)
                .Select(_ => client.PostAsync("/rerank", new GatedContent("{\"query\": \"drain\", \"truncate\": true, ", "\"texts\": " + texts + "}", release.Task)))
                .ToList();
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (limiter.InFlight < 4 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(5);
            }
            Assert.Equal(4, limiter.InFlight);
            var stop = app.StopAsync();
            await Task.Delay(200);
            Assert.False(stop.IsCompleted, "stop did not wait for the requests in flight");
            release.SetResult();
            var responses = await Task.WhenAll(inflight);
            await stop;
            foreach (var r in responses)
            {
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
                Assert.Equal(200, JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetArrayLength());
                r.Dispose();
            }
            // Stopped: no longer accepting.
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync("/health"));
        }
    }

    [Fact]
    public void A_host_that_is_not_an_ip_is_refused()
    {
        var ex = Assert.Throws<SiftException>(() => SiftServer.CreateBuilder(ServerHarness.Options(o => o with { Host = "example.org", Port = 0 })));
        Assert.Contains("not an IP address", ex.Message);
    }
}
