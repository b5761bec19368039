using Sift.Testing;

namespace Sift.Onnx.Tests;

public class LongDocumentTests
{
    private static readonly string LongDoc = string.Join(" ",
        Enumerable.Range(0, 400).Select(i => $"sentence {i} talks about topic{i % 17} and measurement number {i * 3}."));

    private static CrossEncoder Load(int maxLength = 64, int overlap = 16, int maxChunks = 1000, ChunkAggregation agg = ChunkAggregation.Max) =>
        CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), new CrossEncoderOptions
        {
            MaxLength = maxLength, LongDocuments = LongDocumentStrategy.Chunk, ChunkOverlap = overlap, MaxChunks = maxChunks, ChunkAggregation = agg,
        });

    [Fact]
    public void WindowsCoverTheWholeDocumentWithTheStatedOverlap()
    {
        using var ce = Load();
        var q = ce.Tokenizer.Tokenize("topic3 measurement");
        var doc = ce.Tokenizer.Tokenize(LongDoc);
        var windows = ChunkWindows(ce, "topic3 measurement");
        var docBudget = 64 - ce.Tokenizer.NumSpecialTokensToAdd(true) - q.Count;
        Assert.True(windows.Count > 5);
        Assert.Equal(0, windows[0].Start);
        Assert.Equal(doc.Offsets[^1].End, windows[^1].End);
        for (var i = 1; i < windows.Count; i++)
        {
            // Each window starts (docBudget - overlap) tokens after the previous one: 16 tokens shared.
            var prevStartToken = Array.FindIndex(doc.Offsets, o => o.Start == windows[i - 1].Start);
            var startToken = Array.FindIndex(doc.Offsets, o => o.Start == windows[i].Start);
            Assert.Equal(docBudget - 16, startToken - prevStartToken);
            Assert.True(windows[i].Start < windows[i - 1].End, "consecutive windows overlap");
        }
    }

    [Fact]
    public void MaxAggregateEqualsScoringEachWindowAlone()
    {
        using var ce = Load();
        const string query = "topic3 measurement";
        var result = ce.Rerank(query, [new Document(LongDoc)])[0];
        var windows = ChunkWindows(ce, query);
        using var plain = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), new CrossEncoderOptions { MaxLength = 64 });
        var windowScores = ScoreWindowsOneByOne(plain, query, windows);
        Assert.Equal(windowScores.Max(), result.Score, 4);
        Assert.NotNull(result.Window);
        Assert.Equal(windowScores.Max(), windowScores[result.Window!.Ordinal], 4);
        Assert.Equal(windows.Count, result.Window.WindowCount);
    }

    [Fact]
    public void MeanAndFirstAggregations()
    {
        const string query = "topic3 measurement";
        using var plain = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), new CrossEncoderOptions { MaxLength = 64 });
        using var mean = Load(agg: ChunkAggregation.Mean);
        var windows = ChunkWindows(mean, query);
        var windowScores = ScoreWindowsOneByOne(plain, query, windows);
        Assert.Equal(windowScores.Average(), mean.Rerank(query, [new Document(LongDoc)])[0].Score, 4);
        using var first = Load(agg: ChunkAggregation.First);
        Assert.Equal(windowScores[0], first.Rerank(query, [new Document(LongDoc)])[0].Score, 4);
    }

    [Fact]
    public void ShortDocumentGetsExactlyItsTruncateModeScore()
    {
        using var chunked = Load(maxLength: 512);
        using var plain = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"));
        var pairs = References.Pairs.Where(p => p.Document.Length < 500).Take(10).ToArray();
        Assert.Equal(plain.Score(pairs), chunked.Score(pairs));
        var r = chunked.Rerank(pairs[0].Query, [new Document(pairs[0].Document)])[0];
        Assert.Null(r.Window);
    }

    [Fact]
    public void WindowsPastTheBoundAreNotScored()
    {
        using var ce = Load(maxChunks: 3);
        var r = ce.Rerank("topic3", [new Document(LongDoc)])[0];
        Assert.InRange(r.Window!.Ordinal, 0, 2);
        Assert.True(r.Window.WindowCount > 3, "WindowCount reports how many windows the whole document needs");
    }

    /// <summary>
    /// Scores each window on its own: the document's tokens between the window's offsets, paired with the whole
    /// query, one model call per window (re-tokenizing the window's text could split a word differently at its edge).
    /// </summary>
    private static float[] ScoreWindowsOneByOne(CrossEncoder plain, string query, IReadOnlyList<TextWindow> windows)
    {
        var tok = plain.Tokenizer;
        var q = tok.Tokenize(query);
        var doc = tok.Tokenize(LongDoc);
        return windows.Select(w =>
        {
            var a = Array.FindIndex(doc.Offsets, o => o.Start == w.Start);
            var b = Array.FindLastIndex(doc.Offsets, o => o.End == w.End) + 1;
            var slice = new Sift.Tokenizers.TokenizedText(doc.Ids[a..b], doc.Tokens[a..b], doc.Offsets[a..b]);
            var logits = plain.PredictEncoded([tok.Build(q, slice, plain.MaxLength)])[0];
            return plain.ApplyActivation(logits);
        }).ToArray();
    }

    /// <summary>The windows the encoder used, recovered from first-window results with MaxChunks forced 1..n.</summary>
    private static List<TextWindow> ChunkWindows(CrossEncoder ce, string query)
    {
        using var first = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), ce.Options with { ChunkAggregation = ChunkAggregation.First, MaxChunks = 1000 });
        var total = first.Rerank(query, [new Document(LongDoc)])[0].Window!.WindowCount;
        return first.DescribeWindows(query, LongDoc).ToList() is { Count: > 0 } ws && ws.Count == total ? ws : throw new InvalidOperationException("window count mismatch");
    }
}
