using System.Collections;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Sift.Onnx;

namespace Sift.Server;

/// <summary>One model the server serves: the name requests select it by (the <c>model</c> field) and its directory.</summary>
/// <param name="Name">Name used in requests; null: the model directory's name.</param>
/// <param name="Path">Model directory, .onnx file or cached hub id.</param>
public sealed record ModelSpec(string? Name, string Path)
{
    /// <summary>Parses <c>DIR</c> or <c>name=DIR</c>.</summary>
    public static ModelSpec Parse(string value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        var eq = value.IndexOf('=', StringComparison.Ordinal);
        // A Windows drive ("C:\...") has no '='; a name never contains a path separator.
        if (eq > 0 && value[..eq].IndexOfAny(['/', '\\']) < 0)
        {
            var name = value[..eq].Trim();
            var path = value[(eq + 1)..].Trim();
            if (name.Length == 0 || path.Length == 0)
            {
                throw new SiftException($"--model '{value}': expected DIR or NAME=DIR.");
            }
            return new ModelSpec(name, path);
        }
        return new ModelSpec(null, value.Trim());
    }
}

/// <summary>
/// Settings of <c>sift serve</c>, read by <see cref="Load"/> through Microsoft.Extensions.Configuration from, lowest
/// priority first: defaults, a JSON config file, <c>SIFT_*</c> environment variables, command-line flags. Every source
/// uses the same names: the long flag name (<c>max-batch-tokens</c>; in JSON also <c>max_batch_tokens</c>, in the
/// environment <c>SIFT_MAX_BATCH_TOKENS</c>).
/// </summary>
public sealed record ServerOptions
{
    /// <summary>Models to serve; the first is the default when a request names none.</summary>
    public IReadOnlyList<ModelSpec> Models { get; init; } = [];

    /// <summary>Index directory for <c>POST /search</c> (null: no /search).</summary>
    public string? IndexPath { get; init; }

    /// <summary>Shared PostgreSQL store for <c>POST /search</c> (<c>postgres://USER@HOST:PORT/DB?schema=NAME</c>; the
    /// password from PGPASSWORD or ~/.pgpass); several servers may share one. Exclusive with <see cref="IndexPath"/>.</summary>
    public string? Store { get; init; }

    /// <summary>Address to bind. Loopback unless told otherwise.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port (0: any free port).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>Padded tokens (pairs × longest pair) per forward pass of the batching worker.</summary>
    public int MaxBatchTokens { get; init; } = 16384;

    /// <summary>
    /// Pairs per forward pass of the batching worker (and the engine's batch size without dynamic batching). On CPU,
    /// small length-sorted batches win: with MiniLM-L6 on 2 cores, 8 and 16 beat 32 by about 20% in throughput.
    /// </summary>
    public int MaxBatchRequests { get; init; } = 16;

    /// <summary>
    /// Batching workers per model: forward passes that run at once. One ONNX Runtime call does not keep every core
    /// busy, so two overlapping passes beat one on CPU.
    /// </summary>
    public int BatchWorkers { get; init; } = 2;

    /// <summary>Inference requests in flight at once; past this the server answers 429 with Retry-After.</summary>
    public int MaxConcurrentRequests { get; init; } = 64;

    /// <summary>Documents per request; more is a 413.</summary>
    public int MaxClientBatchSize { get; init; } = 1000;

    /// <summary>Request body size limit in bytes; more is a 413.</summary>
    public long MaxPayloadBytes { get; init; } = 2_000_000;

    /// <summary>When set, every endpoint except /health needs <c>Authorization: Bearer KEY</c>.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Weights to load.</summary>
    public ModelPrecision Precision { get; init; } = ModelPrecision.Fp32;

    /// <summary>ONNX Runtime intra-op threads (0: one per core).</summary>
    public int Threads { get; init; }

    /// <summary>
    /// cpu (default) or cuda[:N]: where the models run (needs the GPU build, see README). On a GPU raise
    /// <see cref="MaxBatchRequests"/> (e.g. 256): the token budget <see cref="MaxBatchTokens"/> then sizes the batches.
    /// </summary>
    public ExecutionDevice Device { get; init; } = ExecutionDevice.Cpu;

    /// <summary>Mix pairs of concurrent requests into length-sorted batches (on by default). Off: each request runs its own inference.</summary>
    public bool DynamicBatching { get; init; } = true;

