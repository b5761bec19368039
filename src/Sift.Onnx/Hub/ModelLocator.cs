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

    /// <summary>Resolves a model argument (null: the default model) to a local directory or .onnx file.</summary>
    public static string Resolve(string? model)
    {
        var name = string.IsNullOrWhiteSpace(model) ? DefaultCrossEncoder : model;
        if (Directory.Exists(name) || File.Exists(name))
        {
            return Path.GetFullPath(name);
        }
        if (LooksLikeRepoId(name))
        {
            var cached = CachePathFor(name);
            if (File.Exists(Path.Combine(cached, "config.json")))
            {
                return cached;
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
