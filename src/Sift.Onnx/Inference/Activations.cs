namespace Sift.Onnx;

/// <summary>Turns logits into a ranking score, matching sentence-transformers' CrossEncoder activations.</summary>
internal static class Activations
{
    /// <summary>Resolves <see cref="ScoreActivation.Default"/> and calibration into a concrete activation.</summary>
    public static ScoreActivation Resolve(ScoreActivation requested, float? calibrationFactor, ScoreActivation declared, int numLabels)
    {
        if (calibrationFactor is not null)
        {
            return ScoreActivation.Sigmoid;
        }
        var act = requested == ScoreActivation.Default
            // Multi-label heads rank by the positive (last) class probability; one-label heads use what the model declares.
            ? (numLabels > 1 ? ScoreActivation.Softmax : declared)
            : requested;
        if (act == ScoreActivation.Softmax && numLabels == 1)
        {
            throw new SiftException("softmax needs a model with two or more labels (over one label it is always 1); use sigmoid or raw.");
        }
        return act;
    }

    /// <summary>The score of one pair from its logits. Multi-label models score the last (positive) class.</summary>
    public static float Apply(ReadOnlySpan<float> logits, ScoreActivation activation, float factor)
    {
        var last = logits[^1];
        switch (activation)
        {
            case ScoreActivation.Raw:
                return last;
            case ScoreActivation.Sigmoid:
                return Sigmoid(last * factor);
            case ScoreActivation.Softmax:
                var max = float.NegativeInfinity;
                foreach (var l in logits)
                {
                    max = MathF.Max(max, l);
                }
                double sum = 0;
                foreach (var l in logits)
                {
                    sum += Math.Exp(l - max);
                }
                return (float)(Math.Exp(last - max) / sum);
            default:
                throw new ArgumentOutOfRangeException(nameof(activation), activation, "Resolve the activation first.");
        }
    }

    /// <summary>True when scores of this activation lie in [0, 1].</summary>
    public static bool IsBounded(ScoreActivation activation) => activation is ScoreActivation.Sigmoid or ScoreActivation.Softmax;

    private static float Sigmoid(float x) => (float)(1.0 / (1.0 + Math.Exp(-x)));
}
