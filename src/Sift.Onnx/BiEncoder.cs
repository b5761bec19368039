using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using Microsoft.ML.OnnxRuntime;
using Sift.Tokenizers;

namespace Sift.Onnx;

/// <summary>Token pooling of a sentence-transformers bi-encoder (<c>1_Pooling/config.json</c>).</summary>
public enum PoolingMode { Mean, Cls, Max }

/// <summary>Options for loading a bi-encoder.</summary>
public sealed record BiEncoderOptions
{
    /// <summary>fp32, int8 or fp16 (converted by Sift from the fp32 file) weights.</summary>
    public ModelPrecision Precision { get; init; } = ModelPrecision.Fp32;

    /// <summary>Max tokens per text; default: sentence_bert_config.json max_seq_length, else the tokenizer's model_max_length.</summary>
    public int? MaxLength { get; init; }

    /// <summary>Texts per ONNX Runtime call (length-sorted).</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Threads each batch's inference uses (0: automatic, see <see cref="ConcurrentBatches"/>).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>
    /// Batches embedded at the same time, each on its own thread(s). 0 (default): automatic, as for the cross-encoder
    /// (<see cref="CrossEncoderOptions.ConcurrentBatches"/>): with <see cref="IntraOpThreads"/> also 0, one
    /// single-threaded batch per core (up to 4), which beats one batch split across the cores for BERT-sized layers.
    /// </summary>
    public int ConcurrentBatches { get; init; }

    /// <summary>Accumulates tokenization/inference time and token counts (for <c>sift bench --embed</c>); null: none.</summary>
    internal ScoringStats? Stats { get; init; }

    /// <summary>The threading actually used: zeros replaced by the automatic choice for this machine.</summary>
    internal (int Concurrent, int Intra) ResolveThreading()
    {
        var t = new CrossEncoderOptions { ConcurrentBatches = ConcurrentBatches, IntraOpThreads = IntraOpThreads }.ResolveThreading();
        return (t.ConcurrentBatches, t.IntraOpThreads);
    }

    /// <summary>ONNX Runtime graph optimization level.</summary>
    public GraphOptimizationLevel GraphOptimization { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>Self-attention in Sift's AVX-512 kernel where supported (see <see cref="CrossEncoderOptions.HostAttention"/>).</summary>
    public bool HostAttention { get; init; } = true;

    /// <summary>Exact (erf) GELU in Sift's AVX-512 kernel where supported (see <see cref="CrossEncoderOptions.HostGelu"/>).</summary>
    public bool HostGelu { get; init; } = true;

    /// <summary>CPU or a CUDA GPU (see <see cref="CrossEncoderOptions.Device"/>).</summary>
    public ExecutionDevice Device { get; init; } = ExecutionDevice.Cpu;

    /// <summary>Padded tokens per batch (texts × longest text), at most <see cref="BatchSize"/> texts; null: on CPU batches of
    /// <see cref="BatchSize"/>, on CUDA <see cref="CrossEncoderOptions.DefaultCudaBatchTokens"/>.</summary>
    public int? MaxBatchTokens { get; init; }

    /// <summary>IO binding (see <see cref="CrossEncoderOptions.IoBinding"/>); null: on for CUDA.</summary>
    public bool? IoBinding { get; init; }
}

/// <summary>
/// A sentence-transformers bi-encoder (Transformer → Pooling → optional Normalize) over ONNX Runtime.
/// Implements <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> so any Microsoft.Extensions.AI consumer can use it.
/// Thread-safe.
/// </summary>
public sealed class BiEncoder : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly OnnxEncoderSession _session;
    private readonly BiEncoderOptions _options;
    private readonly int _concurrency; // batches side by side: resolved once at load, not per call
    private readonly EmbeddingGeneratorMetadata _metadata;

    private BiEncoder(ModelDirectory model, HfTokenizer tokenizer, OnnxEncoderSession session, BiEncoderOptions options,
        PoolingMode pooling, bool normalize, int maxLength, string queryPrompt, string documentPrompt)
    {
        Model = model;
        Tokenizer = tokenizer;
        _session = session;
        _options = options;
        // One GPU runs one batch at a time; on the CPU, batches side by side.
        _concurrency = options.Device.IsCuda ? 1 : options.ResolveThreading().Concurrent;
        Pooling = pooling;
        Normalize = normalize;
        MaxLength = maxLength;
        QueryPrompt = queryPrompt;
        DocumentPrompt = documentPrompt;
        _metadata = new EmbeddingGeneratorMetadata("sift-onnx", new Uri("file://" + model.Root), model.Name);
    }

    public ModelDirectory Model { get; }
    public HfTokenizer Tokenizer { get; }
    public PoolingMode Pooling { get; }
    public bool Normalize { get; }
    public int MaxLength { get; }

    /// <summary>Who computes attention (Sift's kernel or ONNX Runtime, and where) and why.</summary>
    public string AttentionPath => _session.HostAttentionStatus;

