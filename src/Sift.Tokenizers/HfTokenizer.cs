namespace Sift.Tokenizers;

// PUBLIC API CONTRACT (used by Sift.Onnx): five public types, HfTokenizer, TruncationStrategy, TokenizedText, EncodedText
// (named so it does not collide with System.Text.Encoding) and TokenizerException. Signatures may grow but not change.

/// <summary>How a pair is cut to fit a max length (Hugging Face tokenizers semantics).</summary>
public enum TruncationStrategy { LongestFirst, OnlyFirst, OnlySecond }

/// <summary>Text after normalization, pre-tokenization and the model, without special tokens or truncation.</summary>
public sealed class TokenizedText
{
    public TokenizedText(int[] ids, string[] tokens, (int Start, int End)[] offsets)
    {
        Ids = ids; Tokens = tokens; Offsets = offsets;
    }

    public int[] Ids { get; }
    public string[] Tokens { get; }
    /// <summary>Character offsets (UTF-16, end exclusive) into the original string, one per token.</summary>
    public (int Start, int End)[] Offsets { get; }
    public int Count => Ids.Length;

    /// <summary>Tokens <paramref name="start"/> (inclusive) to <paramref name="end"/> (exclusive), offsets unchanged.</summary>
    public TokenizedText Slice(int start, int end) =>
        start == 0 && end == Count ? this : new(Ids[start..end], Tokens[start..end], Offsets[start..end]);
}

/// <summary>Model-ready ids after truncation and the post-processor template.</summary>
public sealed class EncodedText
{
    public EncodedText(int[] inputIds, int[] typeIds, string[] tokens)
    {
        InputIds = inputIds; TypeIds = typeIds; Tokens = tokens;
    }

    public int[] InputIds { get; }
    public int[] TypeIds { get; }
    public string[] Tokens { get; }
    public int Length => InputIds.Length;
}
