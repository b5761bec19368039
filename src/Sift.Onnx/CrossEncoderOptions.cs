using Microsoft.ML.OnnxRuntime;
using Sift.Tokenizers;

namespace Sift.Onnx;

/// <summary>How long documents are handled when query + document exceed the model's max length.</summary>
public enum LongDocumentStrategy
{
    /// <summary>Cut the pair to fit (sentence-transformers' behaviour; the tail of the document is never seen).</summary>
    Truncate,
    /// <summary>Split the document (never the query) into overlapping windows, score each, aggregate.</summary>
    Chunk,
}

/// <summary>How window scores of a chunked document combine into one score.</summary>
public enum ChunkAggregation
{
    /// <summary>Best window wins (what Cohere and Elasticsearch do).</summary>
    Max,
    /// <summary>Mean of window scores.</summary>
    Mean,
    /// <summary>Only the first window counts.</summary>
    First,
}

/// <summary>Options for loading and running a cross-encoder. Defaults reproduce sentence-transformers.</summary>
public sealed record CrossEncoderOptions
{
    /// <summary>Max tokens per pair. The effective value is min(this, tokenizer model_max_length, max_position_embeddings).</summary>
    public int? MaxLength { get; init; }

    /// <summary>fp32 (<c>onnx/model.onnx</c>), int8 (<c>onnx/model_quantized.onnx</c>) or fp16 (the fp32 file converted by Sift, cached).</summary>
    public ModelPrecision Precision { get; init; } = ModelPrecision.Fp32;

    /// <summary>
    /// Where ONNX Runtime runs the model: the CPU (default) or a CUDA GPU. CUDA needs the GPU build of ONNX Runtime
    /// (Sift.Onnx.Gpu, or the CLI built with <c>-p:SiftGpu=true</c>); loading says what is missing otherwise. On CUDA,
    /// Sift's CPU kernels (<see cref="HostAttention"/>, <see cref="HostGelu"/>, <see cref="ClsOnlyLastLayer"/>) are off,
    /// batches are cut by <see cref="MaxBatchTokens"/> and fed through IO binding.
    /// </summary>
    public ExecutionDevice Device { get; init; } = ExecutionDevice.Cpu;

    /// <summary>
    /// Padded tokens (pairs × longest pair) per batch, TEI's <c>--max-batch-tokens</c>: length-sorted pairs are cut into
    /// batches under this budget and at most <see cref="BatchSize"/> pairs. Null: on CPU, batches of <see cref="BatchSize"/>
    /// pairs as before; on CUDA, 16,384 tokens (raise <see cref="BatchSize"/> too: 8 pairs leave a GPU idle).
    /// </summary>
    public int? MaxBatchTokens { get; init; }

    /// <summary>
    /// Feed ONNX Runtime through IO binding: inputs are written straight into ONNX Runtime memory (pinned host memory on
    /// CUDA) and outputs read from it, with no managed arrays in between. Null (default): on for CUDA, off for CPU.
    /// </summary>
    public bool? IoBinding { get; init; }

    /// <summary>
    /// With fp16: keep LayerNorm and softmax in float32 with Casts around them (default true, the conservative choice).
    /// False leaves them in float16 so ONNX Runtime's CUDA fusions (SkipLayerNormalization, Attention) apply; a GPU
    /// throughput option (benchmarks/gpu/run.sh measures both; `sift bench --fp16-fusable-norms`).
    /// </summary>
    public bool Fp16Fp32Norms { get; init; } = true;

    /// <summary>Score activation; <see cref="ScoreActivation.Default"/> uses what the model declares.</summary>
    public ScoreActivation Activation { get; init; } = ScoreActivation.Default;

    /// <summary>Haystack's calibration factor: score = sigmoid(logit × factor). Implies sigmoid.</summary>
    public float? CalibrationFactor { get; init; }

