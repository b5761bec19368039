namespace Sift.Training.Training;

public enum TrainLoss { Listwise, Bce }

/// <summary>Hyper-parameters of a run (the model card and the checkpoint record them).</summary>
public sealed record TrainOptions
{
    public TrainLoss Loss { get; init; } = TrainLoss.Listwise;
    /// <summary>Hard negatives per positive in each group (listwise: softmax over 1 + this many).</summary>
    public int Negatives { get; init; } = 7;
    public int MaxLength { get; init; } = 256;
    public int Epochs { get; init; } = 1;
    /// <summary>Groups (query + positive + negatives) per optimizer step.</summary>
    public int BatchGroups { get; init; } = 8;
    /// <summary>Groups per forward/backward pass; gradients accumulate over BatchGroups / MicroGroups passes (bounds memory).</summary>
    public int MicroGroups { get; init; } = 2;
    public double LearningRate { get; init; } = 4e-5;
    public double WarmupRatio { get; init; } = 0.1;
    public double WeightDecay { get; init; } = 0.01;
    public double MaxGradNorm { get; init; } = 1.0;
    public int Seed { get; init; } = 42;
    public int Threads { get; init; } = 0;
    /// <summary>Write the resumable checkpoint every this many optimizer steps (and at each epoch end).</summary>
    public int CheckpointEvery { get; init; } = 25;
    /// <summary>Stop after this many optimizer steps in total (benchmarks, smoke runs); the schedule still spans all epochs.</summary>
    public int? MaxSteps { get; init; }
    /// <summary>Stop (evaluate, keep the best, export) once training has run this long; on a shared machine the speed varies.</summary>
    public double? MaxMinutes { get; init; }
    /// <summary>Score the dev split before the first step (worth it only when the source already is a cross-encoder).</summary>
    public bool EvaluateStart { get; init; }
    /// <summary>Dev evaluation: nDCG@10 of the first stage's top-k reranked by the model, each epoch.</summary>
    public int DevBatchSize { get; init; } = 16;
}
