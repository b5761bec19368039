namespace Sift.Retrieval.Tests;

public class VectorStoreTests
{
    private static float[] Random(Random rng, int dim)
    {
        var v = new float[dim];
        for (var i = 0; i < dim; i++)
        {
            v[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        return v;
    }

    private static float Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return (float)(dot / Math.Sqrt(na * nb));
    }

    [Theory]
    [InlineData(1_000, 16, 10)]
    [InlineData(70_000, 8, 25)] // above the parallel threshold: per-core heaps merged
    public void Search_is_exact_top_k_by_cosine(int count, int dim, int k)
    {
        var rng = new Random(42);
        var store = new VectorStore(dim, "test-model");
        var vectors = new float[count][];
        for (var i = 0; i < count; i++)
        {
            vectors[i] = Random(rng, dim);
            store.Upsert("v" + i, vectors[i]);
        }
        var query = Random(rng, dim);

        var hits = store.Search(query, k);

        var expected = Enumerable.Range(0, count).Select(i => (Id: "v" + i, Score: Cosine(vectors[i], query)))
            .OrderByDescending(x => x.Score).Take(k).ToList();
        Assert.Equal(expected.Select(e => e.Id), hits.Select(h => h.Id));
        for (var i = 0; i < k; i++)
        {
            Assert.Equal(expected[i].Score, hits[i].Score, 4);
        }
    }

    [Fact]
    public void Vectors_are_normalized_and_ties_keep_insertion_order()
    {
        var store = new VectorStore(2, "m");
        store.Upsert("b", [3, 4]);
        store.Upsert("a", [6, 8]); // same direction: same cosine as b
        store.Upsert("c", [0, 1]);
        Assert.Equal([0.6f, 0.8f], store.Get("a")!);
        var hits = store.Search([3, 4], 3);
        Assert.Equal(["b", "a", "c"], hits.Select(h => h.Id));
        Assert.Equal(1f, hits[0].Score, 5);
        Assert.Equal(0.8f, hits[2].Score, 5);
    }

    [Fact]
    public void Upsert_replaces_and_remove_deletes()
    {
        var store = new VectorStore(2, "m");
        store.Upsert("x", [1, 0]);
        store.Upsert("y", [0, 1]);
        store.Upsert("x", [0, -1]);
        Assert.Equal(2, store.Count);
        Assert.Equal("y", store.Search([0, 1], 1)[0].Id);
        Assert.Equal(-1f, store.Search([0, 1], 2)[1].Score, 5);
        Assert.True(store.Remove("y"));
        Assert.False(store.Remove("y"));
        Assert.Equal(["x"], store.Search([0, 1], 5).Select(h => h.Id));
    }

    [Fact]
    public void Save_and_load_round_trip_and_compact_deleted_rows()
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("vectors.bin");
        var store = new VectorStore(3, "models/bi-bert-tiny");
        store.Upsert("a", [1, 0, 0]);
        store.Upsert("gone", [0, 0, 1]);
        store.Upsert("ü-id#1", [0, 1, 0]);
        store.Remove("gone");
        store.Save(path);

        var header = VectorStore.ReadHeader(path);
        Assert.Equal((3, 2L, "models/bi-bert-tiny"), header);
        Assert.Equal(8 + 4 + 4 + 8 + 1 + "models/bi-bert-tiny".Length + 2 * 3 * 4 + (1 + 1) + (1 + "ü-id#1"u8.Length), new FileInfo(path).Length);
        var loaded = VectorStore.Load(path);
        Assert.Equal(2, loaded.Count);
        Assert.Equal("models/bi-bert-tiny", loaded.Model);
        Assert.Equal(["ü-id#1", "a"], loaded.Search([0, 1, 0.1f], 5).Select(h => h.Id));
        Assert.False(loaded.Contains("gone"));
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void Dimension_mismatch_is_a_user_error()
    {
        var store = new VectorStore(3, "m");
        Assert.Contains("same embedding model", Assert.Throws<SiftException>(() => store.Upsert("a", [1, 2])).Message);
        Assert.Throws<SiftException>(() => store.Search([1, 2], 1));
    }

    [Fact]
    public void Memory_estimate_matches_the_documentation()
    {
        Assert.Equal(1_536_000_000L, VectorStore.MatrixBytes(384, 1_000_000));
    }
}