    /// <summary>Pairs per ONNX Runtime call. Small length-sorted batches beat big ones on CPU (less padding, cheaper attention).</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>
    /// Sort pairs by token count before batching so each batch pads to a similar length. Results always come
    /// back in input order. Turn off only to reproduce a reference that batched in input order.
    /// </summary>
    public bool SortByLength { get; init; } = true;

    /// <summary>Threads each batch's inference uses (ONNX Runtime intra-op threads and the attention kernel); 0: automatic (see <see cref="ConcurrentBatches"/>).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>
    /// Batches scored at the same time, each on its own thread(s). 0 (default): automatic — with both this and
    /// <see cref="IntraOpThreads"/> at 0, one single-threaded batch per core up to 4 cores (then 4 batches sharing the
    /// cores); with one of them set, the other fills the cores. Why: a BERT layer is dozens of small operators, and
    /// splitting each across threads costs a hand-off per operator; on 2 cores, two single-threaded batches at once
    /// measured 1.45× faster (int8) and 1.48× (fp32) than one batch on two threads (benchmarks/README.md).
    /// </summary>
    public int ConcurrentBatches { get; init; }

    /// <summary>Token budget per batch on CUDA when <see cref="MaxBatchTokens"/> is not set (TEI's default is 16,384 too).</summary>
    public const int DefaultCudaBatchTokens = 16_384;

    /// <summary>
    /// The pair cap front ends (the CLI) use on CUDA when the user gives no batch size: high enough that the token
    /// budget, not the pair count, sizes GPU batches (100 candidates of ~150 tokens fit one 16,384-token batch).
    /// </summary>
    public const int DefaultCudaBatchSize = 256;

    /// <summary>The threading and batching actually used: zeros and nulls replaced by the automatic choice for this machine and device.</summary>
    internal CrossEncoderOptions ResolveThreading()
    {
        int cores = Math.Max(1, Environment.ProcessorCount);
        int concurrent = ConcurrentBatches, intra = IntraOpThreads;
        if (concurrent == 0 && intra == 0 && Device.IsCuda)
        {
            // The GPU does the work; two batches in flight let one's host side (padding, copies, kernel launches)
            // overlap the other's compute. Not yet measured on a GPU: benchmarks/gpu/run.sh compares 1 and 2.
            concurrent = 2;
            intra = 1;
        }
        else if (concurrent == 0 && intra == 0)
        {
            concurrent = Math.Min(cores, 4);
            intra = Math.Max(1, cores / concurrent);
        }
        else if (concurrent == 0)
        {
            concurrent = Math.Max(1, cores / intra);
        }
        else if (intra == 0)
        {
            intra = Math.Max(1, cores / concurrent);
        }
        return this with { ConcurrentBatches = concurrent, IntraOpThreads = intra, MaxBatchTokens = MaxBatchTokens ?? (Device.IsCuda ? DefaultCudaBatchTokens : null) };
    }

    /// <summary>
    /// Rewrite each layer's self-attention subgraph into one ONNX Runtime <c>MultiHeadAttention</c> node before loading
    /// (bit-exact; cached beside the model cache). Measured gain on 2 CPU cores is small (see benchmarks/README.md),
    /// so it is off by default.
    /// </summary>
    public bool FuseAttention { get; init; }

    /// <summary>
    /// Compute self-attention with Sift's AVX-512 kernel between ONNX Runtime segments (default true; used only on CPUs
    /// with AVX-512 and graphs with the standard BERT attention pattern, otherwise ONNX Runtime runs the whole graph).
    /// fp32 results equal ONNX Runtime's within 1e-4; int8 results within quantization noise (a float-rounding
    /// difference can move an activation across an 8-bit step; see README). Measured faster on 2 cores (benchmarks/README.md).
    /// <see cref="CrossEncoder.AttentionPath"/> says which path a loaded model took and why.
    /// </summary>
    public bool HostAttention { get; init; } = true;

