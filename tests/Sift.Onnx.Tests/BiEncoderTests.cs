using System.Text.Json;
using Microsoft.Extensions.AI;
using Sift.Testing;

namespace Sift.Onnx.Tests;

public class BiEncoderTests
{
    private static readonly JsonElement Refs = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixtures, "references.json"))).RootElement;

    [Fact]
    public void EmbeddingsMatchSentenceTransformersWithin1e4()
    {
        using var bi = BiEncoder.Load(TestPaths.Fixture("bi-bert-tiny"));
        Assert.Equal(256, bi.MaxLength);
        Assert.Equal(PoolingMode.Mean, bi.Pooling);
        Assert.True(bi.Normalize);
        var singles = Refs.GetProperty("singles").EnumerateArray().Select(e => e.GetString()!).ToArray();
        var expected = Refs.GetProperty("models").GetProperty("bi-bert-tiny").GetProperty("st_embeddings_singles").EnumerateArray()
            .Select(v => v.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
        var actual = bi.Embed(singles);
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Length, actual[i].Length);
            var maxDiff = expected[i].Zip(actual[i], (a, b) => Math.Abs(a - b)).Max();
            Assert.True(maxDiff <= 1e-4, $"single {i} ({singles[i][..Math.Min(20, singles[i].Length)]}): max diff {maxDiff}");
        }
    }

    [Fact]
    public async Task ImplementsMicrosoftExtensionsAiEmbeddingGenerator()
    {
        using IEmbeddingGenerator<string, Embedding<float>> gen = BiEncoder.Load(TestPaths.Fixture("bi-bert-tiny"));
        var result = await gen.GenerateAsync(["first text", "second text"]);
        Assert.Equal(2, result.Count);
        Assert.Equal(64, result[0].Vector.Length);
        Assert.Equal(1.0, Math.Sqrt(result[0].Vector.Span.ToArray().Sum(x => (double)x * x)), 4);
        var meta = gen.GetService<EmbeddingGeneratorMetadata>();
        Assert.Equal("bi-bert-tiny", meta!.DefaultModelId);
    }
}
