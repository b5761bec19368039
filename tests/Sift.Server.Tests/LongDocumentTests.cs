using System.Net;
using Sift.Onnx;

namespace Sift.Server.Tests;

/// <summary>--long-docs chunk: long documents are windowed instead of refused or cut, scores equal the library's chunk mode.</summary>
public sealed class LongDocumentTests
{
    private static readonly string LongDoc = string.Join(" ", Enumerable.Range(0, 300).Select(i => $"sentence {i} is about topic{i % 13} and value {i * 7}."));

    [Fact]
    public async Task Chunk_mode_scores_long_documents_like_the_library()
    {
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with { LongDocs = LongDocumentStrategy.Chunk, ChunkOverlap = 16, MaxChunks = 50, MaxLength = 64 }));
        string[] texts = [LongDoc, "topic5 is short", LongDoc[..2000]];
        // TEI's truncate=false would refuse the long text; chunk mode scores it window by window instead.
        using var response = await server.PostJsonAsync("/rerank", new { query = "topic5 value", texts });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var ranks = (await ServerHarness.JsonAsync(response)).AsArray();

        using var library = CrossEncoder.Load(ServerHarness.Tiny, new CrossEncoderOptions { LongDocuments = LongDocumentStrategy.Chunk, ChunkOverlap = 16, MaxChunks = 50, MaxLength = 64 });
        var expected = library.Rerank("topic5 value", texts.Select(t => new Document(t)).ToList());
        Assert.Equal(expected.Select(r => r.Index), ranks.Select(r => r!["index"]!.GetValue<int>()));
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Score, ranks[i]!["score"]!.GetValue<float>(), 1e-5f);
        }
        Assert.NotNull(expected.First(r => r.Index == 0).Window);
    }

    [Fact]
    public async Task Truncate_mode_refuses_over_length_input_unless_truncate_is_true()
    {
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with { MaxLength = 64 }));
        using var refused = await server.PostJsonAsync("/rerank", new { query = "q", texts = new[] { LongDoc } });
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refused.StatusCode);
        using var cut = await server.PostJsonAsync("/rerank", new { query = "q", texts = new[] { LongDoc }, truncate = true });
        Assert.Equal(HttpStatusCode.OK, cut.StatusCode);
    }
}