    /// <summary>Prompt prepended to queries (config_sentence_transformers.json <c>prompts.query</c>).</summary>
    public string QueryPrompt { get; }

    /// <summary>Prompt prepended to documents (<c>prompts.document</c>).</summary>
    public string DocumentPrompt { get; }

    /// <summary>Embedding dimension, known after the first call (or from the pooling config).</summary>
    public int? Dimension { get; private set; }

    /// <summary>Loads a bi-encoder from a sentence-transformers model directory (or cached hub id).</summary>
    public static BiEncoder Load(string model, BiEncoderOptions? options = null)
    {
        options ??= new BiEncoderOptions();
        var dir = ModelDirectory.Open(ModelLocator.Resolve(model), options.Precision);
        HfTokenizer tokenizer;
        try
        {
            tokenizer = HfTokenizer.FromDirectory(dir.Root);
        }
        catch (TokenizerException ex)
        {
            throw new SiftException(ex.Message + " Download the complete model with `sift model pull ORG/NAME`.", ex);
        }

        var (pooling, normalize, dim) = ReadModules(dir.Root);
        var stBert = ModelDirectory.ReadJsonObject(Path.Combine(dir.Root, "sentence_bert_config.json"), required: false);
        var caps = new List<int>();
        if (options.MaxLength is { } u) caps.Add(u);
        if (stBert?["max_seq_length"] is JsonValue v && v.TryGetValue(out int msl)) caps.Add(msl);
        else if (tokenizer.ModelMaxLength is { } t) caps.Add(t);
        if (dir.MaxPositionEmbeddings is { } p) caps.Add(p);
        var prompts = dir.SentenceTransformersConfig?["prompts"] as JsonObject;
        if (options.MaxBatchTokens is < 1) throw new ArgumentOutOfRangeException(nameof(options), options.MaxBatchTokens, "MaxBatchTokens must be positive (or null for the device's default).");
        var fp16 = options.Precision == ModelPrecision.Fp16;
        var (_, intra) = options.ResolveThreading();
        var session = new OnnxEncoderSession(fp16 ? Float16ModelCache.Load(dir.OnnxPath) : dir.OnnxPath, options.Device.IsCuda ? options.IntraOpThreads : intra, options.GraphOptimization, null, "last_hidden_state",
            hostAttention: options.HostAttention, hostGelu: options.HostGelu, device: options.Device, fp16: fp16, ioBinding: options.IoBinding);
        return new BiEncoder(dir, tokenizer, session, options, pooling, normalize, caps.Count > 0 ? caps.Min() : 512,
            prompts?["query"]?.GetValue<string>() ?? "", prompts?["document"]?.GetValue<string>() ?? "")
        {
            Dimension = dim,
        };
    }

    /// <summary>Embeds texts as they are (no prompt), in input order.</summary>
    public float[][] Embed(IReadOnlyList<string> texts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var tokenizeStart = System.Diagnostics.Stopwatch.GetTimestamp();
        var encodings = new EncodedText[texts.Count];
        for (var i = 0; i < texts.Count; i++)
        {
            var text = texts[i] ?? throw new ArgumentException($"Text {i} is null.", nameof(texts));
            encodings[i] = Tokenizer.Encode(text, MaxLength);
        }
        _options.Stats?.AddTokenize(System.Diagnostics.Stopwatch.GetElapsedTime(tokenizeStart));

        // Length-sorted batches: each pads to nearly the same length.
        var order = Enumerable.Range(0, encodings.Length).OrderBy(i => encodings[i].Length).ToArray();
        var result = new float[texts.Count][];
        var budget = _options.MaxBatchTokens ?? (_options.Device.IsCuda ? CrossEncoderOptions.DefaultCudaBatchTokens : (int?)null);
        var bounds = budget is { } tokens
            ? TokenBudget.Plan(order.Select(i => encodings[i].Length).ToArray(), tokens, _options.BatchSize)
            : Enumerable.Range(0, (order.Length + _options.BatchSize - 1) / _options.BatchSize)
                .Select(k => (k * _options.BatchSize, Math.Min(order.Length, (k + 1) * _options.BatchSize))).ToList();

        void RunBatch((int Start, int End) range)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (start, end) = range;
            var batch = new List<EncodedText>(end - start);
            for (var j = start; j < end; j++) batch.Add(encodings[order[j]]);
            var inferenceStart = System.Diagnostics.Stopwatch.GetTimestamp();
            var (data, shape) = _session.Run(batch, Tokenizer.PadTokenId);
            _options.Stats?.AddBatch(batch, System.Diagnostics.Stopwatch.GetElapsedTime(inferenceStart));
            if (shape.Length != 3)
            {
                throw new SiftException($"{Model.OnnxPath}: expected token embeddings [batch, seq, hidden] from output '{_session.OutputName}', got rank {shape.Length}. Use a feature-extraction ONNX export.");
            }
            int seq = (int)shape[1], hidden = (int)shape[2];
            for (var j = start; j < end; j++)
            {
                var row = j - start;
                result[order[j]] = Pool(data.AsSpan(row * seq * hidden, seq * hidden), batch[row].Length, hidden);
            }
            Dimension = hidden;
        }

