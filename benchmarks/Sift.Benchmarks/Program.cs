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
