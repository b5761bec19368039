using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Sift.Onnx.GraphOptimizer;

namespace Sift.Onnx;

/// <summary>A cut graph ready to load: the steps, and each segment as a file (cached) or bytes (cache not writable).</summary>
internal sealed record LoadableSplit(SplitGraph Graph, string?[] SegmentFiles);

/// <summary>
/// Caches <see cref="OnnxGraphOptimizer.SplitAtAttention"/> results under the model cache
/// (<c>split/&lt;key&gt;/</c>, keyed by the ONNX file's content; the 8 most recently used are kept): cutting a 90 MB graph
/// (parse, split, serialize 13 segments) takes ~0.7 s, reading the cut segments back is the cheap part of a cold start.
/// A graph that cannot be cut is remembered too, with its reason. An unwritable cache only costs the split each load.
/// </summary>
internal static class SplitModelCache
{
    private const int FormatVersion = 3; // 3: the cutter accepts Shape-derived output Reshapes (older PyTorch exports); bump with every cutter change

    /// <summary>Cut graphs kept; the least recently used go first (a cut fp32 MiniLM is ~90 MB).</summary>
    private const int MaxEntries = 8;

    public static LoadableSplit? Load(string onnxPath, bool gelu, out string why, string? cacheRoot = null)
    {
        var root = Path.Combine(cacheRoot ?? ModelLocator.CacheRoot, "split");
        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{ContentHash(onnxPath, root)}|gelu={gelu}|v{FormatVersion}")))[..20];
        var dir = Path.Combine(root, key);
        if (TryRead(dir, out var cached, out why))
        {
            Touch(dir);
            return cached;
        }
        if (why.Length > 0) return null; // remembered: this graph cannot be cut
        Evict(root, keep: MaxEntries - 1);

        var tmp = dir + "." + Environment.ProcessId + ".tmp";
        SplitGraph? split;
        try
        {
            // Segments stream straight to the cache: the model is held in memory once while it is cut.
            Directory.CreateDirectory(tmp);
            split = OnnxGraphOptimizer.SplitAtAttention(onnxPath, i => Path.Combine(tmp, SegmentFile(i)), "attention_mask", out why, gelu);
            Write(tmp, dir, split, why);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // No writable cache: cut in memory; the segments are kept as bytes and the cut repeats at every load.
            TryDelete(tmp);
            split = OnnxGraphOptimizer.SplitAtAttention(File.ReadAllBytes(onnxPath), "attention_mask", out why, gelu);
            return split is null ? null : new LoadableSplit(split, new string?[split.Segments.Count]);
        }
        catch
        {
            TryDelete(tmp); // e.g. not a valid ONNX file: leave no half-written cache entry behind
            throw;
        }
        finally
        {
            // Cutting parsed the whole model into managed memory; give it back before ONNX Runtime loads the segments.
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
        return split is null ? null : new LoadableSplit(split, [.. Enumerable.Range(0, split.Segments.Count).Select(i => (string?)Path.Combine(dir, SegmentFile(i)))]);
    }

    private static string SegmentFile(int i) => $"segment{i}.onnx";

    /// <summary>
    /// SHA-256 of the file's content, so copies of one model share a cache entry; remembered per (path, size,
    /// modification time) under <c>split/hashes/</c> so a warm start does not re-read 90 MB.
    /// </summary>
    internal static string ContentHash(string onnxPath, string root)
    {
        var info = new FileInfo(onnxPath);
        var memo = Path.Combine(root, "hashes", Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            $"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}")))[..20]);
        try
        {
            if (File.Exists(memo) && File.ReadAllText(memo).Trim() is { Length: 64 } known) return known;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // unreadable memo: hash again
        }
        string hash;
        using (var stream = File.OpenRead(onnxPath))
        {
            hash = Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(memo)!);
            File.WriteAllText(memo, hash);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // read-only cache: hash at every load
        }
        return hash;
    }

    private static void Touch(string dir)
    {
        try
        {
            Directory.SetLastWriteTimeUtc(dir, DateTime.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // read-only cache: eviction order just gets less precise
        }
    }

    private static void Evict(string root, int keep)
    {
        if (!Directory.Exists(root)) return;
        var entries = new DirectoryInfo(root).GetDirectories().Where(d => d.Name != "hashes" && !d.Name.EndsWith(".tmp", StringComparison.Ordinal))
            .OrderByDescending(d => d.LastWriteTimeUtc).Skip(Math.Max(0, keep));
        foreach (var old in entries) TryDelete(old.FullName);
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // best effort: a leftover temp folder is ignored by later loads
        }
    }

    private static bool TryRead(string dir, out LoadableSplit? split, out string why)
    {
        split = null;
        why = "";
        try
        {
            var unsupported = Path.Combine(dir, "unsupported.txt");
            if (File.Exists(unsupported))
            {
                why = File.ReadAllText(unsupported).Trim();
                return false;
            }
            var manifestPath = Path.Combine(dir, "split.json");
            if (!File.Exists(manifestPath) || JsonNode.Parse(File.ReadAllText(manifestPath)) is not JsonObject m) return false;
            static string[] Names(JsonNode? n) => n!.AsArray().Select(x => x!.GetValue<string>()).ToArray();
            var files = new List<string?>();
            var segments = new List<GraphSegment>();
            foreach (var s in m["segments"]!.AsArray())
            {
                var file = Path.Combine(dir, s!["file"]!.GetValue<string>());
                if (!File.Exists(file)) return false;
                files.Add(file);
                segments.Add(new GraphSegment([], Names(s["inputs"]), Names(s["outputs"])));
            }
            var steps = new List<HostStep>();
            foreach (var s in m["steps"]!.AsArray())
            {
                steps.Add(s!["kind"]!.GetValue<string>() switch
                {
                    "attention" => new HostAttention(s["query"]!.GetValue<string>(), s["key"]!.GetValue<string>(), s["value"]!.GetValue<string>(),
                        s["output"]!.GetValue<string>(), s["heads"]!.GetValue<int>(), s["head_size"]!.GetValue<int>(), s["scale"]!.GetValue<float>()),
                    "gelu" => new HostGelu(s["input"]!.GetValue<string>(), s["output"]!.GetValue<string>()),
                    var k => throw new InvalidDataException($"unknown step kind {k}"),
                });
            }
            if (m["version"]?.GetValue<int>() != FormatVersion) return false;
            var tail = m["first_token_tail"] is JsonObject t ? new FirstTokenTail(t["step"]!.GetValue<int>(), Names(t["inputs"])) : null;
            split = new LoadableSplit(new SplitGraph(segments, steps, m["mask"]!.GetValue<string>(), Names(m["inputs"]), Names(m["outputs"]),
                tail, m["first_token_tail_why"]?.GetValue<string>() ?? ""), [.. files]);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or System.Text.Json.JsonException or InvalidOperationException or NullReferenceException)
        {
            return false; // unreadable or from another version: cut again
        }
    }

    private static void Write(string tmp, string dir, SplitGraph? split, string why)
    {
        if (split is null)
        {
            File.WriteAllText(Path.Combine(tmp, "unsupported.txt"), why);
        }
        else
        {
            var segments = new JsonArray();
            for (int i = 0; i < split.Segments.Count; i++)
            {
                var name = SegmentFile(i);
                segments.Add(new JsonObject
                {
                    ["file"] = name,
                    ["inputs"] = new JsonArray([.. split.Segments[i].Inputs.Select(x => (JsonNode)x)]),
                    ["outputs"] = new JsonArray([.. split.Segments[i].Outputs.Select(x => (JsonNode)x)]),
                });
            }
            var steps = new JsonArray();
            foreach (var s in split.Steps)
            {
                steps.Add(s switch
                {
                    HostAttention a => new JsonObject
                    {
                        ["kind"] = "attention", ["query"] = a.Query, ["key"] = a.Key, ["value"] = a.Value, ["output"] = a.Output,
                        ["heads"] = a.NumHeads, ["head_size"] = a.HeadSize, ["scale"] = a.Scale,
                    },
                    HostGelu g => new JsonObject { ["kind"] = "gelu", ["input"] = g.Input, ["output"] = g.Output },
                    _ => throw new NotSupportedException(s.GetType().Name),
                });
            }
            var manifest = new JsonObject
            {
                ["version"] = FormatVersion,
                ["mask"] = split.MaskInput,
                ["inputs"] = new JsonArray([.. split.GraphInputs.Select(x => (JsonNode)x)]),
                ["outputs"] = new JsonArray([.. split.GraphOutputs.Select(x => (JsonNode)x)]),
                ["segments"] = segments,
                ["steps"] = steps,
                ["first_token_tail"] = split.FirstTokenTail is { } tail
                    ? new JsonObject { ["step"] = tail.Step, ["inputs"] = new JsonArray([.. tail.Inputs.Select(x => (JsonNode)x)]) }
                    : null,
                ["first_token_tail_why"] = split.FirstTokenTailWhy,
            };
            File.WriteAllText(Path.Combine(tmp, "split.json"), manifest.ToJsonString());
        }
        try
        {
            Directory.Move(tmp, dir);
        }
        catch (IOException) when (Directory.Exists(dir))
        {
            Directory.Delete(tmp, recursive: true); // another process cached it first
        }
    }
}