    /// <summary>How long SIGTERM waits for in-flight requests before the process exits.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Seconds clients are told to wait in the Retry-After header of a 429.</summary>
    public int RetryAfterSeconds { get; init; } = 1;

    /// <summary>Max tokens per pair (capped by the model's own limit); null: the model's limit.</summary>
    public int? MaxLength { get; init; }

    /// <summary>Long documents: truncate (TEI's behaviour, default) or chunk (score overlapping windows, keep the best).</summary>
    public LongDocumentStrategy LongDocs { get; init; } = LongDocumentStrategy.Truncate;

    /// <summary>Tokens shared by consecutive windows in chunk mode (<c>chunk-overlap</c>; <c>stride</c> is its old name, still read).</summary>
    public int ChunkOverlap { get; init; } = 64;

    /// <summary>Windows per document at most in chunk mode.</summary>
    public int MaxChunks { get; init; } = 8;

    /// <summary>Stop the process (exit code 2) when a model fails to load (the CLI); otherwise keep serving 503 on /health.</summary>
    public bool ExitOnLoadFailure { get; init; }

    /// <summary>Test hook: awaited before the models load (lets tests observe the loading state).</summary>
    internal Func<CancellationToken, Task>? BeforeLoad { get; init; }

    /// <summary>Throws a <see cref="SiftException"/> naming the first setting that cannot work.</summary>
    public void Validate()
    {
        if (Models.Count == 0)
        {
            throw new SiftException("no model to serve: pass --model DIR (or set SIFT_MODEL, or \"model\" in the config file).");
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in Models)
        {
            if (string.IsNullOrWhiteSpace(m.Path))
            {
                throw new SiftException("--model: empty model path.");
            }
            if (m.Name is { } n && !names.Add(n))
            {
                throw new SiftException($"--model: the name '{n}' is used twice; give each model its own name (NAME=DIR).");
            }
        }
        if (string.IsNullOrWhiteSpace(Host)) throw new SiftException("--host must not be empty (e.g. 127.0.0.1).");
        if (Port is < 0 or > 65535) throw new SiftException($"--port must be 0..65535 (got {Port}).");
        if (MaxBatchTokens < 1) throw new SiftException($"--max-batch-tokens must be at least 1 (got {MaxBatchTokens}).");
        if (BatchWorkers < 1) throw new SiftException($"--batch-workers must be at least 1 (got {BatchWorkers}).");
        if (MaxBatchRequests < 1) throw new SiftException($"--max-batch-requests must be at least 1 (got {MaxBatchRequests}).");
        if (MaxConcurrentRequests < 1) throw new SiftException($"--max-concurrent-requests must be at least 1 (got {MaxConcurrentRequests}).");
        if (MaxClientBatchSize < 1) throw new SiftException($"--max-client-batch-size must be at least 1 (got {MaxClientBatchSize}).");
        if (MaxPayloadBytes < 1) throw new SiftException($"--max-payload-bytes must be at least 1 (got {MaxPayloadBytes}).");
        if (Threads < 0) throw new SiftException($"--threads must be 0 (one per core) or positive (got {Threads}).");
        if (MaxLength is <= 2) throw new SiftException($"--max-length must be at least 3 (got {MaxLength}).");
        if (ApiKey is { Length: 0 }) throw new SiftException("--api-key must not be empty.");
        if (IndexPath is not null && Store is not null) throw new SiftException("pass either --index DIR or --store postgres://..., not both.");
        if (Store is not null) _ = Sift.Store.Postgres.PostgresLocation.Parse(Store);
    }

