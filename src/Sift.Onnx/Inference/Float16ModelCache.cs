using System.Security.Cryptography;
using System.Text;
using Sift.Onnx.GraphOptimizer;

namespace Sift.Onnx;

/// <summary>
/// The float16 copy of a float32 ONNX file (<see cref="OnnxGraphOptimizer.ConvertToFloat16(string, string, Float16Options?)"/>),
/// made once and cached under the model cache (<c>fp16/&lt;key&gt;.onnx</c>, keyed by the source file's content like
/// <see cref="SplitModelCache"/>; the 8 most recently used are kept). Converting a 90 MB MiniLM takes about a second;
/// an unwritable cache converts to a temporary file at each load.
/// </summary>
internal static class Float16ModelCache
{
    /// <summary>Bump when the converter's output changes, so old conversions are not reused.</summary>
    private const int FormatVersion = 1;

    private const int MaxEntries = 8;

    /// <param name="fp32Norms">Keep LayerNorm and softmax in float32 (the default conversion), or leave them float16
    /// (<see cref="Float16Options.FusableNormsBlockedOps"/>); each variant is its own cache entry.</param>
    public static string Load(string onnxPath, string? cacheRoot = null, bool fp32Norms = true)
    {
        var root = Path.Combine(cacheRoot ?? ModelLocator.CacheRoot, "fp16");
        string cached;
        try
        {
            var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
                $"{SplitModelCache.ContentHash(onnxPath, root)}|v{FormatVersion}{(fp32Norms ? "" : "|fusable-norms")}")))[..20];
            cached = Path.Combine(root, key + ".onnx");
            if (File.Exists(cached))
            {
                File.SetLastWriteTimeUtc(cached, DateTime.UtcNow); // recently used: evicted last
                return cached;
            }
            Directory.CreateDirectory(root);
            Evict(root, MaxEntries - 1);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            cached = Path.Combine(Path.GetTempPath(), $"sift-fp16-{Environment.ProcessId}-{Guid.NewGuid():N}.onnx");
        }
        Convert16(onnxPath, cached, fp32Norms);
        return cached;
    }

    private static void Convert16(string onnxPath, string target, bool fp32Norms)
    {
        try
        {
            // OnnxModelIO.Save writes a temporary file and moves it into place: a reader never sees half a model.
            OnnxGraphOptimizer.ConvertToFloat16(onnxPath, target,
                new Float16Options { BlockedOps = fp32Norms ? Float16Options.DefaultBlockedOps : Float16Options.FusableNormsBlockedOps });
        }
        catch (NotSupportedException ex)
        {
            throw new SiftException($"{onnxPath}: cannot convert to fp16 ({ex.Message}). Use --precision fp32 or int8.", ex);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException ex)
        {
            throw new SiftException($"{onnxPath}: not a readable ONNX file ({ex.Message}). Re-download it or re-export it with `optimum-cli export onnx`.", ex);
        }
        finally
        {
            // The conversion held the whole model in managed memory; give it back before ONNX Runtime loads it.
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
    }

    private static void Evict(string root, int keep)
    {
        foreach (var old in new DirectoryInfo(root).GetFiles("*.onnx").OrderByDescending(f => f.LastWriteTimeUtc).Skip(Math.Max(0, keep)))
        {
            try
            {
                old.Delete();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // in use or read-only: try again next time
            }
        }
    }
}
