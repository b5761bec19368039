using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sift.Server;
using Sift.Server.Runtime;
using Sift.Testing;

// Load test for `sift serve`: N concurrent clients send 10-document rerank requests for a bounded time, then it
// reports requests, failures, p50/p99 latency and throughput. It starts the real server in-process on 127.0.0.1
// (--model), or targets a running one (--url, loopback addresses only). It always stops by itself.
//
//   dotnet run -c Release --project benchmarks/Sift.LoadTest -- --model ../shared/models/fixtures/ce-minilm-l6-arch
//   dotnet run -c Release --project benchmarks/Sift.LoadTest -- --model DIR --no-dynamic-batching
//   dotnet run -c Release --project benchmarks/Sift.LoadTest -- --url http://127.0.0.1:8080
//   dotnet run -c Release --project benchmarks/Sift.LoadTest -- --url http://127.0.0.1:8080 --endpoint /search --mode fts --top-n 10
return await LoadTest.MainAsync(args);

internal static class LoadTest
{
    private const string Usage = """
        usage: Sift.LoadTest (--model DIR | --url http://127.0.0.1:PORT) [options]
          --clients N              concurrent clients (default 32)
          --duration S             seconds of load (default 60, at most 600)
          --warmup S               seconds of load before measuring (default 3)
          --docs N                 documents per request (default 10)
          --words N                words per document (default 60)
          --endpoint PATH          /rerank (default), /v1/rerank, /v2/rerank or /search (SciFact queries; needs --url)
          --mode M                 with /search: bm25, fts, dense or hybrid (default: the server's)
          --top-n N                with /search: first-stage candidates per query (default 10; top_k is min(10, N))
          --no-dynamic-batching    with --model: serve without the batching queue
          --threads N              with --model: ONNX Runtime threads (default 0: one per core)
          --max-batch-requests N   with --model: pairs per forward pass (default 16)
          --batch-workers N        with --model: forward passes at once (default 2)
          --max-concurrent-requests N  with --model (default 64)
          --corpus FILE            JSONL with "text" (default: shared/data/scifact/corpus.jsonl, else synthetic)
          --api-key KEY            bearer key for --url
          --json                   print the summary as JSON
        """;

    public static async Task<int> MainAsync(string[] args)
    {
        var a = new Args(args);
        if (a.Flag("--help") || a.Flag("-h"))
        {
            Console.WriteLine(Usage);
            return 0;
        }
        var clients = a.Int("--clients", 32);
        var duration = Math.Clamp(a.Int("--duration", 60), 1, 600);
        var warmup = Math.Clamp(a.Int("--warmup", 3), 0, 60);
        var docsPerRequest = a.Int("--docs", 10);
        var words = a.Int("--words", 60);
        var endpoint = a.String("--endpoint") ?? "/rerank";
        var model = a.String("--model");
        var url = a.String("--url");
        var json = a.Flag("--json");
        if ((model is null) == (url is null))
        {
            Console.Error.WriteLine("pass exactly one of --model DIR or --url URL\n" + Usage);
            return 2;
        }
        if (endpoint is not ("/rerank" or "/v1/rerank" or "/v2/rerank" or "/search"))
        {
            Console.Error.WriteLine("--endpoint must be /rerank, /v1/rerank, /v2/rerank or /search");
            return 2;
        }
        if (endpoint == "/search" && url is null)
        {
            Console.Error.WriteLine("--endpoint /search needs --url (a server started with --index or --store)");
            return 2;
        }
        var searchMode = a.String("--mode");
        var searchTopN = a.Int("--top-n", 10);

        WebApplication? app = null;
        Uri baseUri;
        var dynamicBatching = !a.Flag("--no-dynamic-batching");
        if (model is not null)
        {
            var options = new ServerOptions
            {
                Models = [new ModelSpec(null, model)],
                Host = "127.0.0.1",
                Port = 0,
                DynamicBatching = dynamicBatching,
                Threads = a.Int("--threads", 0),
                MaxBatchRequests = a.Int("--max-batch-requests", 16),
                BatchWorkers = a.Int("--batch-workers", 2),
                MaxConcurrentRequests = a.Int("--max-concurrent-requests", 64),
            };
            var builder = SiftServer.CreateBuilder(options);
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            app = SiftServer.Build(builder);
            await app.StartAsync();
            baseUri = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            var registry = app.Services.GetRequiredService<ModelRegistry>();
            var until = DateTime.UtcNow.AddMinutes(2);
            while (registry.State == ServerState.Loading && DateTime.UtcNow < until)
            {
                await Task.Delay(50);
            }
            if (registry.State != ServerState.Ready)
            {
                Console.Error.WriteLine($"server did not become ready: {registry.FailureMessage}");
                await app.DisposeAsync();
                return 1;
            }
        }
        else
        {
            baseUri = new Uri(url!);
            if (!IsLoopback(baseUri))
            {
                Console.Error.WriteLine($"refusing to load-test {baseUri.Host}: only loopback addresses (127.0.0.0/8, ::1, localhost) are allowed");
                return 2;
            }
        }

        var corpus = endpoint == "/search" ? LoadQueries() : LoadCorpus(a.String("--corpus"), words);
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = clients + 4, PooledConnectionLifetime = TimeSpan.FromMinutes(10) };
        using var http = new HttpClient(handler) { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(60) };
        if (a.String("--api-key") is { } key)
        {
            http.DefaultRequestHeaders.Authorization = new("Bearer", key);
        }

