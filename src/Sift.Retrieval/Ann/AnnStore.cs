using System.Diagnostics;
using System.Text;

namespace Sift.Retrieval;

/// <summary>
/// One committed generation of a <see cref="SiftIndex"/>'s HNSW index: the USearch graph (<c>NAME.usearch</c>) and the
/// document id of each of its 64-bit keys (<c>NAME.ids</c>). A generation is written once under a fresh name and never
/// changed; the Lucene commit names the generation that belongs to it (commit user data <c>sift.ann</c>), so the graph a
/// search uses always matches the documents of the same commit, also after a crash mid-write.
/// <para><c>NAME.ids</c> (little-endian): magic <c>SIFTANN1</c>, int64 next key, int64 count, then count × (uint64 key,
/// length-prefixed UTF-8 id).</para>
/// </summary>
internal sealed class AnnStore : IDisposable
{
    public const string Prefix = "ann-";
    public const string GraphExtension = ".usearch";
    public const string IdsExtension = ".ids";
    private static ReadOnlySpan<byte> Magic => "SIFTANN1"u8;

    private readonly Dictionary<string, ulong> _keyOf;
    private readonly Dictionary<ulong, string> _idOf;
    private ulong _nextKey;

    private AnnStore(HnswIndex graph, Dictionary<string, ulong> keyOf, Dictionary<ulong, string> idOf, ulong nextKey, string? name)
    {
        Graph = graph;
        _keyOf = keyOf;
        _idOf = idOf;
        _nextKey = nextKey;
        Name = name;
    }

    public HnswIndex Graph { get; }

    /// <summary>The generation name (null until saved).</summary>
    public string? Name { get; private set; }

    public int Count => _keyOf.Count;

    public static string NewName() => Prefix + DateTime.UtcNow.ToString("yyyyMMddHHmmss") + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>Builds a graph over every vector in <paramref name="vectors"/> on all cores.</summary>
    public static AnnStore Build(VectorStore vectors, AnnOptions options, IProgress<AnnProgress>? progress, CancellationToken ct)
    {
        options.Validate();
        var live = vectors.Live();
        var graph = HnswIndex.Create(vectors.Dimension, options.Scalar, options.Connectivity, options.ExpansionAdd, options.ExpansionSearch);
        try
        {
            var keyOf = new Dictionary<string, ulong>(live.Count, StringComparer.Ordinal);
            var idOf = new Dictionary<ulong, string>(live.Count);
            var keys = new ulong[live.Count];
            for (var i = 0; i < live.Count; i++)
            {
                keys[i] = (ulong)i;
                keyOf[live[i].Id] = (ulong)i;
                idOf[(ulong)i] = live[i].Id;
            }
            graph.Reserve(Math.Max(16, live.Count));
            var clock = Stopwatch.StartNew();
            graph.AddMany(keys, i => live[i].Vector, progress is null ? null : new InlineProgress<long>(n => progress.Report(new AnnProgress(n, live.Count, clock.Elapsed))), ct);
            return new AnnStore(graph, keyOf, idOf, (ulong)live.Count, null);
        }
        catch
        {
            graph.Dispose();
            throw;
        }
    }

    /// <summary>Brings the graph in line with <paramref name="vectors"/>: re-adds <paramref name="changed"/> ids (their
    /// vectors may have changed), then adds or removes whatever else differs (a store written by a run that crashed
    /// before its commit).</summary>
    public void Apply(VectorStore vectors, IEnumerable<string> changed)
    {
        foreach (var id in changed)
        {
            Drop(id);
            if (vectors.Get(id) is { } v)
            {
                Insert(id, v);
            }
        }
        var live = vectors.Live();
        if (live.Count == _keyOf.Count && live.TrueForAll(l => _keyOf.ContainsKey(l.Id)))
        {
            return;
        }
        var present = new HashSet<string>(live.Select(l => l.Id), StringComparer.Ordinal);
        foreach (var id in _keyOf.Keys.Where(id => !present.Contains(id)).ToList())
        {
            Drop(id);
        }
        foreach (var (id, vector) in live)
        {
            if (!_keyOf.ContainsKey(id))
            {
                Insert(id, vector.Span);
            }
        }
    }

    private void Drop(string id)
    {
        if (_keyOf.Remove(id, out var key))
        {
            _idOf.Remove(key);
            Graph.Remove(key);
        }
    }

    private void Insert(string id, ReadOnlySpan<float> vector)
    {
        var key = _nextKey++;
        if (Graph.Capacity < Graph.Count + 1)
        {
            Graph.Reserve(Math.Max(16, Graph.Capacity * 2));
        }
        Graph.Add(key, vector);
        _keyOf[id] = key;
        _idOf[key] = id;
    }