        var concurrency = _concurrency;
        if (concurrency <= 1 || bounds.Count == 1)
        {
            foreach (var range in bounds) RunBatch(range);
        }
        else
        {
            // As in CrossEncoder: single-threaded batches side by side, longest first, handed out one at a time.
            bounds.Reverse();
            Parallel.ForEach(System.Collections.Concurrent.Partitioner.Create(bounds, System.Collections.Concurrent.EnumerablePartitionerOptions.NoBuffering),
                new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken }, RunBatch);
        }
        return result;
    }

    /// <summary>Embeds a query with the model's query prompt.</summary>
    public float[] EmbedQuery(string query) => Embed([QueryPrompt + query])[0];

    /// <summary>Embeds documents with the model's document prompt.</summary>
    public float[][] EmbedDocuments(IReadOnlyList<string> documents, CancellationToken cancellationToken = default) =>
        Embed(DocumentPrompt.Length == 0 ? documents : documents.Select(d => DocumentPrompt + d).ToArray(), cancellationToken);

    /// <inheritdoc />
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var texts = values.ToArray();
        return Task.Run(() =>
        {
            var vectors = Embed(texts, cancellationToken);
            var created = DateTimeOffset.UtcNow;
            return new GeneratedEmbeddings<Embedding<float>>(vectors.Select(v => new Embedding<float>(v) { ModelId = Model.Name, CreatedAt = created }));
        }, cancellationToken);
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return _metadata;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose() => _session.Dispose();

    private float[] Pool(ReadOnlySpan<float> tokens, int length, int hidden)
    {
        var v = new float[hidden];
        switch (Pooling)
        {
            case PoolingMode.Cls:
                tokens[..hidden].CopyTo(v);
                break;
            case PoolingMode.Max:
                Array.Fill(v, float.NegativeInfinity);
                for (var t = 0; t < length; t++)
                {
                    System.Numerics.Tensors.TensorPrimitives.Max(v, tokens.Slice(t * hidden, hidden), v);
                }
                break;
            default:
                // Mean over real tokens only (the attention mask), as sentence-transformers does.
                for (var t = 0; t < length; t++)
                {
                    System.Numerics.Tensors.TensorPrimitives.Add(v, tokens.Slice(t * hidden, hidden), v);
                }
                System.Numerics.Tensors.TensorPrimitives.Divide(v, Math.Max(1, length), v);
                break;
        }
        if (Normalize)
        {
            // torch.nn.functional.normalize: v / max(||v||, 1e-12).
            var norm = System.Numerics.Tensors.TensorPrimitives.Norm(v);
            System.Numerics.Tensors.TensorPrimitives.Divide(v, MathF.Max(norm, 1e-12f), v);
        }
        return v;
    }

    private static (PoolingMode Pooling, bool Normalize, int? Dim) ReadModules(string root)
    {
        var pooling = PoolingMode.Mean;
        var normalize = false;
        int? dim = null;
        var modulesPath = Path.Combine(root, "modules.json");
        if (JsonNode.Parse(File.Exists(modulesPath) ? File.ReadAllText(modulesPath) : "[]") is not JsonArray modules)
        {
            throw new SiftException($"{modulesPath}: expected a JSON array of modules. Re-download the model.");
        }
        foreach (var m in modules.OfType<JsonObject>())
        {
            var type = m["type"]?.GetValue<string>() ?? "";
            var path = m["path"]?.GetValue<string>() ?? "";
            if (type.EndsWith("Normalize", StringComparison.Ordinal))
            {
                normalize = true;
            }
            else if (type.EndsWith("Pooling", StringComparison.Ordinal))
            {
                var cfgPath = Path.Combine(root, path, "config.json");
                var cfg = ModelDirectory.ReadJsonObject(cfgPath, required: true)!;
                pooling = ParsePooling(cfg, cfgPath);
                dim = (cfg["embedding_dimension"] ?? cfg["word_embedding_dimension"])?.GetValue<int>();
            }
        }
        return (pooling, normalize, dim);
    }

    private static PoolingMode ParsePooling(JsonObject cfg, string path)
    {
        // sentence-transformers >= 6 writes "pooling_mode"; older versions one boolean per mode.
        var mode = cfg["pooling_mode"]?.GetValue<string>();
        if (mode is null)
        {
            bool Flag(string k) => cfg[k] is JsonValue v && v.TryGetValue(out bool b) && b;
            mode = Flag("pooling_mode_cls_token") ? "cls" : Flag("pooling_mode_max_tokens") ? "max" : "mean";
        }
        return mode switch
        {
            "mean" or "mean_tokens" => PoolingMode.Mean,
            "cls" or "cls_token" => PoolingMode.Cls,
            "max" or "max_tokens" => PoolingMode.Max,
            _ => throw new SiftException($"{path}: pooling mode '{mode}' is not supported (mean, cls, max)."),
        };
    }
}
