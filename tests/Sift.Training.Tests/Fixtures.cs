using System.Text.Json;
using Sift.Testing;
using Sift.Tokenizers;

namespace Sift.Training.Tests;

/// <summary>references.json pairs and ONNX Runtime logits recorded for the fixtures.</summary>
internal static class Fixtures
{
    private static readonly Lazy<JsonElement> Root = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixtures, "references.json"))).RootElement);

    public static IReadOnlyList<(string Query, string Document)> Pairs =>
        Root.Value.GetProperty("pairs").EnumerateArray().Select(p => (p[0].GetString()!, p[1].GetString()!)).ToArray();

    public static float[] OrtLogits(string model) =>
        Root.Value.GetProperty("models").GetProperty(model).GetProperty("ort_fp32_logits").EnumerateArray()
            .Select(e => e.ValueKind == JsonValueKind.Array ? e[0].GetSingle() : e.GetSingle()).ToArray();

    public static List<Sift.Tokenizers.EncodedText> Encode(string model, IEnumerable<(string Query, string Document)> pairs, int maxLength = 512)
    {
        var tok = HfTokenizer.FromDirectory(TestPaths.Fixture(model));
        return pairs.Select(p => tok.EncodePair(p.Query, p.Document, maxLength)).ToList();
    }
}
