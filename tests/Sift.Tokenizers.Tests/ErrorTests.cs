using Sift.Testing;

namespace Sift.Tokenizers.Tests;

public sealed class ErrorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sift-tok-errors-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void MissingFiles_NameBothFiles()
    {
        var ex = Assert.Throws<TokenizerException>(() => HfTokenizer.FromDirectory(_dir));
        Assert.Contains("tokenizer.json", ex.Message);
        Assert.Contains("vocab.txt", ex.Message);
        Assert.Contains(_dir, ex.Message);
    }

    [Fact]
    public void MissingTokenizerJson_NamesTheFile()
    {
        var path = Path.Combine(_dir, "tokenizer.json");
        var ex = Assert.Throws<TokenizerException>(() => HfTokenizer.FromTokenizerJson(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("not found", ex.Message);
    }

    [Fact]
    public void MalformedJson_NamesTheFile()
    {
        var path = Path.Combine(_dir, "tokenizer.json");
        File.WriteAllText(path, "{ \"model\": { \"type\": \"WordPiece\", ");
        var ex = Assert.Throws<TokenizerException>(() => HfTokenizer.FromDirectory(_dir));
        Assert.Contains(path, ex.Message);
        Assert.Contains("malformed JSON", ex.Message);
    }

    [Fact]
    public void UnsupportedNormalizer_IsNamed()
    {
        var json = File.ReadAllText(Path.Combine(TestPaths.Fixture("ce-bert-tiny"), "tokenizer.json"));
        var doc = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        doc["normalizer"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "Foo" };
        var path = Path.Combine(_dir, "tokenizer.json");
        File.WriteAllText(path, doc.ToJsonString());
        var ex = Assert.Throws<TokenizerException>(() => HfTokenizer.FromTokenizerJson(path));
        Assert.Contains("tokenizer.json", ex.Message);
        Assert.Contains("normalizer type 'Foo' is not supported", ex.Message);
        Assert.Contains("BertNormalizer", ex.Message);
    }

    [Fact]
    public void UnsupportedModel_IsNamed()
    {
        var path = Path.Combine(_dir, "tokenizer.json");
        File.WriteAllText(path, "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}");
        var ex = Assert.Throws<TokenizerException>(() => HfTokenizer.FromTokenizerJson(path));
        Assert.Contains("model type 'WordLevel' is not supported", ex.Message);
    }
}
