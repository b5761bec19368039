using System.Text;
using Sift.Testing;
using Sift.Tokenizers.Normalizers;
using Sift.Tokenizers.Text;

namespace Sift.Tokenizers.Tests;

/// <summary>The speed-ups (fused ASCII paths, flat trie, shared caches) must be invisible: same output as the general code.</summary>
public sealed class FastPathTests
{
    private static readonly string[] Alphabet =
    [
        "a", "Z", "q", "M", " ", "\t", "\n", "\r", ".", "#", "'", "0", "\u0001", "\u000B", "\u000C", "\u007F", "\0",
        "\u0301", "\u0316", "\u0300", "\u00E9", "\u00C9", "\u0130", "\u00DF", "\u4E2D", "\u3400", "\u00A0", "\u2003",
        "\u200B", "\uFEFF", "\uFFFD", "\U0001F600", "\U00020000", "\u1E0A", "\uAC00", "\u0345", "\u05B0", "\u0F71",
    ];

    private static string RandomText(Random rng)
    {
        var sb = new StringBuilder();
        int n = rng.Next(0, 24);
        for (int i = 0; i < n; i++) sb.Append(Alphabet[rng.Next(Alphabet.Length)]);
        return sb.ToString();
    }

    [Fact]
    public void BertNormalizer_FusedPath_MatchesGeneralPipeline()
    {
        var rng = new Random(1234);
        for (int flags = 0; flags < 16; flags++)
        {
            var norm = new BertNormalizer((flags & 1) != 0, (flags & 2) != 0, (flags & 4) != 0, (flags & 8) != 0);
            for (int iter = 0; iter < 1500; iter++)
            {
                string text = RandomText(rng);
                // Also a slice with a non-zero offset, as the tokenizer passes between added tokens.
                int cut = text.Length > 0 ? rng.Next(0, text.Length) : 0;
                if (cut > 0 && char.IsLowSurrogate(text[cut])) cut--;
                var whole = NormalizedString.FromOriginal(text, 0, text.Length);
                foreach (var input in new[] { whole, whole.Slice(cut, text.Length - cut) })
                {
                    var fast = norm.Normalize(input);
                    var slow = norm.Slow(input);
                    string what = $"flags {flags}, input {Escape(input.ToString())}";
                    Assert.True(slow.ToString() == fast.ToString(), $"text differs: {what}");
                    for (int i = 0; i < fast.Length; i++)
                    {
                        Assert.True(slow.OriginalSpan(i, i + 1) == fast.OriginalSpan(i, i + 1), $"alignment {i} differs: {what}");
                    }
                    Assert.Equal(slow.OrigStart, fast.OrigStart);
                    Assert.Equal(slow.OrigEnd, fast.OrigEnd);
                }
            }
        }
    }

    private static string Escape(string s) => string.Concat(s.Select(c => c is >= ' ' and < '\u007F' ? c.ToString() : $"\\u{(int)c:X4}"));

    [Fact]
    public void CharTrie_LongestPrefix_MatchesBruteForce()
    {
        var rng = new Random(7);
        var keys = new Dictionary<string, int>();
        var trie = new CharTrie();
        for (int i = 0; i < 20_000; i++)
        {
            int len = rng.Next(1, 9);
            var k = new string(Enumerable.Range(0, len).Select(_ => (char)(rng.Next(2) == 0 ? 'a' + rng.Next(4) : rng.Next(0, 0x10000))).ToArray());
            if (keys.TryAdd(k, i)) trie.Add(k, i);
        }
        for (int i = 0; i < 20_000; i++)
        {
            int len = rng.Next(0, 12);
            var s = new string(Enumerable.Range(0, len).Select(_ => (char)(rng.Next(8) != 0 ? 'a' + rng.Next(4) : rng.Next(0, 0x10000))).ToArray());
            int expectLen = 0, expectVal = -1;
            for (int l = s.Length; l > 0; l--)
            {
                if (keys.TryGetValue(s[..l], out int v)) { expectLen = l; expectVal = v; break; }
            }
            int got = trie.LongestPrefix(s, out int val);
            Assert.Equal(expectLen, got);
            if (got > 0) Assert.Equal(expectVal, val);
        }
    }

    public static TheoryData<string> Models => new() { "ce-bert-tiny", "ce-xlmr-tiny", "ce-roberta-bpe-tiny", "ce-xlmr-spm-tiny" };

    /// <summary>One tokenizer shared by several threads while its piece caches fill gives the same output as one thread.</summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void SharedTokenizer_ConcurrentUse_MatchesSequential(string model)
    {
        var rng = new Random(99);
        var words = new[] { "The", "quick", "brown", "fox's", "über-naïve", "Ångström", "tokenization", "e\u0301t\u00E9",
            "(p<0.05)", "COVID-19", "\u4E2D\u6587", "x\u0301\u0316y", "\r\n", "\t", "anti-inflammatory", "micro­structural" };
        var texts = Enumerable.Range(0, 400).Select(_ =>
            string.Join(rng.Next(3) == 0 ? "  " : " ", Enumerable.Range(0, rng.Next(1, 40)).Select(_ => words[rng.Next(words.Length)]) ) +
            rng.Next(100000).ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var reference = HfTokenizer.FromDirectory(TestPaths.Fixture(model));
        var expected = texts.Select(t => reference.Tokenize(t)).ToArray();
        var shared = HfTokenizer.FromDirectory(TestPaths.Fixture(model));
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, w =>
        {
            for (int rep = 0; rep < 2; rep++)
                for (int i = w; i < texts.Length + w; i++)
                {
                    int k = i % texts.Length;
                    var got = shared.Tokenize(texts[k]);
                    if (!got.Ids.SequenceEqual(expected[k].Ids) || !got.Offsets.SequenceEqual(expected[k].Offsets)) failures.Add(texts[k]);
                }
        });
        Assert.Empty(failures);
    }
}
