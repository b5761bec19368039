using Microsoft.Extensions.AI;
using Sift.Onnx;
using Sift.Testing;

namespace Sift.Retrieval.Tests;

/// <summary>
/// Embedding a corpus resumes after an interrupted add: vectors computed before the interruption come from the
/// embedding journal, the index itself stays all-or-nothing, and the result equals an uninterrupted run.
/// </summary>
public sealed class EmbeddingResumeTests : IDisposable
{
    private readonly TempDir _tmp = new();
    private readonly BiEncoder _encoder = BiEncoder.Load(TestPaths.Fixture("bi-bert-tiny"));

    public void Dispose()
    {
        _encoder.Dispose();
        _tmp.Dispose();
    }

    /// <summary>The real bi-encoder, counting the texts it embeds and cancelling the run after a number of calls.</summary>
    private sealed class CountingEmbedder(IEmbeddingGenerator<string, Embedding<float>> inner, int cancelAfterCalls, CancellationTokenSource cts)
        : IEmbeddingGenerator<string, Embedding<float>>
    {
        public int Calls;
        public int Texts;
        public List<int> CallLengths { get; } = [];

        public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            var list = values.ToList();
            Calls++;
            Texts += list.Count;
            CallLengths.AddRange(list.Select(t => t.Length));
            var result = await inner.GenerateAsync(list, options, cancellationToken);
            if (Calls == cancelAfterCalls) cts.Cancel();
            return result;
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => inner.GetService(serviceType, serviceKey);
        public void Dispose() { }
    }

    private static IReadOnlyList<Document> Docs(int n) =>
        Enumerable.Range(0, n).Select(i => new Document(string.Join(' ', Enumerable.Repeat($"word{i % 7} text{i}", 1 + (i * 37 % 23))), $"d{i}")).ToArray();

    [Fact]
    public async Task An_interrupted_add_resumes_from_the_journal_and_equals_a_clean_run()
    {
        var docs = Docs(40);
        var dir = _tmp.Sub("idx");
        using var cts = new CancellationTokenSource();
        var first = new CountingEmbedder(_encoder, cancelAfterCalls: 3, cts);
        using (var index = SiftIndex.Create(dir))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                index.AddAsync(docs, new IndexAddOptions { Embedder = first, DenseModel = "bi-bert-tiny", EmbeddingBatchSize = 4, EmbeddingWindow = 16 }, cts.Token));
            Assert.Equal(0, index.Count); // all-or-nothing: nothing of the interrupted add is in the index
        }
        Assert.Equal(12, first.Texts);
        Assert.True(File.Exists(Path.Combine(dir, SiftIndex.JournalFileName)));

        using var noCancel = new CancellationTokenSource();
        var second = new CountingEmbedder(_encoder, cancelAfterCalls: -1, noCancel);
        IndexAddResult result;
        using (var index = SiftIndex.Open(dir))
        {
            result = await index.AddAsync(docs, new IndexAddOptions { Embedder = second, DenseModel = "bi-bert-tiny", EmbeddingBatchSize = 4, EmbeddingWindow = 16 });
            Assert.Equal(40, index.Count);
        }
        Assert.Equal(12, result.Recovered);
        Assert.Equal(40, result.Embedded);
        Assert.Equal(28, second.Texts); // only what the first run had not embedded
        Assert.False(File.Exists(Path.Combine(dir, SiftIndex.JournalFileName)));

        // The same vectors as an index built in one go.
        var cleanDir = _tmp.Sub("clean");
        using (var clean = SiftIndex.Create(cleanDir))
        {
            await clean.AddAsync(docs, new IndexAddOptions { Embedder = _encoder, DenseModel = "bi-bert-tiny", EmbeddingBatchSize = 4, EmbeddingWindow = 16 });
        }
        using var resumed = SiftIndex.Open(dir);
        using var reference = SiftIndex.Open(cleanDir);
        foreach (var d in docs)
        {
            var a = await resumed.Dense(_encoder).RetrieveAsync(d.Text, 3);
            var b = await reference.Dense(_encoder).RetrieveAsync(d.Text, 3);
            Assert.Equal(b.Select(h => h.Document.Id), a.Select(h => h.Document.Id));
            Assert.Equal(b[0].Score, a[0].Score, 5);
        }
    }

    [Fact]
    public async Task Each_window_is_embedded_in_length_sorted_calls()
    {
        var docs = Docs(32);
        using var cts = new CancellationTokenSource();
        var embedder = new CountingEmbedder(_encoder, -1, cts);
        using var index = SiftIndex.Create(_tmp.Sub("sorted"));
        await index.AddAsync(docs, new IndexAddOptions { Embedder = embedder, DenseModel = "bi-bert-tiny", EmbeddingBatchSize = 4, EmbeddingWindow = 32 });
        Assert.Equal(8, embedder.Calls);
        Assert.Equal(embedder.CallLengths.Order(), embedder.CallLengths); // one window, shortest texts first
    }
}
