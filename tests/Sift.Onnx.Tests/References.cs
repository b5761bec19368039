using System.Text.Json;
using Sift.Testing;

namespace Sift.Onnx.Tests;

/// <summary>Typed access to ../shared/models/fixtures/references.json (sentence-transformers outputs).</summary>
internal static class References
{
    private static readonly Lazy<JsonElement> Root = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixtures, "references.json"))).RootElement);

    public static IReadOnlyList<(string Query, string Document)> Pairs =>
        Root.Value.GetProperty("pairs").EnumerateArray().Select(p => (p[0].GetString()!, p[1].GetString()!)).ToArray();

    public static JsonElement Model(string name) => Root.Value.GetProperty("models").GetProperty(name);

    /// <summary>A per-pair value: either a float (1 label) or an array of floats.</summary>
    public static float[][] Logits(string model, string key) =>
        Model(model).GetProperty(key).EnumerateArray()
            .Select(e => e.ValueKind == JsonValueKind.Array ? e.EnumerateArray().Select(x => x.GetSingle()).ToArray() : [e.GetSingle()])
            .ToArray();

    public static float[] Scores(string model, string key) =>
        Model(model).GetProperty(key).EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Array ? e[e.GetArrayLength() - 1].GetSingle() : e.GetSingle()).ToArray();
}