    /// <summary>
    /// Reads the settings from every source at once: <paramref name="configFile"/> (JSON; keys are the long flag names
    /// with dashes or underscores, <c>"model"</c> a string or an array of <c>DIR</c> / <c>NAME=DIR</c> strings; comments
    /// and trailing commas allowed), the <c>SIFT_*</c> variables of <paramref name="environment"/> (the process's when
    /// null; <c>SIFT_MODEL</c> may list models separated by ',' or ';'), then <paramref name="flags"/> (flag name without
    /// dashes → value; repeat a key as <c>model:0</c>, <c>model:1</c>...). Unknown keys in the file or flags are an error,
    /// so a typo never goes unnoticed; errors say which source held the value.
    /// </summary>
    public static ServerOptions Load(string? configFile = null, IDictionary? environment = null, IEnumerable<KeyValuePair<string, string?>>? flags = null)
    {
        var builder = new ConfigurationBuilder();
        var sources = new List<string>();
        if (configFile is not null)
        {
            var full = Path.GetFullPath(configFile);
            if (!File.Exists(full))
            {
                throw new SiftException($"config file not found: {configFile}");
            }
            builder.AddJsonFile(full, optional: false, reloadOnChange: false);
            sources.Add($"{configFile}: ");
        }
        builder.AddInMemoryCollection(EnvironmentSettings(environment ?? Environment.GetEnvironmentVariables()));
        sources.Add("environment: ");
        if (flags is not null)
        {
            builder.AddInMemoryCollection(flags);
            sources.Add("command line: ");
        }
        IConfigurationRoot root;
        try
        {
            root = builder.Build();
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException or System.Text.Json.JsonException)
        {
            throw new SiftException($"{configFile}: malformed JSON ({(ex.InnerException ?? ex).Message}).", ex);
        }
        var options = new ServerOptions();
        for (var i = 0; i < root.Providers.Count(); i++)
        {
            options = Apply(options, root.Providers.ElementAt(i), sources[i], strict: sources[i] != "environment: ");
        }
        return options;
    }

    /// <summary>Reads a JSON config file (<see cref="Load"/> with the file alone).</summary>
    public static ServerOptions FromJsonFile(string path) => Load(path, environment: new Hashtable());

    /// <summary>Applies <c>SIFT_*</c> environment variables over these settings (<see cref="Load"/>'s environment step).</summary>
    public ServerOptions ApplyEnvironment(IDictionary? environment = null)
    {
        var provider = new ConfigurationBuilder().AddInMemoryCollection(EnvironmentSettings(environment ?? Environment.GetEnvironmentVariables())).Build().Providers.Single();
        return Apply(this, provider, "environment: ", strict: false);
    }

