using System.Collections.Concurrent;
using Sift.Tokenizers;

namespace Sift.Onnx;

/// <summary>
/// A Hugging Face cross-encoder run by ONNX Runtime: reads <c>[CLS] query [SEP] passage [SEP]</c> and
/// returns one relevance score per pair, exactly as sentence-transformers' <c>CrossEncoder</c> does.
/// Thread-safe; dispose to release the ONNX Runtime session.
/// </summary>
/// <example>
/// <code>
/// using var ce = CrossEncoder.Load("models/ms-marco-MiniLM-L-6-v2");
/// var top = await ce.RerankAsync("what is BM25?", docs, new RerankOptions { TopK = 5 });
/// </code>
/// </example>
public sealed class CrossEncoder : IReranker, IDisposable
{
    private readonly OnnxEncoderSession _session;
    private readonly CrossEncoderOptions _options;
    private readonly ScoreActivation _defaultActivation;

    private readonly IInferenceRunner? _runner;

    private CrossEncoder(ModelDirectory model, HfTokenizer tokenizer, OnnxEncoderSession session, CrossEncoderOptions options, Func<ModelInference, IInferenceRunner>? runner)
    {
        Model = model;
        Tokenizer = tokenizer;
        _session = session;
        _options = options;
        NumLabels = model.NumLabels;
        var caps = new List<int>();
        if (options.MaxLength is { } user) caps.Add(user);
        if (tokenizer.ModelMaxLength is { } tok) caps.Add(tok);
        if (model.MaxPositionEmbeddings is { } pos) caps.Add(pos);
        MaxLength = caps.Count > 0 ? caps.Min() : 512;
        _defaultActivation = Activations.Resolve(options.Activation, options.CalibrationFactor, model.DeclaredActivation, NumLabels);
        _runner = runner?.Invoke(new ModelInference(model, RunBatch, (pairs, ct) => Predict(pairs, ct)));
    }

    /// <summary>The model directory and its settings.</summary>
    public ModelDirectory Model { get; }

    /// <summary>The model's own tokenizer.</summary>
    public HfTokenizer Tokenizer { get; }

    /// <summary>Effective max tokens per pair: min(option, tokenizer model_max_length, max_position_embeddings).</summary>
    public int MaxLength { get; }

    /// <summary>Number of output labels.</summary>
    public int NumLabels { get; }

    /// <summary>The activation applied when a call does not override it.</summary>
    public ScoreActivation Activation => _defaultActivation;

    /// <summary>Whether the model takes token_type_ids (BERT) or not (RoBERTa, XLM-R).</summary>
    public bool UsesTokenTypeIds => _session.HasTokenTypeIds;

    /// <summary>Who computes attention for this model (Sift's kernel or ONNX Runtime) and, if not Sift's, why.</summary>
    public string AttentionPath => _session.HostAttentionStatus;

    /// <summary>Where ONNX Runtime runs this model.</summary>
    public ExecutionDevice Device => _session.Device;

    /// <summary>Whether batches go through ONNX Runtime IO binding (<see cref="CrossEncoderOptions.IoBinding"/>).</summary>
    public bool UsesIoBinding => _session.UsesIoBinding;

    /// <summary>Whether the last layer runs for the first token only (<see cref="CrossEncoderOptions.ClsOnlyLastLayer"/> took effect).</summary>
    public bool ComputesLastLayerForFirstTokenOnly => _session.UsesFirstTokenTail;

    /// <summary>The options this encoder was loaded with.</summary>
    public CrossEncoderOptions Options => _options;

