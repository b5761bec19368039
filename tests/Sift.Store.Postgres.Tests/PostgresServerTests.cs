using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sift.Retrieval;
using Sift.Server;
using Sift.Server.Runtime;

namespace Sift.Store.Postgres.Tests;

/// <summary>The real server app on a TestServer, with every log line kept (to prove no credential is ever logged).</summary>
internal sealed class StoreServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    public HttpClient Client { get; }
    public ConcurrentQueue<string> Log { get; } = new();

    private StoreServer(WebApplication app, ConcurrentQueue<string> log)
    {
        _app = app;
        Log = log;
        Client = app.GetTestClient();
    }

    public static async Task<StoreServer> StartAsync(string store)
    {
        var options = new ServerOptions { Models = [new ModelSpec(null, Data.CrossEncoderPath)], Threads = 1, Store = store };
        var builder = SiftServer.CreateBuilder(options);
        builder.WebHost.UseTestServer();
        var log = new ConcurrentQueue<string>();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddProvider(new ListLogger(log));
        var app = SiftServer.Build(builder);
        await app.StartAsync();
        var server = new StoreServer(app, log);
        var registry = app.Services.GetRequiredService<ModelRegistry>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (registry.State == ServerState.Loading && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(registry.State == ServerState.Ready, $"server not ready: {registry.State} {registry.FailureMessage}");
        return server;
    }

    public async Task<(HttpStatusCode Status, JsonNode Body, TimeSpan Took)> SearchAsync(object body)
    {
        var sw = Stopwatch.StartNew();
        using var response = await Client.PostAsync("/search", new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonNode.Parse(text)!, sw.Elapsed);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed class ListLogger(ConcurrentQueue<string> log) : ILoggerProvider, ILogger
    {
        public ILogger CreateLogger(string categoryName) => this;
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            log.Enqueue(formatter(state, exception) + (exception is null ? "" : " " + exception));
        public void Dispose() { }
    }
}

[Collection("postgres")]
public sealed class PostgresServerTests(PgClusterFixture fixture)
{
    [PostgresFact]
    public async Task Two_servers_share_one_store_and_neither_shows_the_password()
    {
        var cluster = fixture.Cluster;
        var address = cluster.Address("srv_" + Guid.NewGuid().ToString("N")[..8]);
        using var embedder = Data.Embedder();
        using (var store = await PostgresStore.OpenAsync(address, create: true))
        {
            await store.AddAsync(Data.Docs(300), new IndexAddOptions { Embedder = embedder, DenseModel = Data.BiEncoderPath });
        }
        await using var a = await StoreServer.StartAsync(address);
        await using var b = await StoreServer.StartAsync(address);
        foreach (var mode in new[] { "fts", "dense", "hybrid" })
        {
            var ra = await a.SearchAsync(new { query = "cholesterol and heart disease", mode, top_n = 20, top_k = 5 });
            var rb = await b.SearchAsync(new { query = "cholesterol and heart disease", mode, top_n = 20, top_k = 5 });
            Assert.True(ra.Status == HttpStatusCode.OK, ra.Body.ToJsonString());
            Assert.Equal(HttpStatusCode.OK, rb.Status);
            Assert.Equal(mode, ra.Body["mode"]!.GetValue<string>());
            Assert.Equal(5, ra.Body["results"]!.AsArray().Count);
            Assert.Equal(ra.Body["results"]!.ToJsonString(), rb.Body["results"]!.ToJsonString());
        }
        Assert.Equal("hybrid", (await a.SearchAsync(new { query = "cells" })).Body["mode"]!.GetValue<string>());

        var bm25 = await a.SearchAsync(new { query = "cells", mode = "bm25" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, bm25.Status);
        Assert.Contains("not BM25", bm25.Body.ToJsonString(), StringComparison.Ordinal);

        var info = await a.Client.GetStringAsync("/info");
        var search = JsonNode.Parse(info)!["search"]!;
        Assert.StartsWith($"postgres://{PgCluster.User}@127.0.0.1:{cluster.Port}/postgres", search["index"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.True(search["dense"]!.GetValue<bool>());
        Assert.DoesNotContain(cluster.Password, info, StringComparison.Ordinal);
        Assert.Contains(a.Log, l => l.Contains("Opened store", StringComparison.Ordinal));
        Assert.DoesNotContain(a.Log.Concat(b.Log), l => l.Contains(cluster.Password, StringComparison.Ordinal));
    }

    [PostgresFact]
    public async Task A_frozen_or_stopped_database_is_a_503_within_the_timeout_never_a_hang()
    {
        await using var cluster = await PgCluster.StartAsync();
        var address = cluster.Address("faults", commandTimeout: 2);
        using (var store = await PostgresStore.OpenAsync(address, create: true))
        {
            await store.AddAsync(Data.Docs(100));
        }
        await using var server = await StoreServer.StartAsync(address);
        var ok = await server.SearchAsync(new { query = "cells", top_n = 10, top_k = 3 });
        Assert.Equal(HttpStatusCode.OK, ok.Status);

        // Frozen: the server process is alive and its TCP port accepts, but nothing answers.
        cluster.Signal("STOP");
        try
        {
            var frozen = await server.SearchAsync(new { query = "cells", top_n = 10, top_k = 3 });
            Assert.True(frozen.Status == HttpStatusCode.ServiceUnavailable, frozen.Body.ToJsonString());
            Assert.Equal("store_unavailable", frozen.Body["error"]!["code"]!.GetValue<string>());
            Assert.True(frozen.Took < TimeSpan.FromSeconds(12), $"took {frozen.Took}"); // command_timeout 2 s + cancellation 2 s (+ connect 3 s)
            Assert.DoesNotContain(cluster.Password, frozen.Body.ToJsonString(), StringComparison.Ordinal);
        }
        finally
        {
            cluster.Signal("CONT");
        }
        // Back: the pool recovers without a restart.
        var again = await RetryAsync(() => server.SearchAsync(new { query = "cells", top_n = 10, top_k = 3 }));
        Assert.Equal(HttpStatusCode.OK, again.Status);

        // Gone mid-service (crash-stop): 503 at once.
        cluster.StopImmediately();
        var down = await server.SearchAsync(new { query = "cells", top_n = 10, top_k = 3 });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.Status);
        Assert.Contains("is unavailable", down.Body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.True(down.Took < TimeSpan.FromSeconds(8), $"took {down.Took}");
        Assert.DoesNotContain(server.Log, l => l.Contains(cluster.Password, StringComparison.Ordinal));
    }

    private static async Task<(HttpStatusCode Status, JsonNode Body, TimeSpan Took)> RetryAsync(Func<Task<(HttpStatusCode Status, JsonNode Body, TimeSpan Took)>> call)
    {
        for (var i = 0; ; i++)
        {
            var r = await call();
            if (r.Status == HttpStatusCode.OK || i == 10) return r;
            await Task.Delay(300);
        }
    }
}
