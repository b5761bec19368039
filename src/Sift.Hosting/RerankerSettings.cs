using Sift.Onnx;

namespace Sift.Hosting;

/// <summary>
/// The cross-encoder settings every surface exposes (CLI flags, config-file keys, the server's options), and the one
/// place they become <see cref="CrossEncoderOptions"/> (<see cref="ToOptions"/>), shared by the CLI, bench, eval, search
/// and the server's model registry. Defaults are sentence-transformers'.
/// </summary>
public sealed record RerankerSettings
{
    public ModelPrecision Precision { get; init; } = ModelPrecision.Fp32;

    public ExecutionDevice Device { get; init; } = ExecutionDevice.Cpu;

    /// <summary>Max tokens per pair (capped by the model's limits); null: the model's limit.</summary>
    public int? MaxLength { get; init; }

    /// <summary>Pairs per inference call; null: 8 on CPU, <see cref="CrossEncoderOptions.DefaultCudaBatchSize"/> on CUDA.</summary>
    public int? BatchSize { get; init; }

    /// <summary>Padded tokens per batch (TEI's --max-batch-tokens); null: none on CPU, the CUDA default on CUDA.</summary>
    public int? MaxBatchTokens { get; init; }

    /// <summary>Threads per batch (0: automatic).</summary>
    public int Threads { get; init; }

    public ScoreActivation Activation { get; init; } = ScoreActivation.Default;

    public float? CalibrationFactor { get; init; }

    /// <summary>Truncate (default) or chunk long documents.</summary>
    public LongDocumentStrategy LongDocs { get; init; } = LongDocumentStrategy.Truncate;

    /// <summary>Tokens shared by consecutive windows in chunk mode (flag <c>--chunk-overlap</c>; <c>--stride</c> is its old alias).</summary>
    public int ChunkOverlap { get; init; } = 64;

    /// <summary>Windows per document at most in chunk mode.</summary>
    public int MaxChunks { get; init; } = 8;

    /// <summary>The options to load a cross-encoder with.</summary>
    public CrossEncoderOptions ToOptions() => new()
    {
        Precision = Precision,
        Device = Device,
        MaxLength = MaxLength,
        BatchSize = BatchSize ?? (Device.IsCuda ? CrossEncoderOptions.DefaultCudaBatchSize : new CrossEncoderOptions().BatchSize),
        MaxBatchTokens = MaxBatchTokens,
        IntraOpThreads = Threads,
        Activation = Activation,
        CalibrationFactor = CalibrationFactor,
        LongDocuments = LongDocs,
        ChunkOverlap = ChunkOverlap,
        MaxChunks = MaxChunks,
    };
}
