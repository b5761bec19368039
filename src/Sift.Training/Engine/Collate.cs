using Sift.Tokenizers;
using static TorchSharp.torch;

namespace Sift.Training.Engine;

/// <summary>Pads tokenized pairs to the longest in the batch: int64 ids, mask and token types [B, S].</summary>
public static class Collate
{
    public static (Tensor Ids, Tensor Mask, Tensor Types) Pad(IReadOnlyList<EncodedText> batch, int padId = 0)
    {
        int b = batch.Count, s = batch.Max(e => e.Length);
        var ids = new long[b * s];
        var mask = new long[b * s];
        var types = new long[b * s];
        for (int i = 0; i < b; i++)
        {
            var e = batch[i];
            for (int j = 0; j < s; j++)
            {
                bool real = j < e.Length;
                ids[i * s + j] = real ? e.InputIds[j] : padId;
                mask[i * s + j] = real ? 1 : 0;
                types[i * s + j] = real ? e.TypeIds[j] : 0;
            }
        }
        return (tensor(ids, [b, s]), tensor(mask, [b, s]), tensor(types, [b, s]));
    }
}
