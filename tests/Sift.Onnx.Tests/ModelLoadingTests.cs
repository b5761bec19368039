using Sift.Testing;

namespace Sift.Onnx.Tests;

public sealed class ModelLoadingTests : IDisposable
{
    private readonly string _tmp = Directory.CreateTempSubdirectory("sift-model-").FullName;

    public void Dispose() => Directory.Delete(_tmp, recursive: true);

    private string CopyFixture(string name)
    {
        var src = TestPaths.Fixture(name);
        var dst = Path.Combine(_tmp, name);
        foreach (var f in Directory.EnumerateFiles(src, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(dst, Path.GetRelativePath(src, f));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(f, target);
            File.SetAttributes(target, FileAttributes.Normal);
        }
        return dst;
    }

    [Fact]
    public void MissingConfigIsNamed()
    {
        var dir = CopyFixture("ce-bert-tiny");
        File.Delete(Path.Combine(dir, "config.json"));
        var ex = Assert.Throws<SiftException>(() => CrossEncoder.Load(dir));
        Assert.Contains("config.json", ex.Message);
        Assert.Contains("sift model pull", ex.Message);
    }

    [Fact]
    public void MissingTokenizerFilesAreNamed()
    {
        var dir = CopyFixture("ce-bert-tiny");
        File.Delete(Path.Combine(dir, "tokenizer.json"));
        File.Delete(Path.Combine(dir, "vocab.txt"));
        var ex = Assert.Throws<SiftException>(() => CrossEncoder.Load(dir));
        Assert.Contains("tokenizer.json", ex.Message);
        Assert.Contains("vocab.txt", ex.Message);
    }

    [Fact]
    public void VocabTxtAloneIsEnough()
    {
        var dir = CopyFixture("ce-bert-tiny");
        File.Delete(Path.Combine(dir, "tokenizer.json"));
        using var ce = CrossEncoder.Load(dir);
        var expected = References.Logits("ce-bert-tiny", "st_raw_logits");
        var got = ce.PredictLogits(References.Pairs.Take(10).ToArray());
        for (var i = 0; i < got.Length; i++) Assert.True(Math.Abs(expected[i][0] - got[i][0]) <= 1e-4);
    }

    [Theory]
    [InlineData(ModelPrecision.Fp32, "onnx/model.onnx")]
    [InlineData(ModelPrecision.Int8, "onnx/model_quantized.onnx")]
    public void MissingWeightsAreNamed(ModelPrecision precision, string file)
    {
        var dir = CopyFixture("ce-bert-tiny");
        File.Delete(Path.Combine(dir, file));
        var ex = Assert.Throws<SiftException>(() => CrossEncoder.Load(dir, new CrossEncoderOptions { Precision = precision }));
        Assert.Contains(file, ex.Message);
    }

    [Fact]
    public void MalformedConfigIsNamed()
    {
        var dir = CopyFixture("ce-bert-tiny");
        File.WriteAllText(Path.Combine(dir, "config.json"), "{ not json");
        var ex = Assert.Throws<SiftException>(() => CrossEncoder.Load(dir));
        Assert.Contains("config.json", ex.Message);
        Assert.Contains("malformed", ex.Message);
    }

    [Fact]
    public void TruncatedOnnxFileIsAClearError()
    {
        var dir = CopyFixture("ce-bert-tiny");
        var onnx = Path.Combine(dir, "onnx", "model.onnx");
        var bytes = File.ReadAllBytes(onnx);
        File.WriteAllBytes(onnx, bytes[..(bytes.Length / 3)]);
        var ex = Assert.Throws<SiftException>(() => CrossEncoder.Load(dir));
        Assert.Contains("model.onnx", ex.Message);
    }

    [Fact]
    public void ExplicitOnnxFilePathWorks()
    {
        using var ce = CrossEncoder.Load(Path.Combine(TestPaths.Fixture("ce-bert-tiny"), "onnx", "model_quantized.onnx"));
        Assert.EndsWith("model_quantized.onnx", ce.Model.OnnxPath);
        Assert.Equal(TestPaths.Fixture("ce-bert-tiny"), ce.Model.Root);
    }

    [Fact]
    public void OlderModelsDeclareIdentityInConfigJson()
    {
        // ms-marco-MiniLM-L-6-v2 has no config_sentence_transformers.json and says Identity in config.json.
        var dir = CopyFixture("ce-bert-tiny");
        File.Delete(Path.Combine(dir, "config_sentence_transformers.json"));
        var config = File.ReadAllText(Path.Combine(dir, "config.json"));
        File.WriteAllText(Path.Combine(dir, "config.json"), config.Replace("\"add_cross_attention\"", "\"sbert_ce_default_activation_function\": \"torch.nn.modules.linear.Identity\", \"add_cross_attention\""));
        using var ce = CrossEncoder.Load(dir);
        Assert.Equal(ScoreActivation.Raw, ce.Activation);

        File.WriteAllText(Path.Combine(dir, "config.json"), config);
        using var ce2 = CrossEncoder.Load(dir);
        Assert.Equal(ScoreActivation.Sigmoid, ce2.Activation); // one label, nothing declared: sigmoid
    }

    [Fact]
    public void MaxLengthIsTheMinimumOfOptionTokenizerAndPositions()
    {
        using var a = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), new CrossEncoderOptions { MaxLength = 4096 });
        Assert.Equal(512, a.MaxLength);
        using var b = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), new CrossEncoderOptions { MaxLength = 128 });
        Assert.Equal(128, b.MaxLength);
    }

    [Fact]
    public void UnknownModelNameSaysHowToGetIt()
    {
        var old = Environment.GetEnvironmentVariable("SIFT_CACHE");
        Environment.SetEnvironmentVariable("SIFT_CACHE", _tmp);
        try
        {
            var ex = Assert.Throws<SiftException>(() => CrossEncoder.Load(null));
            Assert.Contains("cross-encoder/ms-marco-MiniLM-L-6-v2", ex.Message);
            Assert.Contains("sift model pull", ex.Message);
            var ex2 = Assert.Throws<SiftException>(() => CrossEncoder.Load("/no/such/dir"));
            Assert.Contains("/no/such/dir", ex2.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable("SIFT_CACHE", old);
        }
    }
}
