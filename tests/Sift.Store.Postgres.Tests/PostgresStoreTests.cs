using System.Text.Json;
using Sift.Onnx;
using Sift.Retrieval;
using Sift.Testing;

namespace Sift.Store.Postgres.Tests;

internal static class Data
{
    public static string BiEncoderPath => TestPaths.Fixture("bi-bert-tiny");
    public static string CrossEncoderPath => TestPaths.Fixture("ce-bert-tiny");
    public static string SciFact => Path.Combine(TestPaths.Data, "scifact");

    public static IReadOnlyList<Document> Docs(int n) => CorpusReader.Read(Path.Combine(SciFact, "corpus.jsonl")).Take(n).ToList();

    public static IReadOnlyList<string> Queries(int n) =>
        File.ReadLines(Path.Combine(SciFact, "queries.jsonl")).Take(n).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("text").GetString()!).ToList();

    public static BiEncoder Embedder() => BiEncoder.Load(BiEncoderPath, new BiEncoderOptions { IntraOpThreads = 1 });
}

[Collection("postgres")]
public sealed class PostgresStoreTests(PgClusterFixture fixture)
{
    private PgCluster Cluster => fixture.Cluster;

    private static string Schema() => "t_" + Guid.NewGuid().ToString("N")[..10];

    [PostgresFact]
    public async Task Pgvector_hnsw_finds_what_exact_search_finds_with_the_same_scores()
    {
        var docs = Data.Docs(600);
        using var embedder = Data.Embedder();
        var address = Cluster.Address(Schema());
        using var store = await PostgresStore.OpenAsync(address, create: true);
        var added = await store.AddAsync(docs, new IndexAddOptions { Embedder = embedder, DenseModel = embedder.Model.OnnxPath });
        Assert.Equal(docs.Count, added.TotalDocuments);
        Assert.Equal(docs.Count, added.Embedded);
        Assert.Equal(embedder.Dimension, store.Dimension);

        // The reference: Sift's exact (brute-force) dense search over the same documents and model.
        var dir = Directory.CreateTempSubdirectory("sift-pg-ref-").FullName;
        try
        {
            using var index = SiftIndex.Create(dir);
            await index.AddAsync(docs, new IndexAddOptions { Embedder = embedder, DenseModel = embedder.Model.OnnxPath });
            var exact = index.Dense(embedder);
            var approx = store.Dense(embedder);
            double found = 0, wanted = 0;
            foreach (var q in Data.Queries(40))
            {
                var e = await exact.RetrieveAsync(q, 10);
                var a = await approx.RetrieveAsync(q, 10);
                var scores = a.ToDictionary(c => c.Document.Id!, c => c.Score);
                foreach (var c in e)
                {
                    wanted++;
                    if (scores.TryGetValue(c.Document.Id!, out var s))
                    {
                        found++;
                        Assert.Equal(c.Score, s, 4); // cosine similarity = 1 - pgvector's cosine distance
                    }
                }
                Assert.Equal(a.Select(c => c.Score).OrderByDescending(s => s), a.Select(c => c.Score));
            }
            Assert.True(found / wanted >= 0.99, $"recall@10 of pgvector HNSW against exact search: {found / wanted:0.000}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [PostgresFact]
    public async Task Top_n_above_the_default_ef_search_still_returns_top_n()
    {
        var docs = Data.Docs(400);
        using var embedder = Data.Embedder();
        using var store = await PostgresStore.OpenAsync(Cluster.Address(Schema()), create: true, new PostgresStoreOptions { EfSearch = 40 });
        await store.AddAsync(docs, new IndexAddOptions { Embedder = embedder, DenseModel = embedder.Model.OnnxPath });
        var hits = await store.Dense(embedder).RetrieveAsync("cancer cells", 300);
        Assert.Equal(300, hits.Count); // HNSW returns at most ef_search rows: the query raises it to top-N
        Assert.Equal(Enumerable.Range(1, 300), hits.Select(h => h.Rank));
    }

    [PostgresFact]
    public async Task Full_text_search_is_or_of_terms_and_takes_any_text()
    {
        var docs = Data.Docs(500);
        using var store = await PostgresStore.OpenAsync(Cluster.Address(Schema()), create: true);
        await store.AddAsync(docs);
        var fts = store.Lexical();
        Assert.Equal("fts", fts.Name);

        // A document's own title finds it near the top (the title is indexed with the text).
        var top3 = 0;
        var titled = docs.Where(d => d.Title is { Length: > 30 }).Take(20).ToList();
        foreach (var d in titled)
        {
            var hits = await fts.RetrieveAsync(d.Title!, 10);
            if (hits.Take(3).Any(h => h.Document.Id == d.Id)) top3++;
        }
        Assert.True(top3 >= titled.Count * 0.9, $"{top3} of {titled.Count} titles found their document in the top 3");

        // OR semantics: a query with one matching and one unknown term still matches.
        var one = await fts.RetrieveAsync("xylophonezzz cholesterol", 50);
        Assert.NotEmpty(one);
        Assert.All(one, h => Assert.Contains("cholesterol", (h.Document.Title + " " + h.Document.Text).ToLowerInvariant(), StringComparison.Ordinal));

        // No query syntax: operators and quotes are text; stop words alone match nothing.
        Assert.Empty(await fts.RetrieveAsync("the of and", 10));
        Assert.Empty(await fts.RetrieveAsync("'&|!():*<->\\", 10));
        Assert.Empty(await fts.RetrieveAsync("   ", 10));
        var hit = await fts.RetrieveAsync("cholesterol & !(blood) | 'x' <-> y:*", 5);
        Assert.NotEmpty(hit);
        Assert.Equal(hit.Select(h => h.Score).OrderByDescending(s => s), hit.Select(h => h.Score));
    }

    [PostgresFact]
    public async Task Adds_replace_by_id_keep_metadata_and_deletes_and_overwrite_work()
    {
        using var store = await PostgresStore.OpenAsync(Cluster.Address(Schema()), create: true);
        var meta = new Dictionary<string, object?> { ["year"] = 2020, ["tags"] = JsonDocument.Parse("[\"a\",\"b\"]").RootElement, ["source"] = "x.txt" };
        await store.AddAsync([new Document("alpha beta gamma", "d1", "First", meta), new Document("delta epsilon", "d2")]);
        Assert.Equal(2, store.Count);

        var got = (await store.LookupAsync(["d1", "nope"]))!;
        Assert.Null(got[1]);
        Assert.Equal("First", got[0]!.Title);
        Assert.Equal("alpha beta gamma", got[0]!.Text);
        Assert.Equal(2020L, Convert.ToInt64(got[0]!.Metadata!["year"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("x.txt", got[0]!.Metadata!["source"]?.ToString());

        // Same id again: replaced, not duplicated; the last copy in one batch wins.
        await store.AddAsync([new Document("zeta eta", "d2"), new Document("theta iota", "d2"), new Document("no id here")]);
        Assert.Equal(3, store.Count);
        Assert.Equal("theta iota", (await store.LookupAsync(["d2"]))[0]!.Text);
        Assert.Equal(SiftIndex.ContentId(new Document("no id here")), (await store.Lexical().RetrieveAsync("id", 5)).Single().Document.Id);

        // A re-ingested source replaces everything that came from it.
        await store.AddAsync([new Document("kappa", "d1#0", metadata: new Dictionary<string, object?> { ["source"] = "x.txt" })]);
        Assert.Null((await store.LookupAsync(["d1"]))[0]);
        Assert.Equal(3, store.Count);

        Assert.Equal(1, await store.DeleteAsync(["d2", "missing"]));
        Assert.Equal(2, store.Count);
        await store.AddAsync([new Document("fresh start", "n1")], overwrite: true);
        Assert.Equal(1, store.Count);
    }

    [PostgresFact]
    public async Task Dense_rules_keep_vectors_covering_every_document()
    {
        using var embedder = Data.Embedder();
        using var store = await PostgresStore.OpenAsync(Cluster.Address(Schema()), create: true);
        await store.AddAsync([new Document("no vectors", "a")]);
        Assert.Null(store.DenseModel);
        var ex = Assert.Throws<SiftException>(() => store.Dense(embedder));
        Assert.Contains("no vectors", ex.Message, StringComparison.Ordinal);
        var add = await Assert.ThrowsAsync<SiftException>(() => store.AddAsync([new Document("b", "b")], new IndexAddOptions { Embedder = embedder, DenseModel = "m1" }));
        Assert.Contains("--overwrite", add.Message, StringComparison.Ordinal);
        Assert.Equal(1, store.Count); // the failed add changed nothing

        await store.AddAsync([new Document("with vectors", "c")], new IndexAddOptions { Embedder = embedder, DenseModel = "m1" }, overwrite: true);
        Assert.Equal("m1", store.DenseModel);
        var other = await Assert.ThrowsAsync<SiftException>(() => store.AddAsync([new Document("d", "d")], new IndexAddOptions { Embedder = embedder, DenseModel = "m2" }));
        Assert.Contains("m1", other.Message, StringComparison.Ordinal);
        var none = await Assert.ThrowsAsync<SiftException>(() => store.AddAsync([new Document("e", "e")]));
        Assert.Contains("same dense model", none.Message, StringComparison.Ordinal);
    }

    [PostgresFact]
    public async Task Hybrid_and_rerank_run_through_Sifts_pipeline_and_two_readers_agree()
    {
        var docs = Data.Docs(300);
        using var embedder = Data.Embedder();
        var address = Cluster.Address(Schema());
        using (var writer = await PostgresStore.OpenAsync(address, create: true))
        {
            await writer.AddAsync(docs, new IndexAddOptions { Embedder = embedder, DenseModel = embedder.Model.OnnxPath });
        }
        // Two independent stores on one database, as two server processes would have.
        using var a = PostgresStore.Open(address);
        using var b = PostgresStore.Open(address);
        using var reranker = CrossEncoder.Load(Data.CrossEncoderPath, new CrossEncoderOptions { IntraOpThreads = 1 });
        var pa = new SearchPipeline(a.Hybrid(embedder), reranker, new SearchOptions { TopN = 20, TopK = 5 });
        var pb = new SearchPipeline(b.Hybrid(embedder), reranker, new SearchOptions { TopN = 20, TopK = 5 });
        var queries = Data.Queries(10);
        var ra = await Task.WhenAll(queries.Select(q => pa.SearchAsync(q)));
        var rb = await Task.WhenAll(queries.Select(q => pb.SearchAsync(q)));
        for (var i = 0; i < queries.Count; i++)
        {
            Assert.Equal("hybrid", ra[i].Retriever);
            Assert.True(ra[i].Reranked);
            Assert.Equal(ra[i].Hits.Select(h => (h.Document.Id, h.Score)), rb[i].Hits.Select(h => (h.Document.Id, h.Score)));
            // The rerank scores are exactly the cross-encoder's on the hybrid candidates.
            var candidates = await a.Hybrid(embedder).RetrieveAsync(queries[i], 20);
            var expected = reranker.Rerank(queries[i], candidates.Select(c => c.Document).ToList(), new RerankOptions { TopK = 5 });
            Assert.Equal(expected.Select(e => e.Document.Id), ra[i].Hits.Select(h => h.Document.Id));
            Assert.Equal(expected.Select(e => e.Score), ra[i].Hits.Select(h => h.Score));
        }
    }

    [PostgresFact]
    public async Task Opening_without_create_a_missing_corpus_says_how_to_create_it()
    {
        var ex = await Assert.ThrowsAsync<SiftException>(() => PostgresStore.OpenAsync(Cluster.Address(Schema()), create: false));
        Assert.Contains("sift index --corpus PATH --store", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Cluster.Password, ex.Message, StringComparison.Ordinal);
    }

    [PostgresFact]
    public async Task Wrong_password_is_a_clear_error_without_the_password()
    {
        var address = Cluster.Address(Schema()).Replace(Cluster.Password, "wrong-secret-123", StringComparison.Ordinal);
        var ex = await Assert.ThrowsAsync<SiftException>(() => PostgresStore.OpenAsync(address, create: true));
        Assert.IsNotType<StoreUnavailableException>(ex);
        Assert.Contains("password", ex.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("wrong-secret-123", ex.Message, StringComparison.Ordinal);
    }
}

public sealed class PostgresLocationTests
{
    [Fact]
    public void Parses_libpq_uris_and_never_prints_the_password()
    {
        var l = PostgresLocation.Parse("postgres://bob:s%40cret@db.example:6543/shop?schema=docs&command_timeout=7&connect_timeout=2");
        Assert.Equal("db.example", l.Host);
        Assert.Equal(6543, l.Port);
        Assert.Equal("shop", l.Database);
        Assert.Equal("bob", l.Username);
        Assert.Equal("docs", l.Schema);
        Assert.Equal(7, l.CommandTimeoutSeconds);
        Assert.Equal(2, l.ConnectTimeoutSeconds);
        Assert.Equal("postgres://bob@db.example:6543/shop?schema=docs", l.Redacted);
        Assert.DoesNotContain("cret", l.ToString(), StringComparison.Ordinal);
        Assert.Contains("Password=s@cret", l.ConnectionString(), StringComparison.Ordinal);
        Assert.Equal(5432, PostgresLocation.Parse("postgresql://h/d").Port);
        Assert.Equal("sift", PostgresLocation.Parse("postgresql://h/d").Schema);
    }

    [Theory]
    [InlineData("postgres://u:topsecret@host", "database name")]
    [InlineData("mysql://u:topsecret@host/db", "must look like")]
    [InlineData("postgres://u:topsecret@host/db?schema=Bad-Name", "schema")]
    [InlineData("postgres://u:topsecret@host/db?colour=red", "unknown parameter")]
    [InlineData("postgres://u:topsecret@host/db?command_timeout=0", "positive")]
    public void Bad_addresses_say_what_is_wrong_without_echoing_the_password(string address, string expected)
    {
        var ex = Assert.Throws<SiftException>(() => PostgresLocation.Parse(address));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("topsecret", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("topsecret", PostgresLocation.Redact(address), StringComparison.Ordinal);
    }
}
