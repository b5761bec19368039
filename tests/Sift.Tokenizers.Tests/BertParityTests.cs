using Sift.Testing;

namespace Sift.Tokenizers.Tests;

public sealed class BertParityTests
{
    private static readonly Lazy<HfTokenizer> FromJson = new(() => HfTokenizer.FromDirectory(TestPaths.Fixture("ce-bert-tiny")));

    private static readonly Lazy<HfTokenizer> FromVocab = new(() =>
    {
        // A temp copy of the model dir without tokenizer.json: vocab.txt + tokenizer_config.json path.
        var dir = Directory.CreateTempSubdirectory("sift-bert-vocab-").FullName;
        foreach (var f in new[] { "vocab.txt", "tokenizer_config.json" })
            File.Copy(Path.Combine(TestPaths.Fixture("ce-bert-tiny"), f), Path.Combine(dir, f));
        var tok = HfTokenizer.FromDirectory(dir);
        Directory.Delete(dir, recursive: true);
        return tok;
    });

    public static TheoryData<string> Sources => new() { "tokenizer.json", "vocab.txt" };

    private static HfTokenizer Get(string source) => source == "tokenizer.json" ? FromJson.Value : FromVocab.Value;

    [Theory]
    [MemberData(nameof(Sources))]
    public void Pairs_Max512_And_Max48_MatchIdsAndTypeIds(string source)
    {
        var tok = Get(source);
        var pairs = References.Pairs(References.Bert);
        Assert.Equal(84, pairs.Count);
        var failures = new List<string>();
        foreach (var (key, max) in new[] { ("pairs_max512", 512), ("pairs_max48", 48) })
        {
            var refs = References.Bert.GetProperty("tokenization").GetProperty(key);
            for (int i = 0; i < pairs.Count; i++)
            {
                var enc = tok.EncodePair(pairs[i].Query, pairs[i].Passage, max);
                var ids = References.Ints(refs[i].GetProperty("input_ids"));
                var types = References.Ints(refs[i].GetProperty("token_type_ids"));
                if (!ids.SequenceEqual(enc.InputIds)) failures.Add(References.Diff(i, key + " ids", ids, enc.InputIds));
                if (!types.SequenceEqual(enc.TypeIds)) failures.Add(References.Diff(i, key + " types", types, enc.TypeIds));
            }
        }
        References.AssertAllEqual(failures, source);
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public void Singles_MatchIdsAndTokens(string source)
    {
        var tok = Get(source);
        var singles = References.Singles(References.Bert);
        Assert.Equal(60, singles.Count);
        var refIds = References.Bert.GetProperty("tokenization").GetProperty("singles");
        var refTokens = References.Bert.GetProperty("tokenization").GetProperty("singles_tokens");
        var failures = new List<string>();
        for (int i = 0; i < singles.Count; i++)
        {
            var enc = tok.Encode(singles[i]);
            var ids = References.Ints(refIds[i]);
            var tokens = References.Strings(refTokens[i]);
            if (!ids.SequenceEqual(enc.InputIds)) failures.Add(References.Diff(i, "ids", ids, enc.InputIds));
            if (!tokens.SequenceEqual(enc.Tokens)) failures.Add(References.Diff(i, "tokens", tokens, enc.Tokens));
        }
        References.AssertAllEqual(failures, source);
    }

    [Fact]
    public void LiteralSepInText_IsTheSepId()
    {
        // Added tokens are matched in the raw text before normalization (as in HF): the literal is id 102 ...
        var enc = FromJson.Value.Encode("what is [SEP] here");
        Assert.Equal([101, 2054, 2003, 102, 2182, 102], enc.InputIds);
        // ... but only with its exact casing: "[sep]" is ordinary text, split as punctuation + word.
        var lower = FromJson.Value.Encode("what is [sep] here");
        Assert.Single(lower.InputIds, id => id == 102);
    }

    [Fact]
    public void EmptyPassage_IsStillAPair()
    {
        var enc = FromJson.Value.EncodePair("hello world", "", 512);
        Assert.Equal([101, 7592, 2088, 102, 102], enc.InputIds);
        Assert.Equal([0, 0, 0, 0, 1], enc.TypeIds);
    }

    [Fact]
    public void ConfigValues_AreRead()
    {
        Assert.Equal(512, FromJson.Value.ModelMaxLength);
        Assert.Equal(0, FromJson.Value.PadTokenId);
        Assert.Equal(512, FromVocab.Value.ModelMaxLength);
        Assert.Equal(3, FromJson.Value.NumSpecialTokensToAdd(true));
        Assert.Equal(2, FromJson.Value.NumSpecialTokensToAdd(false));
    }

    [Fact]
    public void OnlySecond_MatchesHuggingFace()
    {
        // HF ran the 84 pairs as one batch with only_second/max 48 and raised ("Sequence to truncate too short"),
        // so the reference holds no successful rows: at least one query alone exhausts the budget.
        var tok = FromJson.Value;
        var tokenization = References.Bert.GetProperty("tokenization");
        Assert.Contains("too short", tokenization.GetProperty("pairs_max48_only_second_error").GetString());
        var okRows = tokenization.GetProperty("pairs_max48_only_second");
        var pairs = References.Pairs(References.Bert);
        var max512 = tokenization.GetProperty("pairs_max512");
        int raised = 0;
        for (int i = 0; i < pairs.Count; i++)
        {
            var q = tok.Tokenize(pairs[i].Query);
            var p = tok.Tokenize(pairs[i].Passage);
            int budget = 48 - 3;
            bool hfRaises = q.Count + p.Count > budget && q.Count >= budget;
            if (hfRaises)
            {
                var ex = Assert.Throws<TokenizerException>(() => tok.Build(q, p, 48, TruncationStrategy.OnlySecond));
                Assert.Contains("query is", ex.Message);
                Assert.Contains("longest_first", ex.Message);
                raised++;
                continue;
            }
            var enc = tok.Build(q, p, 48, TruncationStrategy.OnlySecond);
            if (okRows.GetArrayLength() > 0)
            {
                Assert.Equal(References.Ints(okRows[i].GetProperty("input_ids")), enc.InputIds);
                continue;
            }
            // The query is kept whole; the passage is the prefix that fills the budget (same tokens as the untruncated pair).
            var full = References.Ints(max512[i].GetProperty("input_ids"));
            Assert.True(enc.Length <= 48);
            Assert.Equal(full.Take(q.Count + 2), enc.InputIds.Take(q.Count + 2));
            Assert.Equal(q.Count + p.Count > budget ? 48 : q.Count + p.Count + 3, enc.Length);
            Assert.Equal(102, enc.InputIds[^1]);
        }
        Assert.True(raised > 0, "HF raised for this batch, so at least one pair must raise here too");
    }
}
