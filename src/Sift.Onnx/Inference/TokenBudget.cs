namespace Sift.Onnx;

/// <summary>
/// Cuts length-sorted sequences into batches under a padded-token budget, the way Hugging Face TEI's
/// <c>--max-batch-tokens</c> does: a batch costs (pairs × its longest pair) tokens of compute, so short pairs travel in
/// big batches and long ones in small batches, and a GPU gets work sized to its memory instead of a fixed pair count.
/// Shared by <see cref="CrossEncoder"/>, <see cref="BiEncoder"/> and the server's dynamic batcher.
/// </summary>
public static class TokenBudget
{
    /// <summary>
    /// Consecutive ranges [Start, End) of <paramref name="lengths"/> (ascending, as a length sort leaves them) such that
    /// each holds at most <paramref name="maxPairs"/> items and pads to at most <paramref name="maxTokens"/> tokens
    /// (count × longest). An item longer than the budget on its own still gets a batch of one.
    /// </summary>
    public static List<(int Start, int End)> Plan(IReadOnlyList<int> lengths, int maxTokens, int maxPairs)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPairs, 1);
        var batches = new List<(int, int)>();
        var start = 0;
        while (start < lengths.Count)
        {
            var end = start;
            var longest = 0;
            while (end < lengths.Count)
            {
                var len = Math.Max(longest, lengths[end]);
                var count = end - start + 1;
                if (count > 1 && (count > maxPairs || (long)count * len > maxTokens)) break;
                longest = len;
                end++;
            }
            batches.Add((start, end));
            start = end;
        }
        return batches;
    }
}