    public bool Contains(string id) => _keyOf.ContainsKey(id);

    public IEnumerable<string> Ids => _keyOf.Keys;

    /// <summary>Approximate top-<paramref name="k"/> ids by cosine similarity (1 - USearch's cosine distance), best first.</summary>
    public IReadOnlyList<(string Id, float Score)> Search(ReadOnlySpan<float> query, int k)
    {
        if (k <= 0 || _keyOf.Count == 0)
        {
            return [];
        }
        k = Math.Min(k, _keyOf.Count);
        var keys = new ulong[k];
        var distances = new float[k];
        var found = Graph.Search(query, k, keys, distances);
        var result = new List<(string, float)>(found);
        for (var i = 0; i < found; i++)
        {
            if (_idOf.TryGetValue(keys[i], out var id))
            {
                result.Add((id, 1f - distances[i]));
            }
        }
        return result;
    }

    /// <summary>Writes this generation under a fresh name in <paramref name="directory"/> (flushed to disk) and returns the name.</summary>
    public string Save(string directory)
    {
        var name = NewName();
        var graphPath = Path.Combine(directory, name + GraphExtension);
        Graph.Save(graphPath);
        using (var fs = new FileStream(graphPath, FileMode.Open, FileAccess.ReadWrite))
        {
            fs.Flush(flushToDisk: true);
        }
        using (var stream = new FileStream(Path.Combine(directory, name + IdsExtension), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
        using (var w = new BinaryWriter(stream, Encoding.UTF8))
        {
            w.Write(Magic);
            w.Write((long)_nextKey);
            w.Write((long)_keyOf.Count);
            foreach (var (id, key) in _keyOf)
            {
                w.Write(key);
                w.Write(id);
            }
            w.Flush();
            stream.Flush(flushToDisk: true);
        }
        Name = name;
        return name;
    }

    /// <summary>Opens generation <paramref name="name"/>: memory-mapped and read-only when <paramref name="view"/>, else loaded (to modify and save as a new generation).</summary>
    public static AnnStore Open(string directory, string name, bool view)
    {
        var idsPath = Path.Combine(directory, name + IdsExtension);
        if (!File.Exists(idsPath))
        {
            throw new SiftException($"the HNSW index {name} named by the last commit of {directory} is missing ({idsPath}); rebuild it with `sift index --index {directory} --ann hnsw`");
        }
        var graph = HnswIndex.Open(Path.Combine(directory, name + GraphExtension), view);
        try
        {
            using var stream = new FileStream(idsPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 20);
            using var r = new BinaryReader(stream, Encoding.UTF8);
            Span<byte> magic = stackalloc byte[8];
            r.BaseStream.ReadExactly(magic);
            if (!magic.SequenceEqual(Magic))
            {
                throw new SiftException($"{idsPath} is not a Sift HNSW id file; rebuild the ANN index with `sift index --index {directory} --ann hnsw`");
            }
            var next = (ulong)r.ReadInt64();
            var count = r.ReadInt64();
            var keyOf = new Dictionary<string, ulong>((int)count, StringComparer.Ordinal);
            var idOf = new Dictionary<ulong, string>((int)count);
            for (long i = 0; i < count; i++)
            {
                var key = r.ReadUInt64();
                var id = r.ReadString();
                keyOf[id] = key;
                idOf[key] = id;
            }
            if (graph.Count != count)
            {
                throw new SiftException($"the HNSW index {name} in {directory} holds {graph.Count} vectors but {count} ids; rebuild it with `sift index --index {directory} --ann hnsw`");
            }
            return new AnnStore(graph, keyOf, idOf, next, name);
        }
        catch (EndOfStreamException e)
        {
            graph.Dispose();
            throw new SiftException($"{idsPath} is truncated; rebuild the ANN index with `sift index --index {directory} --ann hnsw`", e);
        }
        catch
        {
            graph.Dispose();
            throw;
        }
    }

    /// <summary>Deletes generations in <paramref name="directory"/> other than <paramref name="keep"/> (best effort:
    /// on Linux a reader that has one open or mapped keeps reading it).</summary>
    public static void DeleteOthers(string directory, IReadOnlyCollection<string?> keep)
    {
        foreach (var path in Directory.EnumerateFiles(directory, Prefix + "*"))
        {
            var file = Path.GetFileName(path);
            var name = file.EndsWith(GraphExtension, StringComparison.Ordinal) ? file[..^GraphExtension.Length]
                : file.EndsWith(IdsExtension, StringComparison.Ordinal) ? file[..^IdsExtension.Length] : null;
            if (name is not null && !keep.Contains(name))
            {
                try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
    }

    public void Dispose() => Graph.Dispose();

    private sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
