using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Sift;
using Sift.Onnx;
using Sift.Testing;
using Sift.Tokenizers;

// Regression benchmarks for the hot path: tokenizing 100 candidates and scoring them.
// Run: dotnet run -c Release --project benchmarks/Sift.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(TokenizerBenchmarks).Assembly).Run(args);

/// <summary>One DL19 query and its 100 BM25 passages: the workload a reranker sees per query.</summary>
internal static class Workload
{
    public static (string Query, string[] Passages) Dl19First()
    {
        var path = Path.Combine(TestPaths.Data, "trec-dl19-passage", "retrieve_results_dl19_top100.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var first = doc.RootElement.EnumerateArray().First();
        var query = first.GetProperty("query").GetString()!;
        var passages = first.GetProperty("hits").EnumerateArray().Select(h => h.GetProperty("content").GetString()!).ToArray();
        return (query, passages);
    }
}

[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private HfTokenizer _tokenizer = null!;
    private string _query = "";
    private string[] _passages = [];

    [GlobalSetup]
    public void Setup()
    {
        _tokenizer = HfTokenizer.FromDirectory(TestPaths.Fixture("ce-minilm-l6-arch"));
        (_query, _passages) = Workload.Dl19First();
    }

    [Benchmark(Description = "tokenize 100 pairs (query once)")]
    public int Pairs100()
    {
        var q = _tokenizer.Tokenize(_query);
        var n = 0;
        foreach (var p in _passages)
        {
            n += _tokenizer.Build(q, _tokenizer.Tokenize(p), 512).Length;
        }
        return n;
    }
}

[MemoryDiagnoser]
public class ScorerBenchmarks
{
    private CrossEncoder _encoder = null!;
    private Document[] _docs = [];
    private string _query = "";

    [Params(ModelPrecision.Fp32, ModelPrecision.Int8)]
    public ModelPrecision Precision { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _encoder = CrossEncoder.Load(TestPaths.Fixture("ce-minilm-l6-arch"), new CrossEncoderOptions { Precision = Precision });
        var (q, passages) = Workload.Dl19First();
        _query = q;
        _docs = passages.Select(p => new Document(p)).ToArray();
    }

    [GlobalCleanup]
    public void Cleanup() => _encoder.Dispose();

    [Benchmark(Description = "rerank 100 candidates")]
    public int Rerank100() => _encoder.Rerank(_query, _docs).Count;
}

/// <summary>
/// Sift's attention kernel alone on one layer of a typical batch: 8 DL19 pairs (~95 tokens), MiniLM's 12 heads of 32,
/// one thread (the scorer runs one single-threaded batch per core). Also the first-row-only form the last layer uses.
/// </summary>
public class AttentionKernelBenchmarks
{
    private const int Batch = 8, Seq = 104, Heads = 12, HeadSize = 32, Hidden = Heads * HeadSize;
    private float[] _q = [], _k = [], _v = [], _out = [];
    private readonly int[] _lengths = [104, 101, 99, 97, 96, 94, 92, 90];

    [GlobalSetup]
    public void Setup()
    {
        var rnd = new Random(1);
        float[] Fill() => Enumerable.Range(0, Batch * Seq * Hidden).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray();
        (_q, _k, _v, _out) = (Fill(), Fill(), Fill(), new float[Batch * Seq * Hidden]);
    }

    [Benchmark(Description = "attention, 8 × 104 tokens, 12 heads × 32")]
    public float Layer()
    {
        AttentionKernel.Run(_q, _k, _v, _out, Batch, Seq, Heads, HeadSize, 0.17f, _lengths, threads: 1);
        return _out[0];
    }

    [Benchmark(Description = "attention, first row only (last layer)")]
    public float FirstRow()
    {
        AttentionKernel.Run(_q, _k, _v, _out, Batch, Seq, Heads, HeadSize, 0.17f, _lengths, threads: 1, queryRows: 1);
        return _out[0];
    }
}