    /// <summary>
    /// With <see cref="HostAttention"/>, also compute each exact GELU with Sift's AVX-512 kernel (default true): ONNX
    /// Runtime's CPU Gelu is slow enough here that one more segment boundary per layer pays for itself.
    /// </summary>
    public bool HostGelu { get; init; } = true;

    /// <summary>
    /// With <see cref="HostAttention"/>, compute the last layer only for the first token ([CLS] / &lt;s&gt;), the one the
    /// classification head reads (default true). The other tokens' last-layer outputs are never used, so fp32 scores
    /// are unchanged (within float rounding) while a 6-layer model skips ~13% of its FLOPs. Applied only when the graph
    /// proves it (position-wise operators up to the head's Gather of token 0); <see cref="CrossEncoder.AttentionPath"/>
    /// says whether it was. For int8 models the dynamic quantization scales of that last layer are then taken over
    /// the first tokens only (quantization noise, like <see cref="HostAttention"/>'s).
    /// </summary>
    public bool ClsOnlyLastLayer { get; init; } = true;

    /// <summary>Extra ONNX Runtime session config entries (e.g. <c>session.intra_op.allow_spinning</c> = <c>0</c>).</summary>
    public IReadOnlyDictionary<string, string>? SessionConfig { get; init; }

    /// <summary>ONNX Runtime graph optimizations (fusions of attention, GELU, layer norm...).</summary>
    public GraphOptimizationLevel GraphOptimization { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>
    /// Where ONNX Runtime may save the optimized graph so the next start skips optimization (null: no cache).
    /// </summary>
    public string? OptimizedModelCachePath { get; init; }

    /// <summary>When set, ONNX Runtime writes a per-operator profile (Chrome trace JSON) with this path prefix; see <see cref="CrossEncoder.EndProfiling"/>.</summary>
    internal string? ProfilePrefix { get; init; }

    /// <summary>How a pair longer than the max length is cut (Hugging Face semantics).</summary>
    public TruncationStrategy Truncation { get; init; } = TruncationStrategy.LongestFirst;

    /// <summary>Truncate (default) or chunk long documents.</summary>
    public LongDocumentStrategy LongDocuments { get; init; } = LongDocumentStrategy.Truncate;

    /// <summary>Tokens shared by consecutive windows in chunk mode.</summary>
    public int ChunkOverlap { get; init; } = 64;

    /// <summary>At most this many windows per document; text past the last window is not scored.</summary>
    public int MaxChunks { get; init; } = 8;

    /// <summary>How window scores combine in chunk mode.</summary>
    public ChunkAggregation ChunkAggregation { get; init; } = ChunkAggregation.Max;

    internal void Validate()
    {
        if (MaxLength is <= 2)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxLength), MaxLength, "MaxLength must be at least 3 tokens (room for special tokens).");
        }
        if (BatchSize <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be positive.");
        }
        if (MaxBatchTokens is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxBatchTokens), MaxBatchTokens, "MaxBatchTokens must be positive (or null for the device's default).");
        }
        if (Device.Index < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Device), Device, "the GPU index must be 0 or more.");
        }
        if (IntraOpThreads < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(IntraOpThreads), IntraOpThreads, "IntraOpThreads must be 0 (automatic) or positive.");
        }
        if (ConcurrentBatches < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ConcurrentBatches), ConcurrentBatches, "ConcurrentBatches must be 0 (automatic) or positive.");
        }
        if (ChunkOverlap < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ChunkOverlap), ChunkOverlap, "ChunkOverlap must be zero or positive.");
        }
        if (MaxChunks <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxChunks), MaxChunks, "MaxChunks must be positive.");
        }
        if (CalibrationFactor is { } f && (!float.IsFinite(f) || f == 0))
        {
            throw new ArgumentOutOfRangeException(nameof(CalibrationFactor), f, "CalibrationFactor must be a finite, non-zero number.");
        }
    }
}
