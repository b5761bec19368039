namespace Sift.Onnx;

/// <summary>
/// Turns what a user typed (a directory, an .onnx file, or a hub id such as <c>cross-encoder/ms-marco-MiniLM-L-6-v2</c>)
/// into a local path. Loading never needs the network: hub ids resolve only through the local cache that
/// <c>sift model pull</c> fills.
/// </summary>
public static class ModelLocator
{
    /// <summary>The reranker used when none is named (override with SIFT_DEFAULT_MODEL).</summary>
    public static string DefaultCrossEncoder =>
        Environment.GetEnvironmentVariable("SIFT_DEFAULT_MODEL") is { Length: > 0 } m ? m : "cross-encoder/ms-marco-MiniLM-L-6-v2";

    /// <summary>The bi-encoder used when dense vectors are asked for without naming a model (override with SIFT_DEFAULT_DENSE_MODEL).</summary>
    public static string DefaultBiEncoder =>
        Environment.GetEnvironmentVariable("SIFT_DEFAULT_DENSE_MODEL") is { Length: > 0 } m ? m : "sentence-transformers/all-MiniLM-L6-v2";

    /// <summary>Cache root: SIFT_CACHE, else $XDG_CACHE_HOME/sift, else ~/.cache/sift.</summary>
    public static string CacheRoot
    {
        get
        {
            if (Environment.GetEnvironmentVariable("SIFT_CACHE") is { Length: > 0 } c)
            {
                return Path.GetFullPath(c);
            }
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var baseDir = string.IsNullOrEmpty(xdg)
                ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache")
                : xdg;
            return Path.Combine(baseDir, "sift");
        }
    }

    /// <summary>Where a hub model id lives in the cache.</summary>
    public static string CachePathFor(string repoId) => Path.Combine(CacheRoot, "models", ValidateRepoId(repoId).Replace('/', Path.DirectorySeparatorChar));

    private static readonly List<IModelProvider> Providers = [];

    /// <summary>
    /// Adds a source of models that are not in the cache yet but can be had without the network (the bundled models of
    /// Sift.Models). <see cref="Resolve"/> asks providers, in the order added, before it gives up on a hub id.
    /// </summary>
    public static void AddProvider(IModelProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        lock (Providers)
        {
            if (!Providers.Contains(provider)) Providers.Add(provider);
        }
    }

    /// <summary>Resolves a model argument (null: the default model) to a local directory or .onnx file.</summary>
    public static string Resolve(string? model)
    {
        var name = string.IsNullOrWhiteSpace(model) ? DefaultCrossEncoder : model;
        if (Directory.Exists(name) || File.Exists(name))
        {
            return Path.GetFullPath(name);
        }
        IModelProvider[] providers;
        lock (Providers) providers = [.. Providers];
        // A provider may know a short alias (all-MiniLM-L6-v2) for a hub id.
        foreach (var p in providers)
        {
            if (!LooksLikeRepoId(name) && p.TryGetRepoId(name) is { } alias) name = alias;
        }
        if (LooksLikeRepoId(name))
        {
            var cached = CachePathFor(name);
            if (File.Exists(Path.Combine(cached, "config.json")))
            {
                return cached;
            }
            foreach (var p in providers)
            {
                if (p.TryGetRepoId(name) is not null) return p.Provide(name);
            }
            var which = model is null ? $"No --model was given, so the default '{name}' was looked up" : $"'{name}' was looked up";
            throw new SiftException(
                $"{which} in the model cache ({cached}) and is not there. Download it once with `sift model pull {name}` " +
                "(needs access to huggingface.co or HF_ENDPOINT), or pass --model with a local model directory.");
        }
        throw new SiftException(
            $"Model not found: '{name}' is not a directory, an .onnx file, or a hub id like ORG/NAME. " +
            "Pass a Hugging Face model directory or download one with `sift model pull ORG/NAME`.");
    }

    public static bool LooksLikeRepoId(string s)
    {
        var parts = s.Split('/');
        return parts.Length == 2 && parts.All(p => p.Length > 0 && p != "." && p != ".." &&
                                                   p.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.'));
    }

    internal static string ValidateRepoId(string repoId)
    {
        if (!LooksLikeRepoId(repoId))
        {
            throw new SiftException($"'{repoId}' is not a Hugging Face model id; expected ORG/NAME, e.g. cross-encoder/ms-marco-MiniLM-L-6-v2.");
        }
        return repoId;
    }
}

/// <summary>A source of models that can be put into the cache without the network (see <see cref="ModelLocator.AddProvider"/>).</summary>
public interface IModelProvider
{
    /// <summary>The hub id this provider can install for <paramref name="name"/> (a hub id or a short alias), else null.</summary>
    string? TryGetRepoId(string name);

    /// <summary>Installs <paramref name="repoId"/> into the cache if needed and returns its directory.</summary>
    string Provide(string repoId);
}
