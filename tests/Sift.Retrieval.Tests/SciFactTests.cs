using System.Diagnostics;
using System.Text.Json;
using Sift.Testing;
using Xunit.Abstractions;

namespace Sift.Retrieval.Tests;

/// <summary>Indexes the SciFact corpus (5,183 abstracts) once for the tests in <see cref="SciFactTests"/>.</summary>
public sealed class SciFactIndexFixture : IAsyncLifetime
{
    private readonly TempDir _tmp = new("scifact");

    public static string Folder => Path.Combine(TestPaths.Data, "scifact");
    public SiftIndex Index { get; private set; } = null!;
    public IndexAddResult Result { get; private set; } = null!;
    public TimeSpan ReadAndIndex { get; private set; }
    public List<IndexProgress> Progress { get; } = [];

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();
        Index = SiftIndex.Create(_tmp.Sub("idx"));
        var progress = new SyncProgress(Progress.Add);
        Result = await Index.AddAsync(CorpusReader.Read(Path.Combine(Folder, "corpus.jsonl")), new IndexAddOptions { Progress = progress });
        ReadAndIndex = clock.Elapsed;
    }

    private sealed class SyncProgress(Action<IndexProgress> report) : IProgress<IndexProgress>
    {
        public void Report(IndexProgress value) => report(value);
    }

    public Task DisposeAsync()
    {
        Index.Dispose();
        _tmp.Dispose();
        return Task.CompletedTask;
    }
}

public sealed class SciFactTests(SciFactIndexFixture fixture, ITestOutputHelper output) : IClassFixture<SciFactIndexFixture>
{
    private static Dictionary<string, string> Queries() =>
        File.ReadLines(Path.Combine(SciFactIndexFixture.Folder, "queries.jsonl"))
            .Where(l => l.Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .ToDictionary(e => e.GetProperty("_id").GetString()!, e => e.GetProperty("text").GetString()!);

    // BEIR qrels tsv with a header; CRLF line endings in this copy.
    private static Dictionary<string, Dictionary<string, int>> TestQrels()
    {
        var qrels = new Dictionary<string, Dictionary<string, int>>();
        foreach (var line in File.ReadLines(Path.Combine(SciFactIndexFixture.Folder, "qrels", "test.tsv")).Skip(1))
        {
            var f = line.TrimEnd('\r').Split('\t');
            if (f.Length < 3)
            {
                continue;
            }
            if (!qrels.TryGetValue(f[0], out var docs))
            {
                qrels[f[0]] = docs = [];
            }
            docs[f[1]] = int.Parse(f[2], System.Globalization.CultureInfo.InvariantCulture);
        }
        return qrels;
    }

    [Fact]
    public void Whole_corpus_is_indexed()
    {
        Assert.Equal(5183, fixture.Result.Documents);
        Assert.Equal(5183, fixture.Index.Count);
        Assert.Equal(5183, fixture.Index.Manifest.DocumentCount);
        Assert.Equal([1000L, 2000, 3000, 4000, 5000, 5183], fixture.Progress.Select(p => p.Documents));
        Assert.True(fixture.Progress[^1].Completed);
        output.WriteLine($"SciFact: read + indexed {fixture.Result.Documents} docs in {fixture.ReadAndIndex.TotalSeconds:F2} s (AddAsync {fixture.Result.Elapsed.TotalSeconds:F2} s)");
        Assert.True(fixture.ReadAndIndex < TimeSpan.FromSeconds(30), $"indexing took {fixture.ReadAndIndex}");
    }

    [Fact]
    public async Task Known_query_finds_its_cited_abstract()
    {
        // Test query 3: "1,000 genomes project enables mapping of genetic sequence variation consisting of rare variants
        // with larger penetrance effects than common variants." is supported by doc 14717500 (qrels/test.tsv).
        var queries = Queries();
        var hits = await fixture.Index.Bm25().RetrieveAsync(queries["3"], 10);
        Assert.Contains(hits, h => h.Document.Id == "14717500");
        var hit = hits.First(h => h.Document.Id == "14717500");
        Assert.Equal("Rare Variants Create Synthetic Genome-Wide Associations", hit.Document.Title);
        output.WriteLine($"query 3 → 14717500 at rank {hit.Rank}");
    }

    [Fact]
    public async Task Bm25_ndcg_at_10_matches_anserini_range()
    {
        var queries = Queries();
        var qrels = TestQrels();
        var bm25 = fixture.Index.Bm25();
        double ndcgSum = 0, recallSum = 0;
        var clock = Stopwatch.StartNew();
        foreach (var (qid, relevant) in qrels)
        {
            var hits = await bm25.RetrieveAsync(queries[qid], 100);
            double dcg = 0;
            for (var i = 0; i < Math.Min(10, hits.Count); i++)
            {
                dcg += relevant.GetValueOrDefault(hits[i].Document.Id!) / Math.Log2(i + 2);
            }
            var ideal = relevant.Values.OrderDescending().Take(10).Select((g, i) => g / Math.Log2(i + 2)).Sum();
            ndcgSum += dcg / ideal;
            recallSum += hits.Count(h => relevant.GetValueOrDefault(h.Document.Id!) > 0) / (double)relevant.Count(r => r.Value > 0);
        }
        var ndcg = ndcgSum / qrels.Count;
        var recall = recallSum / qrels.Count;
        output.WriteLine($"SciFact test, {qrels.Count} queries: BM25 nDCG@10 = {ndcg:F4}, R@100 = {recall:F4} ({clock.Elapsed.TotalMilliseconds / qrels.Count:F2} ms/query)");
        Assert.Equal(300, qrels.Count);
        // Anserini flat (Lucene 9, same k1/b/analyzer family): 0.6789 / R@100 0.9253; BEIR paper (Elasticsearch): 0.665.
        Assert.InRange(ndcg, 0.64, 0.72);
        Assert.InRange(recall, 0.88, 0.96);
    }
}
