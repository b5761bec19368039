using System.CommandLine;
using Sift.Hosting;
using Sift.Onnx;

namespace Sift.Cli;

/// <summary>The cross-encoder options shared by <c>score</c> and <c>rerank</c>, declared once.</summary>
internal sealed class CrossEncoderCliOptions
{
    public Option<string?> Model { get; } = CliCommon.ModelOption();
    public Option<ScoreActivation> Activation { get; } = CliCommon.ActivationOption();
    public Option<ModelPrecision> Precision { get; } = CliCommon.PrecisionOption();
    public Option<int?> MaxLength { get; } = CliCommon.MaxLengthOption();
    public Option<int> BatchSize { get; } = CliCommon.BatchSizeOption();
    public Option<int> Threads { get; } = CliCommon.ThreadsOption();
    public Option<LongDocumentStrategy> LongDocs { get; } = CliCommon.LongDocsOption();
    public Option<int> ChunkOverlap { get; } = CliCommon.ChunkOverlapOption();
    public Option<int> MaxChunks { get; } = CliCommon.MaxChunksOption();
    public Option<float?> Calibration { get; } = CliCommon.CalibrationOption();
    public Option<OutputFormat> Format { get; } = CliCommon.FormatOption();
    public Option<ExecutionDevice> Device { get; } = CliCommon.DeviceOption();
    public Option<int?> MaxBatchTokens { get; } = CliCommon.MaxBatchTokensOption();

    public void AddTo(Command command)
    {
        foreach (Option o in new Option[] { Model, Activation, Precision, MaxLength, BatchSize, Threads, LongDocs, ChunkOverlap, MaxChunks, Calibration, Format, Device, MaxBatchTokens })
        {
            command.Options.Add(o);
        }
    }

    /// <summary>The reranker settings the parsed flags describe.</summary>
    public RerankerSettings Settings(ParseResult pr) => new()
    {
        Precision = pr.GetValue(Precision),
        MaxLength = pr.GetValue(MaxLength),
        BatchSize = CliCommon.BatchSize(pr, BatchSize, pr.GetValue(Device)),
        Device = pr.GetValue(Device),
        MaxBatchTokens = pr.GetValue(MaxBatchTokens),
        Threads = pr.GetValue(Threads),
        Activation = pr.GetValue(Activation),
        CalibrationFactor = pr.GetValue(Calibration),
        LongDocs = pr.GetValue(LongDocs),
        ChunkOverlap = pr.GetValue(ChunkOverlap),
        MaxChunks = pr.GetValue(MaxChunks),
    };

    /// <summary>Loads the cross-encoder the parsed flags describe.</summary>
    public CrossEncoder Load(ParseResult pr) => CrossEncoder.Load(pr.GetValue(Model), Settings(pr).ToOptions());
}