    /// <summary>
    /// Loads a cross-encoder from a model directory, an .onnx file inside one, or a cached hub id
    /// (see <see cref="ModelLocator"/>). No network access.
    /// </summary>
    /// <param name="model">The model directory, .onnx file or hub id; null: the default model.</param>
    /// <param name="options">Loading and scoring options.</param>
    /// <param name="runner">
    /// Makes the <see cref="IInferenceRunner"/> scoring calls go through (the server's dynamic batcher); given the
    /// loaded model once loading has succeeded. Null: the encoder batches each call itself. The caller owns the runner.
    /// </param>
    public static CrossEncoder Load(string? model, CrossEncoderOptions? options = null, Func<ModelInference, IInferenceRunner>? runner = null)
    {
        options ??= new CrossEncoderOptions();
        options.Validate();
        options = options.ResolveThreading();
        var dir = ModelDirectory.Open(ModelLocator.Resolve(model), options.Precision);
        // Tokenizer parsing and ONNX Runtime's graph optimization are independent; overlapping them cuts cold start.
        var tokenizerTask = Task.Run(() => HfTokenizer.FromDirectory(dir.Root));
        OnnxEncoderSession session;
        try
        {
            var onnxPath = options.FuseAttention ? FusedModelPath(dir.OnnxPath) : dir.OnnxPath;
            var fp16 = options.Precision == ModelPrecision.Fp16;
            if (fp16) onnxPath = Float16ModelCache.Load(onnxPath, fp32Norms: options.Fp16Fp32Norms);
            session = new OnnxEncoderSession(onnxPath, options.IntraOpThreads, options.GraphOptimization, options.OptimizedModelCachePath, "logits", options.ProfilePrefix, options.SessionConfig, options.HostAttention && !options.FuseAttention, options.HostGelu, options.ClsOnlyLastLayer,
                options.Device, fp16, options.IoBinding);
        }
        catch
        {
            tokenizerTask.ContinueWith(t => _ = t.Exception, TaskScheduler.Default); // observe; the session error is the one to report
            throw;
        }
        HfTokenizer tokenizer;
        try
        {
            tokenizer = tokenizerTask.GetAwaiter().GetResult();
        }
        catch (TokenizerException ex)
        {
            session.Dispose();
            throw new SiftException(ex.Message + " Download the complete model with `sift model pull ORG/NAME`.", ex);
        }
        try
        {
            return new CrossEncoder(dir, tokenizer, session, options, runner);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The attention-fused copy of an ONNX file, made once and cached under the model cache keyed by the file's
    /// path, size and modification time; the original path when the graph has no pattern to fuse.
    /// </summary>
    private static string FusedModelPath(string onnxPath)
    {
        var info = new FileInfo(onnxPath);
        var key = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes($"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}")))[..16];
        var cached = Path.Combine(ModelLocator.CacheRoot, "optimized", key + ".onnx");
        if (File.Exists(cached)) return cached;
        Directory.CreateDirectory(Path.GetDirectoryName(cached)!);
        var temp = cached + "." + Environment.ProcessId + ".tmp";
        var report = Sift.Onnx.GraphOptimizer.OnnxGraphOptimizer.FuseAttention(onnxPath, temp);
        if (!report.Changed)
        {
            File.Delete(temp);
            return onnxPath;
        }
        File.Move(temp, cached, overwrite: true);
        return cached;
    }

    /// <summary>Raw logits, one array of <see cref="NumLabels"/> values per pair, in input order.</summary>
    public float[][] PredictLogits(IReadOnlyList<(string Query, string Document)> pairs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        var items = new List<ScoringItem>(pairs.Count);
        for (var i = 0; i < pairs.Count; i++)
        {
            var (q, d) = pairs[i];
            if (q is null) throw new ArgumentException($"Pair {i}: query is null.", nameof(pairs));
            if (d is null) throw new ArgumentException($"Pair {i}: document is null.", nameof(pairs));
            AddItems(items, i, Tokenizer.Tokenize(q), Tokenizer.Tokenize(d), RerankOptions.Default);
        }
        var plan = new ScoringPlan(items, pairs.Count);
        var logits = RunSync(plan.Encodings, cancellationToken, null);
        return Aggregate(plan, logits, _defaultActivation, 1f).Logits;
    }

    /// <summary>Scores pairs with the model's activation (or <paramref name="activation"/>), in input order.</summary>
    public float[] Score(IReadOnlyList<(string Query, string Document)> pairs, ScoreActivation? activation = null, CancellationToken cancellationToken = default)
    {
        var act = ResolveCallActivation(activation, null);
        var factor = _options.CalibrationFactor ?? 1f;
        return PredictLogits(pairs, cancellationToken).Select(l => Activations.Apply(l, act, factor)).ToArray();
    }

    /// <summary>Scores one pair.</summary>
    public float Score(string query, string document) => Score([(query, document)])[0];

