using Sift.Testing;

namespace Sift.Tokenizers.Tests;

public sealed class OffsetTests
{
    private static readonly Lazy<HfTokenizer> Bert = new(() => HfTokenizer.FromDirectory(TestPaths.Fixture("ce-bert-tiny")));

    [Theory]
    [InlineData("Hello, World! unaffable tokenization")]
    [InlineData("Café Zürich naïve résumé")]
    [InlineData("  leading spaces and [SEP] literal")]
    [InlineData("中文字符 mixed with English")]
    public void BertOffsets_SliceTheOriginalText(string text)
    {
        var t = Bert.Value.Tokenize(text);
        Assert.NotEmpty(t.Ids);
        for (int i = 0; i < t.Count; i++)
        {
            var (s, e) = t.Offsets[i];
            Assert.True(s < e, $"token {t.Tokens[i]} has empty offsets");
            var slice = text[s..e];
            if (t.Tokens[i] == "[UNK]") continue;
            // Lowercased and accent-stripped, the slice spells the token (without the ## prefix).
            var folded = new string(slice.ToLowerInvariant().Replace("é", "e").Replace("ü", "u").Replace("ï", "i").ToArray());
            var piece = t.Tokens[i].StartsWith("##", StringComparison.Ordinal) ? t.Tokens[i][2..] : t.Tokens[i];
            Assert.True(folded.StartsWith(piece, StringComparison.Ordinal) || slice == t.Tokens[i], $"'{slice}' vs token '{t.Tokens[i]}'");
        }
        // Tokens come in text order without overlap.
        for (int i = 1; i < t.Count; i++) Assert.True(t.Offsets[i].Start >= t.Offsets[i - 1].End);
    }

    [Fact]
    public void SentencePieceOffsets_CoverTheWords()
    {
        var tok = HfTokenizer.FromDirectory(TestPaths.Fixture("ce-xlmr-spm-tiny"));
        const string text = "the cell biology";
        var t = tok.Tokenize(text);
        var joined = string.Concat(t.Offsets.Select(o => text[o.Start..o.End]));
        Assert.Equal(text.Replace(" ", ""), joined.Replace(" ", ""));
    }

    [Fact]
    public void ByteLevelOffsets_MapMultiByteCharsBack()
    {
        var tok = HfTokenizer.FromDirectory(TestPaths.Fixture("ce-roberta-bpe-tiny"));
        const string text = "Café \U0001F600 ok";
        var t = tok.Tokenize(text);
        foreach (var (s, e) in t.Offsets) Assert.True(s < e && e <= text.Length);
        // The emoji's 4 UTF-8 bytes map back to its 2 UTF-16 units, never half of the surrogate pair.
        Assert.Contains(t.Offsets, o => text[o.Start..o.End].Contains("\U0001F600", StringComparison.Ordinal));
        Assert.DoesNotContain(t.Offsets, o => char.IsLowSurrogate(text[o.Start]) || char.IsHighSurrogate(text[o.End - 1]));
    }
}
