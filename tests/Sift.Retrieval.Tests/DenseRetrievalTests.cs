using Sift.Onnx;
using Sift.Testing;

namespace Sift.Retrieval.Tests;

/// <summary>Dense and hybrid retrieval with the real ONNX bi-encoder fixture (random weights: the vectors carry no
/// meaning, but a document's own text is still its nearest neighbour, which is what these tests rely on).</summary>
public sealed class DenseRetrievalTests : IDisposable
{
    private readonly TempDir _tmp = new();
    private readonly BiEncoder _encoder = BiEncoder.Load(TestPaths.Fixture("bi-bert-tiny"));

    public void Dispose()
    {
        _encoder.Dispose();
        _tmp.Dispose();
    }

    private async Task<SiftIndex> DenseIndex()
    {
        var index = SiftIndex.Create(_tmp.Sub("idx"));
        var result = await index.AddAsync(Corpus.Animals, new IndexAddOptions { Embedder = _encoder, DenseModel = "bi-bert-tiny", EmbeddingBatchSize = 4 });
        Assert.Equal(6, result.Embedded);
        return index;
    }

    [Fact]
    public async Task Dense_search_finds_a_document_from_its_own_text()
    {
        using var index = await DenseIndex();
        Assert.True(index.HasDense);
        var dense = index.Dense(_encoder);
        foreach (var doc in Corpus.Animals)
        {
            var hits = await dense.RetrieveAsync(SiftIndex.EmbeddingText(doc), 3);
            Assert.Equal(doc.Id, hits[0].Document.Id);
            Assert.Equal(1f, hits[0].Score, 3);
            Assert.Equal(doc.Text, hits[0].Document.Text);
            Assert.Equal([1, 2, 3], hits.Select(h => h.Rank));
        }
    }

    [Fact]
    public async Task Vectors_persist_follow_updates_and_deletes()
    {
        var dir = _tmp.Sub("idx");
        (await DenseIndex()).Dispose();
        Assert.True(File.Exists(Path.Combine(dir, SiftIndex.VectorsFileName)));

        using var index = SiftIndex.Open(dir);
        var manifest = index.Manifest.Dense!;
        Assert.Equal("bi-bert-tiny", manifest.Model);
        Assert.Equal(6, manifest.Count);
        Assert.Equal(_encoder.Dimension, manifest.Dimension);

        var changed = new Document("Dogs now herd sheep on hill farms.", "dog", "Dog");
        await index.AddAsync([changed], new IndexAddOptions { Embedder = _encoder, DenseModel = "bi-bert-tiny" });
        var dense = index.Dense(_encoder);
        Assert.Equal("dog", (await dense.RetrieveAsync(SiftIndex.EmbeddingText(changed), 1))[0].Document.Id);

        await index.DeleteAsync(["dog"]);
        Assert.DoesNotContain(await dense.RetrieveAsync(SiftIndex.EmbeddingText(changed), 10), c => c.Document.Id == "dog");
        Assert.Equal(5, index.Manifest.Dense!.Count);
    }

    [Fact]
    public async Task Dense_coverage_rules_are_enforced_with_clear_errors()
    {
        using var index = await DenseIndex();
        var ex = await Assert.ThrowsAsync<SiftException>(() => index.AddAsync([new Document("no vector", "nv")]));
        Assert.Contains("pass the same dense model", ex.Message);
        Assert.Equal(6, index.Count);

        using var bm25Only = SiftIndex.Create(_tmp.Sub("bm25"));
        await bm25Only.AddAsync(Corpus.Animals);
        Assert.Contains("no dense vectors", Assert.Throws<SiftException>(() => bm25Only.Dense(_encoder)).Message);
        var late = await Assert.ThrowsAsync<SiftException>(() => bm25Only.AddAsync([new Document("x", "x")], new IndexAddOptions { Embedder = _encoder }));
        Assert.Contains("without dense vectors", late.Message);
    }

    [Fact]
    public async Task Hybrid_fuses_bm25_and_dense_without_duplicates()
    {
        using var index = await DenseIndex();
        var hybrid = index.Hybrid(_encoder);
        var query = SiftIndex.EmbeddingText(Corpus.Animals[3]); // the parrot document: top of both lists

        var hits = await hybrid.RetrieveAsync(query, 5);

        Assert.Equal("hybrid", hybrid.Name);
        Assert.Equal("parrot", hits[0].Document.Id);
        Assert.Equal(2.0 / 61, hits[0].Score, 5); // rank 1 in both lists
        Assert.Equal(hits.Count, hits.Select(h => h.Document.Id).Distinct().Count());
        Assert.Equal(Enumerable.Range(1, hits.Count), hits.Select(h => h.Rank));

        var weighted = index.Hybrid(_encoder, new FusionOptions { Method = FusionMethod.WeightedScore, Weights = [0.5f, 0.5f] });
        var w = await weighted.RetrieveAsync(query, 5);
        Assert.Equal("parrot", w[0].Document.Id);
        Assert.Equal(1f, w[0].Score, 5);
    }
}