    /// <summary>
    /// Scores every document against the query and returns them best first (ties keep input order),
    /// cut to <see cref="RerankOptions.TopK"/> and <see cref="RerankOptions.Threshold"/>.
    /// </summary>
    /// <exception cref="InputTooLongException">A pair is over the max length and <see cref="RerankOptions.Truncate"/> is false.</exception>
    public IReadOnlyList<RerankResult> Rerank(string query, IReadOnlyList<Document> documents, RerankOptions? options = null, CancellationToken cancellationToken = default) =>
        Rerank(query, documents, options, stats: null, cancellationToken);

    /// <summary>
    /// <see cref="Rerank(string, IReadOnlyList{Document}, RerankOptions?, CancellationToken)"/> that also accumulates
    /// where the time went (tokenization, inference) and how much padding the batches carried.
    /// </summary>
    internal IReadOnlyList<RerankResult> Rerank(string query, IReadOnlyList<Document> documents, RerankOptions? options, ScoringStats? stats, CancellationToken cancellationToken = default)
    {
        var call = Prepare(query, documents, options);
        if (documents.Count == 0)
        {
            return [];
        }
        var tokenizeStart = System.Diagnostics.Stopwatch.GetTimestamp();
        var plan = Plan(query, documents, call.Options);
        stats?.AddTokenize(System.Diagnostics.Stopwatch.GetElapsedTime(tokenizeStart));
        var logits = RunSync(plan.Encodings, cancellationToken, stats);
        return Finish(plan, logits, documents, call).Results;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<RerankResult>> RerankAsync(string query, IReadOnlyList<Document> documents, RerankOptions? options = null, CancellationToken cancellationToken = default) =>
        (await RerankWithUsageAsync(query, documents, options, cancellationToken).ConfigureAwait(false)).Results;

    /// <summary>
    /// <see cref="RerankAsync"/> that also says how many tokens the model read (every window of every document, special
    /// tokens included; what TEI reports as prompt tokens). The one scoring path: plan (tokenize, cut or chunk) →
    /// batches (the <see cref="IInferenceRunner"/> given to <see cref="Load"/>, else the encoder's own) → combine windows →
    /// activation → rank.
    /// </summary>
    /// <exception cref="InputTooLongException">A pair is over the max length and <see cref="RerankOptions.Truncate"/> is false.</exception>
    public async Task<RerankOutput> RerankWithUsageAsync(string query, IReadOnlyList<Document> documents, RerankOptions? options = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var call = Prepare(query, documents, options);
        if (documents.Count == 0)
        {
            return new RerankOutput([], 0);
        }
        if (_runner is null)
        {
            // Inference is CPU-bound; run it off the caller's thread. Cancellation is observed between batches.
            return await Task.Run(() =>
            {
                var plan = Plan(query, documents, call.Options);
                return Finish(plan, Predict(plan.Encodings, cancellationToken), documents, call);
            }, cancellationToken).ConfigureAwait(false);
        }
        var planned = Plan(query, documents, call.Options);
        var logits = await _runner.RunAsync(planned.Encodings, cancellationToken).ConfigureAwait(false);
        return Finish(planned, logits, documents, call);
    }

    /// <summary>Async <see cref="Score(IReadOnlyList{ValueTuple{string, string}}, ScoreActivation?, CancellationToken)"/>.</summary>
    public Task<float[]> ScoreAsync(IReadOnlyList<(string Query, string Document)> pairs, ScoreActivation? activation = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Score(pairs, activation, cancellationToken), cancellationToken);

    /// <summary>Tokenizes a pair the way scoring does (query first, document second, truncated to <see cref="MaxLength"/>).</summary>
    public EncodedText EncodePair(string query, string document) =>
        Tokenizer.Build(Tokenizer.Tokenize(query), Tokenizer.Tokenize(document), MaxLength, _options.Truncation);

    /// <summary>
    /// Scores one pair straight through the model (not through the runner), so that the first real call does not pay
    /// for ONNX Runtime's graph set-up.
    /// </summary>
    public void WarmUp(CancellationToken cancellationToken = default) =>
        _ = Predict([EncodePair("warm up", "warm up the model")], cancellationToken);

    /// <summary>Runs already-tokenized pairs through the model and returns logits in input order (tests and training parity checks).</summary>
    internal float[][] PredictEncoded(IReadOnlyList<EncodedText> encodings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(encodings);
        return Predict(encodings, cancellationToken);
    }

    private sealed record CallSettings(RerankOptions Options, ScoreActivation Activation, float Factor);

    private CallSettings Prepare(string query, IReadOnlyList<Document> documents, RerankOptions? options)
    {
        if (query is null) throw new ArgumentException("query is null; pass the search query text.", nameof(query));
        ArgumentNullException.ThrowIfNull(documents);
        options ??= RerankOptions.Default;
        var act = ResolveCallActivation(options.Activation, options.CalibrationFactor);
        var factor = options.CalibrationFactor ?? _options.CalibrationFactor ?? 1f;
        ValidateRerankOptions(options, act);
        return new CallSettings(options, act, factor);
    }

    /// <summary>Plan: the query tokenized once, each document tokenized, capped, then cut or split into windows.</summary>
    internal ScoringPlan Plan(string query, IReadOnlyList<Document> documents, RerankOptions options)
    {
        // The query is tokenized once and reused for every pair.
        var q = Tokenizer.Tokenize(options.QueryPrefix + query);
        var items = new List<ScoringItem>(documents.Count);
        for (var i = 0; i < documents.Count; i++)
        {
            var doc = documents[i] ?? throw new ArgumentException($"Document {i} is null.", nameof(documents));
            if (doc.Text is null) throw new ArgumentException($"Document {i} has null text.", nameof(documents));
            var d = Tokenizer.Tokenize(ComposeText(doc, options));
            if (options.MaxTokensPerDocument is { } cap && d.Count > cap)
            {
                d = d.Slice(0, cap);
            }
            AddItems(items, i, q, d, options);
        }
        return new ScoringPlan(items, documents.Count);
    }

    /// <summary>Combine (one row of logits per document, the winning window) → activation → rank.</summary>
    private RerankOutput Finish(ScoringPlan plan, float[][] logits, IReadOnlyList<Document> documents, CallSettings call)
    {
        var (perDoc, windows) = Aggregate(plan, logits, call.Activation, call.Factor);
        var results = new RerankResult[documents.Count];
        for (var i = 0; i < documents.Count; i++)
        {
            var score = Activations.Apply(perDoc[i], call.Activation, call.Factor);
            if (windows[i] is { } w && _options.ChunkAggregation == ChunkAggregation.Mean)
            {
                score = w.MeanScore;
            }
            results[i] = new RerankResult(i, score, documents[i], perDoc[i], windows[i]?.Window);
        }
        return new RerankOutput(Ranking.Rank(results, call.Options.TopK, call.Options.Threshold), plan.Tokens);
    }

    /// <summary>Batches: through the runner when one was given, else the encoder's own batching.</summary>
    private float[][] RunSync(IReadOnlyList<EncodedText> encodings, CancellationToken cancellationToken, ScoringStats? stats) =>
        _runner is null || encodings.Count == 0
            ? Predict(encodings, cancellationToken, stats)
            : _runner.RunAsync(encodings, cancellationToken).GetAwaiter().GetResult();

    /// <summary>Applies this encoder's activation (or an override) to one row of logits.</summary>
    public float ApplyActivation(ReadOnlySpan<float> logits, ScoreActivation? activation = null, float? calibrationFactor = null)
    {
        var act = ResolveCallActivation(activation, calibrationFactor);
        return Activations.Apply(logits, act, calibrationFactor ?? _options.CalibrationFactor ?? 1f);
    }

    /// <summary>
    /// The windows chunk mode would score for this pair (character offsets into <paramref name="document"/>);
    /// a single null-free window covering the text when it fits. For inspection and tests.
    /// </summary>
    public IReadOnlyList<TextWindow> DescribeWindows(string query, string document)
    {
        var items = new List<ScoringItem>();
        AddItems(items, 0, Tokenizer.Tokenize(query), Tokenizer.Tokenize(document), RerankOptions.Default);
        return items.Select(i => i.Window ?? new TextWindow(0, 0, document.Length, 1)).ToArray();
    }

    /// <summary>Ends ONNX Runtime profiling (see <see cref="CrossEncoderOptions.ProfilePrefix"/>) and returns the trace path.</summary>
    internal string EndProfiling() => _session.EndProfiling();

    public void Dispose() => _session.Dispose();

    private ScoreActivation ResolveCallActivation(ScoreActivation? requested, float? calibration)
    {
        if (requested is null && calibration is null)
        {
            return _defaultActivation;
        }
        return Activations.Resolve(requested ?? _options.Activation, calibration ?? _options.CalibrationFactor, Model.DeclaredActivation, NumLabels);
    }

    private static void ValidateRerankOptions(RerankOptions options, ScoreActivation act)
    {
        if (options.TopK is { } k && k <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), k, "TopK must be positive (or null for all documents).");
        }
        if (options.Threshold is { } t)
        {
            if (!float.IsFinite(t))
            {
                throw new ArgumentOutOfRangeException(nameof(options), t, "Threshold must be a finite number.");
            }
            if (Activations.IsBounded(act) && t is < 0 or > 1)
            {
                throw new ArgumentOutOfRangeException(nameof(options), t,
                    $"Threshold {t} is outside [0, 1], the range of {act.ToString().ToLowerInvariant()} scores; use a value in [0, 1] or the raw activation.");
            }
        }
    }

    private static string ComposeText(Document doc, RerankOptions options)
    {
        var text = doc.Text;
        if (options.MetaFieldsToEmbed is { Count: > 0 } fields && doc.Metadata is { } meta)
        {
            // Haystack's meta_fields_to_embed: present, non-empty fields first, then the content.
            var parts = fields.Where(f => meta.TryGetValue(f, out var v) && v is not null && v.ToString() is { Length: > 0 })
                .Select(f => meta[f]!.ToString()!)
                .Append(text);
            text = string.Join(options.EmbeddingSeparator, parts);
        }
        return options.DocumentPrefix + text;
    }

    /// <summary>A model input: which caller item it belongs to, and for chunked documents which window.</summary>
    internal sealed record ScoringItem(int Owner, EncodedText Encoding, TextWindow? Window);

    private sealed record WindowPick(TextWindow Window, float MeanScore);

    private void AddItems(List<ScoringItem> items, int owner, TokenizedText query, TokenizedText doc, RerankOptions options)
    {
        var special = Tokenizer.NumSpecialTokensToAdd(isPair: true);
        var chunk = options.MaxChunks is { } m ? m > 1 : _options.LongDocuments == LongDocumentStrategy.Chunk;
        var total = query.Count + doc.Count + special;
        if (total <= MaxLength || !chunk)
        {
            if (total > MaxLength && !options.Truncate)
            {
                throw new InputTooLongException(owner, total, MaxLength);
            }
            // Fits (or truncation requested): exactly the sentence-transformers encoding.
            items.Add(new ScoringItem(owner, Tokenizer.Build(query, doc, MaxLength, _options.Truncation, options.TruncationSide == TruncationSide.Left), null));
            return;
        }

        foreach (var (window, slice) in Windows(query, doc, special, options.MaxChunks ?? _options.MaxChunks))
        {
            items.Add(new ScoringItem(owner, Tokenizer.Build(query, slice, MaxLength, TruncationStrategy.LongestFirst), window));
        }
    }

    /// <summary>
    /// Splits the document (never the query) into windows of the tokens left after the query and special
    /// tokens, overlapping by <see cref="CrossEncoderOptions.ChunkOverlap"/>, at most MaxChunks of them.
    /// A query longer than half the budget is cut to half so every window still sees real document text.
    /// </summary>
    private IEnumerable<(TextWindow Window, TokenizedText Slice)> Windows(TokenizedText query, TokenizedText doc, int special, int maxChunks)
    {
        var budget = MaxLength - special;
        var docBudget = Math.Max(1, budget - Math.Min(query.Count, budget / 2));
        var overlap = Math.Min(_options.ChunkOverlap, docBudget - 1);
        var step = docBudget - overlap;
        var total = doc.Count <= docBudget ? 1 : 1 + (int)Math.Ceiling((doc.Count - docBudget) / (double)step);
        var count = Math.Min(total, maxChunks);
        for (var w = 0; w < count; w++)
        {
            var start = w * step;
            var end = Math.Min(doc.Count, start + docBudget);
            var slice = doc.Slice(start, end);
            var window = new TextWindow(w, doc.Offsets[start].Start, doc.Offsets[end - 1].End, total);
            yield return (window, slice);
        }
    }

    /// <summary>The encoder's own batching: length-sorted batches under <see cref="CrossEncoderOptions.BatchSize"/> (and the token budget), several at once.</summary>
    private float[][] Predict(IReadOnlyList<EncodedText> items, CancellationToken cancellationToken, ScoringStats? stats = null)
    {
        var order = Enumerable.Range(0, items.Count).ToArray();
        if (_options.SortByLength)
        {
            // Stable sort by length: batches pad to near-equal lengths, which is where CPU time goes.
            order = order.OrderBy(i => items[i].Length).ToArray();
        }

        var results = new float[items.Count][];
        var batches = (order.Length + _options.BatchSize - 1) / _options.BatchSize;
        var concurrency = Math.Max(1, _options.ConcurrentBatches);
        var bounds = new List<(int Start, int End)>(batches);
        if (_options.SortByLength && _options.MaxBatchTokens is { } budget)
        {
            // Token budget (GPU batching): short pairs in big batches, long pairs in small ones.
            bounds = TokenBudget.Plan(order.Select(i => items[i].Length).ToArray(), budget, _options.BatchSize);
        }
        else if (_options.SortByLength)
        {
            // Batches of at most BatchSize, equal-sized, and (when several run at once) as many as a multiple of the
            // concurrency so no core idles in the last round: 100 pairs on 2 cores → 14 batches of 7–8, not 12×8 + 4.
            if (concurrency > 1 && batches > 1)
            {
                batches = Math.Min(order.Length, (batches + concurrency - 1) / concurrency * concurrency);
            }
            for (var k = 0; k < batches; k++)
            {
                bounds.Add(((int)((long)k * order.Length / batches), (int)((long)(k + 1) * order.Length / batches)));
            }
        }
        else
        {
            // Input order, consecutive slices of exactly BatchSize: reproduces a reference that batched that way
            // (int8 dynamic quantization scales depend on which pairs share a batch).
            for (var start = 0; start < order.Length; start += _options.BatchSize)
            {
                bounds.Add((start, Math.Min(order.Length, start + _options.BatchSize)));
            }
        }

        void RunRange((int Start, int End) range)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (start, end) = range;
            var batch = new List<EncodedText>(end - start);
            for (var j = start; j < end; j++)
            {
                batch.Add(items[order[j]]);
            }
            var inferenceStart = System.Diagnostics.Stopwatch.GetTimestamp();
            var rows = RunBatch(batch);
            stats?.AddBatch(batch, System.Diagnostics.Stopwatch.GetElapsedTime(inferenceStart));
            for (var j = start; j < end; j++)
            {
                results[order[j]] = rows[j - start];
            }
        }

        if (concurrency <= 1 || bounds.Count == 1)
        {
            foreach (var range in bounds)
            {
                RunRange(range);
            }
        }
        else
        {
            // Several single-threaded runs at once instead of one run split across threads: a BERT layer is many
            // small memory-bound operators (layer norm, transpose, softmax) whose per-operator thread hand-off
            // costs more than it saves on a few cores. Longest batches first, handed out one at a time, so the
            // shortest ones fill the end.
            bounds.Reverse();
            Parallel.ForEach(Partitioner.Create(bounds, EnumerablePartitionerOptions.NoBuffering),
                new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken }, RunRange);
        }
        return results;
    }

    /// <summary>One forward pass over a batch, padded to its longest pair, in the batch's order (what a runner calls).</summary>
    private float[][] RunBatch(IReadOnlyList<EncodedText> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0)
        {
            return [];
        }
        var (data, shape) = _session.Run(batch, Tokenizer.PadTokenId);
        var labels = shape.Length == 2 ? (int)shape[1] : 1;
        var results = new float[batch.Count][];
        for (var j = 0; j < batch.Count; j++)
        {
            results[j] = data.AsSpan(j * labels, labels).ToArray();
        }
        return results;
    }

    /// <summary>
    /// Combine: one row of logits per document (the winning window's, by this encoder's aggregation) and the windows
    /// (null where a document was scored whole).
    /// </summary>
    private (float[][] Logits, WindowPick?[] Windows) Aggregate(ScoringPlan plan, float[][] logits, ScoreActivation act, float factor)
    {
        var items = plan.Items;
        var owners = plan.Documents;
        if (logits.Length != items.Count)
        {
            throw new InvalidOperationException($"the inference runner returned {logits.Length} rows of logits for {items.Count} pairs");
        }
        var perOwner = new float[owners][];
        var windows = new WindowPick?[owners];
        var best = new float[owners];
        var sums = new double[owners];
        var counts = new int[owners];
        Array.Fill(best, float.NegativeInfinity);
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            if (item.Window is null)
            {
                perOwner[item.Owner] = logits[i];
                continue;
            }
            var score = Activations.Apply(logits[i], act, factor);
            sums[item.Owner] += score;
            counts[item.Owner]++;
            var take = _options.ChunkAggregation switch
            {
                ChunkAggregation.First => item.Window.Ordinal == 0,
                _ => score > best[item.Owner] || perOwner[item.Owner] is null,
            };
            if (take)
            {
                best[item.Owner] = score;
                perOwner[item.Owner] = logits[i];
                windows[item.Owner] = new WindowPick(item.Window, 0);
            }
        }
        for (var o = 0; o < owners; o++)
        {
            if (windows[o] is { } w)
            {
                windows[o] = w with { MeanScore = (float)(sums[o] / counts[o]) };
            }
        }
        return (perOwner, windows);
    }
}

