using System.Diagnostics;
using System.Text;
using Sift.Testing;

namespace Sift.Tokenizers.Tests;

public sealed class RobustnessTests(Xunit.Abstractions.ITestOutputHelper output)
{
    public static TheoryData<string> Models => new() { "ce-bert-tiny", "ce-xlmr-tiny", "ce-roberta-bpe-tiny", "ce-xlmr-spm-tiny" };

    private static readonly Dictionary<string, HfTokenizer> Cache = new();

    private static HfTokenizer Get(string model)
    {
        lock (Cache)
        {
            if (!Cache.TryGetValue(model, out var t)) Cache[model] = t = HfTokenizer.FromDirectory(TestPaths.Fixture(model));
            return t;
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void OddInputs_NeverThrow(string model)
    {
        var tok = Get(model);
        string[] inputs =
        [
            "", " ", "   \t\n  ", "\0\u0001", "\uD800x\uDC00", "\uDC00", "\uD800", "a\uD83D", "\uFFFD\uFEFF\u200B",
            "[SEP][CLS]<s></s>", "[SEP", "<mask>", "\u0130\u0131 \u00DF \uFB01", "e\u0301\u0301\u0301\u0301\u0301\u0301\u0301",
            "\U0001F600\U0001F468\u200D\U0001F469\u200D\U0001F467", "\uFF21\uFF22\uFF23 \u3000 \u00A0", new string('x', 5000),
            "한국어 العربية עברית 中文字符", "\u0000\u0085\u2028\u2029",
        ];
        foreach (var s in inputs)
        {
            var t = tok.Tokenize(s);
            Assert.Equal(t.Ids.Length, t.Offsets.Length);
            foreach (var (a, b) in t.Offsets) Assert.True(a >= 0 && a <= b && b <= s.Length, $"offset ({a},{b}) out of range for {s.Length}");
            var enc = tok.Encode(s, 16);
            Assert.True(enc.Length <= 16);
            var pair = tok.EncodePair(s, s, 16);
            Assert.True(pair.Length <= 16);
            tok.EncodePair(s, s, 1); // budget below the special tokens: clamps to 0
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void OneMegabyte_IsFast(string model)
    {
        var tok = Get(model);
        var sb = new StringBuilder();
        string[] parts = ["The quick brown fox, ", "naïve café résumé; ", "中文字符 ", "한국어 ", "\U0001F600 ", "12345.678 ", "don't stop\n", "\u00A0\t"];
        for (int i = 0; sb.Length < 1_000_000; i++) sb.Append(parts[i % parts.Length]).Append(i % 97).Append(' ');
        var text = sb.ToString();
        tok.Tokenize(text[..10_000]); // warm up
        var sw = Stopwatch.StartNew();
        var t = tok.Tokenize(text);
        sw.Stop();
        Assert.True(t.Count > 100_000);
        output.WriteLine($"{model}: 1 MB mixed text -> {t.Count} tokens in {sw.ElapsedMilliseconds} ms");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"1 MB took {sw.Elapsed}");
        // A 1 MB run without any space (a single pre-token for most pre-tokenizers) must stay linear too.
        var noSpace = new string('a', 200_000) + string.Concat(Enumerable.Repeat("é中", 100_000));
        sw.Restart();
        tok.Tokenize(noSpace);
        output.WriteLine($"{model}: no-space text ({noSpace.Length} chars) in {sw.ElapsedMilliseconds} ms");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"no-space text took {sw.Elapsed}");
    }

    [Fact]
    public void ConcurrentUse_GivesTheSameIds()
    {
        var tok = Get("ce-bert-tiny");
        var pairs = References.Pairs(References.Bert);
        var expected = pairs.Select(p => tok.EncodePair(p.Query, p.Passage, 128).InputIds).ToArray();
        Parallel.For(0, 400, i =>
        {
            var p = pairs[i % pairs.Count];
            Assert.Equal(expected[i % pairs.Count], tok.EncodePair(p.Query, p.Passage, 128).InputIds);
        });
    }
}
