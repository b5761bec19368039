using System.Text.Json;
using Sift.Testing;

namespace Sift.Tokenizers.Tests;

/// <summary>Reference data from /shared/models/fixtures (generated with Hugging Face tokenizers via transformers).</summary>
internal static class References
{
    private static readonly Lazy<JsonDocument> BertDoc = new(() => Load("references.json"));
    private static readonly Lazy<JsonDocument> FamiliesDoc = new(() => Load("references-families.json"));
    private static readonly Lazy<JsonDocument> SpmDoc = new(() => Load("references-xlmr-spm.json"));

    private static JsonDocument Load(string name) => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, name)));

    public static JsonElement Bert => BertDoc.Value.RootElement;

    public static JsonElement Family(string model) =>
        (model == "ce-xlmr-spm-tiny" ? SpmDoc.Value : FamiliesDoc.Value).RootElement.GetProperty("models").GetProperty(model);

    public static JsonElement FamilyRoot(string model) => (model == "ce-xlmr-spm-tiny" ? SpmDoc.Value : FamiliesDoc.Value).RootElement;

    public static List<(string Query, string Passage)> Pairs(JsonElement root) =>
        root.GetProperty("pairs").EnumerateArray().Select(p => (p[0].GetString()!, p[1].GetString()!)).ToList();

    public static List<string> Singles(JsonElement root) => root.GetProperty("singles").EnumerateArray().Select(s => s.GetString()!).ToList();

    public static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    public static string[] Strings(JsonElement e) => e.EnumerateArray().Select(x => x.GetString()!).ToArray();

    /// <summary>Collects every mismatch so one failing run shows them all.</summary>
    public static void AssertAllEqual(List<string> failures, string what)
    {
        Assert.True(failures.Count == 0, $"{failures.Count} {what} mismatches:\n" + string.Join("\n", failures.Take(15)));
    }

    public static string Diff<T>(int index, string label, T[] expected, T[] actual) =>
        $"#{index} {label}: expected [{string.Join(",", expected)}]\n      actual   [{string.Join(",", actual)}]";
}