/// <summary>Model inputs for a query and its documents, with which document (and window) each belongs to.</summary>
internal sealed class ScoringPlan
{
    public ScoringPlan(IReadOnlyList<CrossEncoder.ScoringItem> items, int documents)
    {
        Items = items;
        Encodings = items.Select(x => x.Encoding).ToArray();
        Documents = documents;
        Tokens = Encodings.Sum(e => e.Length);
    }

    /// <summary>The pairs to run, one or more per document.</summary>
    public IReadOnlyList<EncodedText> Encodings { get; }

    public IReadOnlyList<CrossEncoder.ScoringItem> Items { get; }

    /// <summary>Number of documents planned.</summary>
    public int Documents { get; }

    /// <summary>Tokens the model reads for the plan, special tokens included.</summary>
    public int Tokens { get; }
}

/// <summary>Reranked documents and how many tokens the model read for them (every window, special tokens included).</summary>
/// <param name="Results">Best first, cut to the options' top-k and threshold.</param>
/// <param name="Tokens">Tokens of every pair scored, including documents cut away by top-k or threshold.</param>
public sealed record RerankOutput(IReadOnlyList<RerankResult> Results, int Tokens);

/// <summary>
/// The batching seam of <see cref="CrossEncoder"/>: it hands a call's planned pairs to the runner, which forms batches
/// (it may mix pairs of concurrent calls, as the server's dynamic batcher does), runs each through
/// <see cref="ModelInference.Run"/> and returns one row of logits per pair in input order. Without one, the encoder
/// batches itself (<see cref="ModelInference.RunBatched"/>). Implementations are thread-safe.
/// </summary>
public interface IInferenceRunner
{
    Task<float[][]> RunAsync(IReadOnlyList<EncodedText> pairs, CancellationToken cancellationToken);
}

/// <summary>The loaded model as an <see cref="IInferenceRunner"/> sees it (see <see cref="CrossEncoder.Load"/>).</summary>
public sealed class ModelInference
{
    private readonly Func<IReadOnlyList<EncodedText>, float[][]> _run;
    private readonly Func<IReadOnlyList<EncodedText>, CancellationToken, float[][]> _runBatched;

    internal ModelInference(ModelDirectory model, Func<IReadOnlyList<EncodedText>, float[][]> run, Func<IReadOnlyList<EncodedText>, CancellationToken, float[][]> runBatched)
    {
        Model = model;
        _run = run;
        _runBatched = runBatched;
    }

    /// <summary>The model directory and its settings.</summary>
    public ModelDirectory Model { get; }

    /// <summary>One forward pass: the pairs padded to the longest, logits in the batch's order.</summary>
    public float[][] Run(IReadOnlyList<EncodedText> batch) => _run(batch);

    /// <summary>The encoder's own batching (length-sorted batches of the options' size, several at once), logits in input order.</summary>
    public float[][] RunBatched(IReadOnlyList<EncodedText> pairs, CancellationToken cancellationToken = default) => _runBatched(pairs, cancellationToken);
}