        Console.Error.WriteLine($"load: {clients} clients x {docsPerRequest} docs ({words} words) on {baseUri}{endpoint.TrimStart('/')}, " +
                                $"dynamic batching {(model is null ? "(server's setting)" : dynamicBatching ? "on" : "off")}, warm-up {warmup}s, measuring {duration}s");
        var summary = await RunAsync(http, endpoint, clients, docsPerRequest, corpus, TimeSpan.FromSeconds(warmup), TimeSpan.FromSeconds(duration), searchMode, searchTopN);
        summary = summary with { DynamicBatching = model is null ? null : dynamicBatching, Model = model ?? url!, Endpoint = endpoint + (endpoint == "/search" ? $" (mode {searchMode ?? "default"}, top_n {searchTopN})" : "") };

        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(summary, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true }));
        }
        else
        {
            Console.WriteLine(summary.ToText());
        }

        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        return summary.Failures > 0 && summary.Requests == 0 ? 1 : 0;
    }

    private static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    /// <summary>SciFact's test queries (for /search), else a few fixed ones.</summary>
    private static string[] LoadQueries()
    {
        var path = Path.Combine(TestPaths.Data, "scifact", "queries.jsonl");
        return File.Exists(path)
            ? File.ReadLines(path).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("text").GetString()!).ToArray()
            : ["cholesterol and heart disease", "vitamin d deficiency", "gene expression in cancer cells", "antibiotic resistance"];
    }

    private static string[] LoadCorpus(string? path, int words)
    {
        path ??= Path.Combine(TestPaths.Data, "scifact", "corpus.jsonl");
        var texts = new List<string>();
        if (File.Exists(path))
        {
            foreach (var line in File.ReadLines(path).Take(2000))
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.TryGetProperty("text", out var t) && t.GetString() is { Length: > 0 } text)
                {
                    texts.Add(string.Join(' ', text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(words)));
                }
            }
        }
        if (texts.Count == 0)
        {
            var rng = new Random(1);
            string[] vocab = ["retrieval", "ranking", "passage", "query", "model", "neural", "search", "index", "token", "score", "document", "relevance", "vector", "lexical", "dense", "sparse"];
            for (var i = 0; i < 500; i++)
            {
                texts.Add(string.Join(' ', Enumerable.Range(0, words).Select(_ => vocab[rng.Next(vocab.Length)])));
            }
        }
        return texts.ToArray();
    }

    private static async Task<Summary> RunAsync(HttpClient http, string endpoint, int clients, int docs, string[] corpus, TimeSpan warmup, TimeSpan duration, string? searchMode = null, int searchTopN = 10)
    {
        var latencies = new List<double>[clients];
        var failures = new int[clients];
        var statuses = new Dictionary<int, int>[clients];
        var start = Stopwatch.GetTimestamp();
        var measureFrom = start + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
        var stopAt = measureFrom + (long)(duration.TotalSeconds * Stopwatch.Frequency);

        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var rng = new Random(1000 + c);
            latencies[c] = new List<double>(4096);
            statuses[c] = [];
            var n = 0;
            while (Stopwatch.GetTimestamp() < stopAt)
            {
                var texts = Enumerable.Range(0, docs).Select(_ => corpus[rng.Next(corpus.Length)]).ToArray();
                var query = $"client {c} request {n++}: {corpus[rng.Next(corpus.Length)].Split(' ').Take(8).Aggregate((x, y) => x + " " + y)}";
                object body = endpoint switch
                {
                    "/rerank" => new { query, texts, truncate = true },
                    "/search" => new { query = corpus[rng.Next(corpus.Length)], mode = searchMode, top_n = searchTopN, top_k = Math.Min(10, searchTopN) },
                    _ => new { query, documents = texts, top_n = 3 },
                };
                using var content = new StringContent(JsonSerializer.Serialize(body, SkipNulls), Encoding.UTF8, "application/json");
                var t0 = Stopwatch.GetTimestamp();
                int status;
                try
                {
                    using var response = await http.PostAsync(endpoint, content);
                    await response.Content.ReadAsByteArrayAsync();
                    status = (int)response.StatusCode;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    status = 0; // connection error or timeout
                }
                var t1 = Stopwatch.GetTimestamp();
                if (t0 < measureFrom || t1 > stopAt)
                {
                    continue; // warm-up, or finished after the window closed
                }
                statuses[c][status] = statuses[c].GetValueOrDefault(status) + 1;
                if (status == 200)
                {
                    latencies[c].Add((t1 - t0) * 1000.0 / Stopwatch.Frequency);
                }
                else
                {
                    failures[c]++;
                }
            }
        })));

        var all = latencies.SelectMany(l => l).Order().ToArray();
        var seconds = duration.TotalSeconds;
        var codes = statuses.SelectMany(s => s).GroupBy(kv => kv.Key).ToDictionary(g => g.Key.ToString(CultureInfo.InvariantCulture), g => g.Sum(kv => kv.Value));
        return new Summary
        {
            Clients = clients,
            DocsPerRequest = docs,
            DurationSeconds = seconds,
            Requests = all.Length,
            Failures = failures.Sum(),
            StatusCodes = codes,
            ThroughputRps = all.Length / seconds,
            PairsPerSecond = all.Length * docs / seconds,
            P50Ms = Percentile(all, 0.50),
            P90Ms = Percentile(all, 0.90),
            P99Ms = Percentile(all, 0.99),
            MaxMs = all.Length > 0 ? all[^1] : 0,
            MeanMs = all.Length > 0 ? all.Average() : 0,
        };
    }

    private static readonly JsonSerializerOptions SkipNulls = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    private sealed record Summary
    {
        public string Model { get; init; } = "";
        public string Endpoint { get; init; } = "";
        public bool? DynamicBatching { get; init; }
        public int Clients { get; init; }
        public int DocsPerRequest { get; init; }
        public double DurationSeconds { get; init; }
        public int Requests { get; init; }
        public int Failures { get; init; }
        public Dictionary<string, int> StatusCodes { get; init; } = [];
        public double ThroughputRps { get; init; }
        public double PairsPerSecond { get; init; }
        public double P50Ms { get; init; }
        public double P90Ms { get; init; }
        public double P99Ms { get; init; }
        public double MaxMs { get; init; }
        public double MeanMs { get; init; }

        public string ToText() => string.Join('\n',
            $"model:            {Model}",
            $"endpoint:         {Endpoint}",
            $"dynamic batching: {(DynamicBatching is { } d ? (d ? "on" : "off") : "(server's setting)")}",
            $"clients:          {Clients} x {DocsPerRequest} docs, {DurationSeconds:0} s measured",
            $"requests:         {Requests} ok, {Failures} failed (status codes: {string.Join(", ", StatusCodes.Select(kv => kv.Key + "=" + kv.Value))})",
            $"throughput:       {ThroughputRps:0.0} req/s, {PairsPerSecond:0} pairs/s",
            $"latency (ms):     p50 {P50Ms:0.0}, p90 {P90Ms:0.0}, p99 {P99Ms:0.0}, max {MaxMs:0.0}, mean {MeanMs:0.0}");
    }

    private sealed class Args(string[] args)
    {
        public bool Flag(string name) => args.Contains(name);

        public string? String(string name)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        }

        public int Int(string name, int fallback) =>
            String(name) is { } s ? int.Parse(s, CultureInfo.InvariantCulture) : fallback;
    }
}
