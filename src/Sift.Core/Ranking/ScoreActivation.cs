namespace Sift;

/// <summary>How a cross-encoder's logits become the score used for ranking.</summary>
public enum ScoreActivation
{
    /// <summary>What the model declares (sentence-transformers' rules): config, else sigmoid for 1 label, identity for more.</summary>
    Default,
    /// <summary>The raw logit (identity). For multi-label models the positive (last) class logit.</summary>
    Raw,
    /// <summary>sigmoid(logit × calibration factor).</summary>
    Sigmoid,
    /// <summary>Softmax over labels; the score is the positive (last) class probability.</summary>
    Softmax,
}
