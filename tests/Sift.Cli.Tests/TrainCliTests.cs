using System.Text.Json;
using Sift.Testing;

namespace Sift.Cli.Tests;

/// <summary>`sift train` end to end on the tiny fixture: JSONL in, a model directory out that `sift rerank` loads.</summary>
public sealed class TrainCliTests : IDisposable
{
    private readonly string _tmp = Directory.CreateTempSubdirectory("sift-train-cli-").FullName;

    public void Dispose() => Directory.Delete(_tmp, recursive: true);

    [Fact]
    public void TrainsFromJsonlAndTheOutputReranks()
    {
        var lines = new List<string>();
        foreach (var (q, i) in new[] { "apple", "river", "cloud", "stone", "music", "garden" }.Select((q, i) => (q, i)))
        {
            lines.Add(JsonSerializer.Serialize(new { query = q, positive = $"a text about {q} and more", negatives = new[] { "an unrelated text", $"something else {i}" } }));
            lines.Add(JsonSerializer.Serialize(new { query = q, document = $"{q} is here", label = 1 }));
            lines.Add(JsonSerializer.Serialize(new { query = q, document = "nothing here", label = 0 }));
        }
        var data = Path.Combine(_tmp, "train.jsonl");
        File.WriteAllLines(data, lines);
        var outDir = Path.Combine(_tmp, "model");
        var r = CliRunner.Run("train", "--base-model", TestPaths.Fixture("ce-bert-tiny"), "--data", data, "--out", outDir,
            "--negatives", "2", "--batch-size", "2", "--max-length", "32", "--max-steps", "3", "--threads", "1", "--dev-fraction", "0.34");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("dev nDCG@10", r.Stderr);
        foreach (var f in new[] { "onnx/model.onnx", "config.json", "config_sentence_transformers.json", "tokenizer.json", "vocab.txt", "README.md", "checkpoint/state.json" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        Assert.Contains("BertForSequenceClassification", File.ReadAllText(Path.Combine(outDir, "config.json")));

        var docs = Path.Combine(_tmp, "docs.txt");
        File.WriteAllLines(docs, ["apple pie", "a river bank", "stones"]);
        var rr = CliRunner.Run("rerank", "--model", outDir, "--query", "apple", "--docs", docs, "--format", "json");
        Assert.True(rr.ExitCode == 0, rr.Stderr);
        Assert.Equal(3, rr.Json.EnumerateArray().Count());
    }

    [Fact]
    public void RefusesTheTestSplit()
    {
        var r = CliRunner.Run("train", "--base-model", TestPaths.Fixture("ce-bert-tiny"), "--data", Path.Combine(TestPaths.Data, "scifact"), "--out", Path.Combine(_tmp, "m"), "--split", "test");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("test split", r.Stderr);
    }
}
