using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sift.Hosting;
using Sift.Onnx;
using Sift.Server.Batching;
using Sift.Server.Observability;

namespace Sift.Server.Runtime;

/// <summary>A loaded model; its scoring calls go through the runner (batching queue or direct) it was loaded with.</summary>
public sealed class ServedModel
{
    internal ServedModel(string name, CrossEncoder encoder, IServerRunner runner)
    {
        Name = name;
        Encoder = encoder;
        Runner = runner;
        using var file = File.OpenRead(encoder.Model.OnnxPath);
        Sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(file));
    }

    /// <summary>SHA-256 of the weights file (hex), shown by /info instead of its path.</summary>
    public string Sha256 { get; }

    /// <summary>The name requests select it by.</summary>
    public string Name { get; }

    /// <summary>The model; <see cref="CrossEncoder.RerankWithUsageAsync"/> scores through <see cref="Runner"/>.</summary>
    public CrossEncoder Encoder { get; }

    /// <summary>The batching queue (or the direct runner) the encoder hands its pairs to.</summary>
    internal IServerRunner Runner { get; }
}

/// <summary>Lifecycle of the served models.</summary>
public enum ServerState { Loading, Ready, Failed, Stopping }

/// <summary>
/// The models (and optional search pipeline) this server serves. Filled in the background by
/// <see cref="ModelLoaderService"/> so the HTTP port opens at once and /health says 503 until every model
/// is loaded and has scored one warm-up batch.
/// </summary>
public sealed class ModelRegistry
{
    private volatile IReadOnlyList<ServedModel> _models = [];
    private volatile ServerState _state = ServerState.Loading;

    public ServerState State => _state;

    /// <summary>Why loading failed (a user-facing message), when <see cref="State"/> is Failed.</summary>
    public string? FailureMessage { get; private set; }

    public IReadOnlyList<ServedModel> Models => _models;

    /// <summary>The retrieve → rerank pipeline for /search, when the server has an index.</summary>
    public SearchService? Search { get; private set; }

    internal void SetReady(IReadOnlyList<ServedModel> models, SearchService? search)
    {
        _models = models;
        Search = search;
        _state = ServerState.Ready;
    }

    internal void SetFailed(string message)
    {
        FailureMessage = message;
        _state = ServerState.Failed;
    }

    internal void SetStopping()
    {
        if (_state == ServerState.Ready)
        {
            _state = ServerState.Stopping;
        }
    }

    /// <summary>The model named <paramref name="name"/> (null: the default, the first one); null when none has that name.</summary>
    public ServedModel? Find(string? name)
    {
        var models = _models;
        if (models.Count == 0)
        {
            return null;
        }
        return name is null ? models[0] : models.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal));
    }
}

/// <summary>
/// Loads the models in the background, warms each up with one scored batch, starts their batching workers and
/// marks the registry ready. On shutdown (after Kestrel has drained in-flight requests) it stops the workers,
/// which finish everything already queued, and releases the ONNX sessions.
/// </summary>
internal sealed class ModelLoaderService : IHostedService
{
    private readonly ServerOptions _options;
    private readonly ModelRegistry _registry;
    private readonly ServerMetrics _metrics;
    private readonly ILogger<ModelLoaderService> _logger;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILoggerFactory _loggerFactory;
    private readonly List<CrossEncoder> _encoders = [];
    private readonly List<IServerRunner> _backends = [];
    private Task? _loading;
    private readonly CancellationTokenSource _stop = new();