    /// <summary><c>SIFT_MAX_BATCH_TOKENS</c> → <c>max_batch_tokens</c>; <c>SIFT_MODEL=a;b</c> → <c>model:0</c>, <c>model:1</c>.</summary>
    private static Dictionary<string, string?> EnvironmentSettings(IDictionary environment)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (DictionaryEntry e in environment)
        {
            if (e.Key is not string k || !k.StartsWith("SIFT_", StringComparison.Ordinal) || e.Value is not string v)
            {
                continue;
            }
            var key = k["SIFT_".Length..];
            if (Normalize(key) is "model" or "models")
            {
                var models = v.Split([',', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                for (var i = 0; i < models.Length; i++)
                {
                    values[$"model:{i}"] = models[i];
                }
                continue;
            }
            values[key] = v;
        }
        return values;
    }

    private static readonly HashSet<string> Known =
    [
        "index", "store", "host", "port", "max-batch-tokens", "max-batch-requests", "max-concurrent-requests", "max-client-batch-size",
        "max-payload-bytes", "api-key", "batch-workers", "precision", "threads", "dynamic-batching", "no-dynamic-batching", "shutdown-timeout",
        "max-length", "long-docs", "chunk-overlap", "max-chunks", "device",
    ];

    /// <summary>Other names read for a setting (documented in docs/server.md).</summary>
    private static readonly Dictionary<string, string> Aliases = new() { ["stride"] = "chunk-overlap", ["models"] = "model" };

    private static string Normalize(string key)
    {
        var k = key.Trim().ToLowerInvariant().Replace('_', '-');
        return Aliases.TryGetValue(k, out var canonical) ? canonical : k;
    }

    /// <summary>The one mapping of setting names to <see cref="ServerOptions"/>, for every source.</summary>
    private static ServerOptions Apply(ServerOptions o, IConfigurationProvider provider, string where, bool strict)
    {
        List<string>? models = null;
        foreach (var top in provider.GetChildKeys([], null).Distinct(StringComparer.OrdinalIgnoreCase))
        {
            var key = Normalize(top);
            var children = provider.GetChildKeys([], top).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
            if (key == "model")
            {
                if (children.Count == 0)
                {
                    models = provider.TryGet(top, out var one) && one is { Length: > 0 } ? [one] : [];
                }
                else
                {
                    models = children.OrderBy(c => int.TryParse(c, out var n) ? n : int.MaxValue)
                        .Select(c => provider.TryGet($"{top}:{c}", out var m) && m is not null ? m : throw new SiftException($"{where}\"{top}\" must hold strings (DIR or NAME=DIR)."))
                        .ToList();
                }
                continue;
            }
            if (!Known.Contains(key))
            {
                if (strict)
                {
                    throw new SiftException($"{where}unknown setting '{key}'. Known: model, {string.Join(", ", Known.Order())}.");
                }
                continue; // other SIFT_* variables (SIFT_DEBUG, SIFT_SHARED, SIFT_HOME...) belong to other parts of sift
            }
            if (children.Count > 0)
            {
                throw new SiftException($"{where}\"{top}\" must be a string, number or boolean.");
            }
            if (!provider.TryGet(top, out var raw) || raw is null)
            {
                continue;
            }
            o = key switch
            {
                "index" => o with { IndexPath = raw },
                "store" => o with { Store = raw },
                "host" => o with { Host = raw },
                "port" => o with { Port = Int(key, raw, where) },
                "max-batch-tokens" => o with { MaxBatchTokens = Int(key, raw, where) },
                "max-batch-requests" => o with { MaxBatchRequests = Int(key, raw, where) },
                "batch-workers" => o with { BatchWorkers = Int(key, raw, where) },
                "max-concurrent-requests" => o with { MaxConcurrentRequests = Int(key, raw, where) },
                "max-client-batch-size" => o with { MaxClientBatchSize = Int(key, raw, where) },
                "max-payload-bytes" => o with { MaxPayloadBytes = Long(key, raw, where) },
                "api-key" => o with { ApiKey = raw },
                "precision" => o with { Precision = ParsePrecision(raw, where) },
                "threads" => o with { Threads = Int(key, raw, where) },
                "dynamic-batching" => o with { DynamicBatching = Bool(key, raw, where) },
                "no-dynamic-batching" => o with { DynamicBatching = !Bool(key, raw, where) },
                "shutdown-timeout" => o with { ShutdownTimeout = TimeSpan.FromSeconds(Int(key, raw, where)) },
                "max-length" => o with { MaxLength = Int(key, raw, where) },
                "long-docs" => o with { LongDocs = raw.Trim().ToLowerInvariant() switch
                {
                    "truncate" => LongDocumentStrategy.Truncate,
                    "chunk" => LongDocumentStrategy.Chunk,
                    _ => throw new SiftException($"{where}long-docs must be truncate or chunk (got '{raw}')."),
                } },
                "chunk-overlap" => o with { ChunkOverlap = Int(key, raw, where) },
                "max-chunks" => o with { MaxChunks = Int(key, raw, where) },
                "device" => o with { Device = ParseDevice(raw, where) },
                _ => o,
            };
        }
        if (models is not null)
        {
            o = o with { Models = models.Select(ModelSpec.Parse).ToList() };
        }
        return o;
    }

    /// <summary>Parses fp32 / int8 / fp16.</summary>
    public static ModelPrecision ParsePrecision(string raw, string where = "") =>
        raw.Trim().ToLowerInvariant() switch
        {
            "fp32" => ModelPrecision.Fp32,
            "int8" => ModelPrecision.Int8,
            "fp16" => ModelPrecision.Fp16,
            _ => throw new SiftException($"{where}precision must be fp32, int8 or fp16 (got '{raw}')."),
        };

    /// <summary>Parses cpu / cuda / cuda:N.</summary>
    public static ExecutionDevice ParseDevice(string raw, string where = "")
    {
        try
        {
            return ExecutionDevice.Parse(raw);
        }
        catch (SiftException ex)
        {
            throw new SiftException(where + ex.Message, ex);
        }
    }

    private static int Int(string key, string raw, string where) =>
        int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new SiftException($"{where}{key} must be an integer (got '{raw}').");

    private static long Long(string key, string raw, string where) =>
        long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new SiftException($"{where}{key} must be an integer (got '{raw}').");

    private static bool Bool(string key, string raw, string where) =>
        raw.Trim().ToLowerInvariant() switch
        {
            "true" or "1" or "yes" or "on" => true,
            "false" or "0" or "no" or "off" => false,
            _ => throw new SiftException($"{where}{key} must be true or false (got '{raw}')."),
        };

    /// <summary>Never prints the API key.</summary>
    public override string ToString() =>
        $"ServerOptions {{ Models = [{string.Join(", ", Models)}], Host = {Host}, Port = {Port}, Index = {IndexPath}, Store = {(Store is null ? "none" : Sift.Store.Postgres.PostgresLocation.Redact(Store))}, ApiKey = {(ApiKey is null ? "none" : "***")} }}";
}
