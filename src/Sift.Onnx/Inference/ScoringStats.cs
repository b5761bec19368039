using Sift.Tokenizers;

namespace Sift.Onnx;

/// <summary>
/// Where scoring time went and how much work the batches carried. Thread-safe accumulator, used by
/// <c>sift bench</c> (internal: diagnostics are not part of the public API).
/// </summary>
internal sealed class ScoringStats
{
    private long _tokenizeTicks;
    private long _inferenceTicks;
    private long _pairs;
    private long _tokens;
    private long _paddedTokens;
    private long _batches;
    private long _attentionTokenPositions;

    public TimeSpan Tokenize => TimeSpan.FromTicks(Interlocked.Read(ref _tokenizeTicks));
    public TimeSpan Inference => TimeSpan.FromTicks(Interlocked.Read(ref _inferenceTicks));
    public long Pairs => Interlocked.Read(ref _pairs);
    /// <summary>Real tokens fed to the model.</summary>
    public long Tokens => Interlocked.Read(ref _tokens);
    /// <summary>Tokens including padding (batch × longest in batch): what the model actually computes.</summary>
    public long PaddedTokens => Interlocked.Read(ref _paddedTokens);
    public long Batches => Interlocked.Read(ref _batches);
    /// <summary>Σ over batches of batch × seq², the attention score matrix sizes (for FLOP estimates).</summary>
    public long AttentionTokenPositions => Interlocked.Read(ref _attentionTokenPositions);

    /// <summary>Share of computed tokens that were padding.</summary>
    public double PaddingWaste => PaddedTokens == 0 ? 0 : 1 - (double)Tokens / PaddedTokens;

    public void AddTokenize(TimeSpan elapsed) => Interlocked.Add(ref _tokenizeTicks, elapsed.Ticks);

    public void AddBatch(IReadOnlyList<EncodedText> batch, TimeSpan elapsed)
    {
        var seq = 0;
        long real = 0;
        foreach (var e in batch)
        {
            seq = Math.Max(seq, e.Length);
            real += e.Length;
        }
        Interlocked.Add(ref _inferenceTicks, elapsed.Ticks);
        Interlocked.Add(ref _pairs, batch.Count);
        Interlocked.Add(ref _tokens, real);
        Interlocked.Add(ref _paddedTokens, (long)seq * batch.Count);
        Interlocked.Add(ref _attentionTokenPositions, (long)seq * seq * batch.Count);
        Interlocked.Increment(ref _batches);
    }

    public void Reset()
    {
        Interlocked.Exchange(ref _tokenizeTicks, 0);
        Interlocked.Exchange(ref _inferenceTicks, 0);
        Interlocked.Exchange(ref _pairs, 0);
        Interlocked.Exchange(ref _tokens, 0);
        Interlocked.Exchange(ref _paddedTokens, 0);
        Interlocked.Exchange(ref _batches, 0);
        Interlocked.Exchange(ref _attentionTokenPositions, 0);
    }
}