    public ModelLoaderService(ServerOptions options, ModelRegistry registry, ServerMetrics metrics, ILogger<ModelLoaderService> logger,
        IHostApplicationLifetime lifetime, ILoggerFactory loggerFactory)
    {
        _options = options;
        _registry = registry;
        _metrics = metrics;
        _logger = logger;
        _lifetime = lifetime;
        _loggerFactory = loggerFactory;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loading = Task.Run(async () =>
        {
            if (_options.BeforeLoad is { } gate)
            {
                try
                {
                    await gate(_stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            Load(_stop.Token);
        }, CancellationToken.None);
        return Task.CompletedTask;
    }

    private void Load(CancellationToken ct)
    {
        try
        {
            var served = new List<ServedModel>();
            foreach (var spec in _options.Models)
            {
                ct.ThrowIfCancellationRequested();
                IServerRunner? backend = null;
                var encoder = CrossEncoder.Load(spec.Path, new RerankerSettings
                {
                    Precision = _options.Precision,
                    Device = _options.Device,
                    Threads = _options.Threads,
                    BatchSize = _options.MaxBatchRequests,
                    // The batcher already cuts by this budget; on a GPU the encoder keeps to it too instead of its default.
                    MaxBatchTokens = _options.Device.IsCuda ? _options.MaxBatchTokens : null,
                    MaxLength = _options.MaxLength,
                    LongDocs = _options.LongDocs,
                    ChunkOverlap = _options.ChunkOverlap,
                    MaxChunks = _options.MaxChunks,
                }.ToOptions(), model => backend = _options.DynamicBatching
                    ? new DynamicBatcher(model, spec.Name ?? model.Model.Name, new BatchingOptions(_options.MaxBatchTokens, _options.MaxBatchRequests, Math.Max(_options.MaxConcurrentRequests, 1), _options.BatchWorkers),
                        _metrics, _loggerFactory.CreateLogger<DynamicBatcher>())
                    : new DirectRunner(model, spec.Name ?? model.Model.Name, _metrics));
                lock (_encoders)
                {
                    _encoders.Add(encoder);
                    _backends.Add(backend!);
                }
                var name = spec.Name ?? encoder.Model.Name;
                if (served.Any(s => s.Name == name))
                {
                    throw new SiftException($"two models are named '{name}'; name them apart with --model NAME=DIR.");
                }
                // Warm-up: one scored batch, so the first real request does not pay for graph setup.
                encoder.WarmUp(ct);
                served.Add(new ServedModel(name, encoder, backend!));
                _logger.LogInformation("Loaded model {Name} from {Path} (max length {MaxLength}, {Labels} label(s), {Precision}, {Device}, attention: {Attention}, dynamic batching {Batching})",
                    name, encoder.Model.Root, encoder.MaxLength, encoder.NumLabels, _options.Precision, encoder.Device, encoder.AttentionPath, _options.DynamicBatching ? "on" : "off");
            }
            SearchService? search = null;
            if (_options.IndexPath is not null || _options.Store is not null)
            {
                // /search reranks with the default model through the same runner (batching queue) as /rerank. The
                // configured mode is the lexical one, so the bi-encoder loads on the first dense or hybrid search.
                search = SearchService.Open(new SearchSettings
                {
                    Index = _options.IndexPath,
                    Store = _options.Store,
                    Mode = _options.Store is null ? RetrievalMode.Bm25 : RetrievalMode.Fts,
                    Threads = _options.Threads,
                }, served[0].Encoder);
                _logger.LogInformation(_options.Store is null ? "Opened index {Index} for /search" : "Opened store {Index} for /search", search.Corpus.Location); // a store's address without its password
            }
            _registry.SetReady(served, search);
            _logger.LogInformation("Ready");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            var message = ex is SiftException or ArgumentException or Sift.Tokenizers.TokenizerException or IOException ? ex.Message : $"{ex.GetType().Name}: {ex.Message}";
            _registry.SetFailed(message);
            _logger.LogError("Could not load the model: {Message}", message);
            if (_options.ExitOnLoadFailure)
            {
                // Stop once the host has finished starting (stopping mid-start would surface as a cancelled start).
                _lifetime.ApplicationStarted.Register(_lifetime.StopApplication);
            }
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loading is not null)
        {
            await _loading.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        _registry.SetStopping();
        List<IServerRunner> backends;
        lock (_encoders)
        {
            backends = [.. _backends];
        }
        // Workers finish what is queued before they return (drain), bounded by the host's shutdown timeout.
        await Task.WhenAll(backends.Select(b => b.DisposeAsync().AsTask())).WaitAsync(cancellationToken).ConfigureAwait(false);
        _registry.Search?.Dispose();
        lock (_encoders)
        {
            foreach (var e in _encoders)
            {
                e.Dispose();
            }
            _encoders.Clear();
        }
    }
}
