using Sift.Testing;

namespace Sift.Tokenizers.Tests;

public sealed class FamilyParityTests
{
    private static readonly Dictionary<string, Lazy<HfTokenizer>> Tokenizers = new[] { "ce-xlmr-tiny", "ce-roberta-bpe-tiny", "ce-xlmr-spm-tiny" }
        .ToDictionary(m => m, m => new Lazy<HfTokenizer>(() => HfTokenizer.FromDirectory(TestPaths.Fixture(m))));

    public static TheoryData<string> Models => new() { "ce-xlmr-tiny", "ce-roberta-bpe-tiny", "ce-xlmr-spm-tiny" };

    [Theory]
    [MemberData(nameof(Models))]
    public void Pairs_Max512_And_Max48_MatchIds(string model)
    {
        var tok = Tokenizers[model].Value;
        var root = References.FamilyRoot(model);
        var pairs = References.Pairs(root);
        Assert.Equal(84, pairs.Count);
        var failures = new List<string>();
        foreach (var (key, max) in new[] { ("tokenization_pairs_max512", 512), ("tokenization_pairs_max48", 48) })
        {
            var refs = References.Family(model).GetProperty(key);
            for (int i = 0; i < pairs.Count; i++)
            {
                var enc = tok.EncodePair(pairs[i].Query, pairs[i].Passage, max);
                var ids = References.Ints(refs[i]);
                if (!ids.SequenceEqual(enc.InputIds)) failures.Add(References.Diff(i, key, ids, enc.InputIds));
                Assert.All(enc.TypeIds, t => Assert.Equal(0, t)); // RoBERTa-style: no segment ids
            }
        }
        References.AssertAllEqual(failures, model);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Singles_MatchIdsAndTokens(string model)
    {
        var tok = Tokenizers[model].Value;
        var root = References.FamilyRoot(model);
        var singles = References.Singles(root);
        var refIds = References.Family(model).GetProperty("tokenization_singles");
        var refTokens = References.Family(model).GetProperty("tokens_singles");
        var failures = new List<string>();
        for (int i = 0; i < singles.Count; i++)
        {
            var enc = tok.Encode(singles[i]);
            var ids = References.Ints(refIds[i]);
            if (!ids.SequenceEqual(enc.InputIds)) failures.Add(References.Diff(i, "ids", ids, enc.InputIds));
            var tokens = References.Strings(refTokens[i]);
            if (!tokens.SequenceEqual(enc.Tokens)) failures.Add(References.Diff(i, "tokens", tokens, enc.Tokens));
        }
        References.AssertAllEqual(failures, model);
    }

    [Theory]
    [InlineData("ce-xlmr-tiny", 1)]
    [InlineData("ce-roberta-bpe-tiny", 1)]
    [InlineData("ce-xlmr-spm-tiny", 1)]
    public void PadTokenId_IsRead(string model, int pad) => Assert.Equal(pad, Tokenizers[model].Value.PadTokenId);
}
