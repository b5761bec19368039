using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text;

namespace Sift.Retrieval;

/// <summary>
/// An exact (brute-force) dense vector store: one L2-normalized float32 row per document id, searched by dot
/// product (= cosine) with <see cref="TensorPrimitives.Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/> and a
/// bounded min-heap, so a search costs O(count × dimension) and exactly finds the true top-k.
/// <para>
/// Memory: the whole matrix lives in RAM: dimension × 4 bytes × count, i.e. per million vectors
/// 384-dim = 1.54 GB, 768-dim = 3.07 GB, 1024-dim = 4.10 GB (plus ids, ~50-100 MB per million).
/// Beyond a few million vectors an approximate index (HNSW, IVF) is the better tool.
/// </para>
/// <para>
/// On disk (<c>vectors.bin</c>, little-endian): magic <c>SIFTVEC1</c>, int32 format version, int32 dimension,
/// int64 count, model name (7-bit length-prefixed UTF-8); then count × dimension float32 row-major; then count ids
/// (length-prefixed UTF-8) in row order. One file, written to a temp file and renamed, so a crash leaves either
/// the old or the new store, never a torn one.
/// </para>
/// Thread-safe: searches run concurrently; writes take an exclusive lock.
/// </summary>
public sealed class VectorStore
{
    private static ReadOnlySpan<byte> Magic => "SIFTVEC1"u8;
    private const int FormatVersion = 1;

    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private readonly Dictionary<string, int> _rows = new(StringComparer.Ordinal);
    private readonly List<string?> _ids = []; // null marks a deleted row (compacted away on save)
    private float[] _data;
    private int _liveCount;
    // Ids upserted or removed since load or the last TakeChanges: what an HNSW index built beside this store must redo.
    private readonly HashSet<string> _changed = new(StringComparer.Ordinal);

    /// <summary>An empty store for <paramref name="dimension"/>-dimensional vectors from <paramref name="model"/>.</summary>
    public VectorStore(int dimension, string model)
    {
        if (dimension < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(dimension));
        }
        Dimension = dimension;
        Model = model ?? "";
        _data = new float[dimension * 16];
    }

    public int Dimension { get; }

    /// <summary>Name or path of the embedding model the vectors came from (queries must use the same one).</summary>
    public string Model { get; }

    /// <summary>Live vectors.</summary>
    public int Count
    {
        get
        {
            _lock.EnterReadLock();
            try { return _liveCount; } finally { _lock.ExitReadLock(); }
        }
    }

    /// <summary>Bytes the matrix takes for <paramref name="count"/> vectors of <paramref name="dimension"/> floats.</summary>
    public static long MatrixBytes(int dimension, long count) => dimension * 4L * count;

    public bool Contains(string id)
    {
        _lock.EnterReadLock();
        try { return _rows.ContainsKey(id); } finally { _lock.ExitReadLock(); }
    }

    /// <summary>Adds or replaces the vector for <paramref name="id"/>. The vector is L2-normalized on the way in.</summary>
    public void Upsert(string id, ReadOnlySpan<float> vector)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (vector.Length != Dimension)
        {
            throw new SiftException($"embedding for {id} has {vector.Length} dimensions but this index stores {Dimension}-dimensional vectors from {Model}; use the same embedding model the index was built with");
        }
        _lock.EnterWriteLock();
        try
        {
            if (!_rows.TryGetValue(id, out var row))
            {
                row = _ids.Count;
                EnsureCapacity(row + 1);
                _ids.Add(id);
                _rows[id] = row;
                _liveCount++;
            }
            _changed.Add(id);
            var dest = _data.AsSpan(row * Dimension, Dimension);
            vector.CopyTo(dest);
            var norm = TensorPrimitives.Norm(dest);
            if (norm > 0 && Math.Abs(norm - 1f) > 1e-6f)
            {
                TensorPrimitives.Divide(dest, norm, dest);
            }
        }
        finally { _lock.ExitWriteLock(); }
    }

    /// <summary>Removes <paramref name="id"/>; returns false when it was not stored.</summary>
    public bool Remove(string id)
    {
        _lock.EnterWriteLock();
        try
        {
            _changed.Add(id);
            if (!_rows.Remove(id, out var row))
            {
                return false;
            }
            _ids[row] = null;
            _liveCount--;
            return true;
        }
        finally { _lock.ExitWriteLock(); }
    }

    /// <summary>Ids upserted or removed since the store was loaded or this was last called; clears the record.</summary>
    internal IReadOnlyCollection<string> TakeChanges()
    {
        _lock.EnterWriteLock();
        try
        {
            var changes = _changed.ToArray();
            _changed.Clear();
            return changes;
        }
        finally { _lock.ExitWriteLock(); }
    }

    /// <summary>The live ids with their (normalized) vectors, in row order. The memory aliases the store: valid until
    /// the next write to it, so callers hold the index's write gate.</summary>
    internal List<(string Id, ReadOnlyMemory<float> Vector)> Live()
    {
        _lock.EnterReadLock();
        try
        {
            var live = new List<(string, ReadOnlyMemory<float>)>(_liveCount);
            for (var row = 0; row < _ids.Count; row++)
            {
                if (_ids[row] is { } id)
                {
                    live.Add((id, new ReadOnlyMemory<float>(_data, row * Dimension, Dimension)));
                }
            }
            return live;
        }
        finally { _lock.ExitReadLock(); }
    }

    /// <summary>Cosine similarity of the stored vector of <paramref name="id"/> with the normalized
    /// <paramref name="unitQuery"/>; null when the id has no vector.</summary>
    internal float? Similarity(string id, ReadOnlySpan<float> unitQuery)
    {
        _lock.EnterReadLock();
        try { return _rows.TryGetValue(id, out var row) ? TensorPrimitives.Dot(unitQuery, new ReadOnlySpan<float>(_data, row * Dimension, Dimension)) : null; }
        finally { _lock.ExitReadLock(); }
    }

    /// <summary>The stored (normalized) vector for <paramref name="id"/>, or null.</summary>
    public float[]? Get(string id)
    {
        _lock.EnterReadLock();
        try { return _rows.TryGetValue(id, out var row) ? _data.AsSpan(row * Dimension, Dimension).ToArray() : null; }
        finally { _lock.ExitReadLock(); }
    }

    /// <summary>Exact top-<paramref name="k"/> by dot product with <paramref name="query"/> (normalized here, so scores are
    /// cosine similarities). Best first; equal scores keep insertion order.</summary>
    public IReadOnlyList<(string Id, float Score)> Search(ReadOnlySpan<float> query, int k)
    {
        if (query.Length != Dimension)
        {
            throw new SiftException($"query embedding has {query.Length} dimensions but this index stores {Dimension}-dimensional vectors from {Model}; search with the same embedding model the index was built with");
        }
        if (k <= 0)
        {
            return [];
        }
        var q = query.ToArray();
        var norm = TensorPrimitives.Norm(q);
        if (norm > 0)
        {
            TensorPrimitives.Divide(q, norm, q);
        }

        _lock.EnterReadLock();
        try
        {
            var rows = _ids.Count;
            // Split big stores across cores; each part keeps its own heap and the heaps are merged at the end.
            var parts = rows >= 65_536 ? Math.Min(Environment.ProcessorCount, 16) : 1;
            var heaps = new PriorityQueue<int, (float Score, int Row)>[parts];
            var chunk = (rows + parts - 1) / parts;
            if (parts == 1)
            {
                heaps[0] = TopK(q, 0, rows, k);
            }
            else
            {
                Parallel.For(0, parts, p => heaps[p] = TopK(q, p * chunk, Math.Min(rows, (p + 1) * chunk), k));
            }
            var all = new List<(int Row, float Score)>(k * parts);
            foreach (var heap in heaps)
            {
                while (heap.TryDequeue(out var row, out var pri))
                {
                    all.Add((row, pri.Score));
                }
            }
            all.Sort((a, b) => b.Score != a.Score ? b.Score.CompareTo(a.Score) : a.Row.CompareTo(b.Row));
            var result = new (string, float)[Math.Min(k, all.Count)];
            for (var i = 0; i < result.Length; i++)
            {
                result[i] = (_ids[all[i].Row]!, all[i].Score);
            }
            return result;
        }
        finally { _lock.ExitReadLock(); }
    }

    // Min-heap on (score, -row): the root is the worst kept hit, evicted when a better row arrives. Among equal scores
    // the later row is "worse", which makes results deterministic.
    private static readonly Comparer<(float Score, int Row)> WorstFirst = Comparer<(float Score, int Row)>.Create(
        (a, b) => a.Score != b.Score ? a.Score.CompareTo(b.Score) : b.Row.CompareTo(a.Row));

    private PriorityQueue<int, (float Score, int Row)> TopK(float[] q, int from, int to, int k)
    {
        var heap = new PriorityQueue<int, (float Score, int Row)>(k + 1, WorstFirst);
        var data = _data;
        var dim = Dimension;
        for (var row = from; row < to; row++)
        {
            if (_ids[row] is null)
            {
                continue;
            }
            var score = TensorPrimitives.Dot(q, new ReadOnlySpan<float>(data, row * dim, dim));
            if (heap.Count < k)
            {
                heap.Enqueue(row, (score, row));
            }
            else if (heap.TryPeek(out _, out var worst) && WorstFirst.Compare((score, row), worst) > 0)
            {
                heap.DequeueEnqueue(row, (score, row));
            }
        }
        return heap;
    }

    private void EnsureCapacity(int rows)
    {
        var needed = (long)rows * Dimension;
        if (needed > Array.MaxLength)
        {
            throw new SiftException($"the vector store is full: {rows:N0} × {Dimension} floats exceed one array; split the corpus across indexes or use a smaller embedding model");
        }
        if (needed > _data.Length)
        {
            var size = Math.Min(Math.Max(needed, (long)_data.Length * 2), Array.MaxLength);
            Array.Resize(ref _data, (int)size);
        }
    }

    /// <summary>Writes the live vectors to <paramref name="path"/> atomically (temp file + rename).</summary>
    public void Save(string path)
    {
        var tmp = path + ".tmp";
        _lock.EnterReadLock();
        try
        {
            using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: false))
            {
                w.Write(Magic);
                w.Write(FormatVersion);
                w.Write(Dimension);
                w.Write((long)_liveCount);
                w.Write(Model);
                for (var row = 0; row < _ids.Count; row++)
                {
                    if (_ids[row] is not null)
                    {
                        w.Write(MemoryMarshal.AsBytes(new ReadOnlySpan<float>(_data, row * Dimension, Dimension)));
                    }
                }
                foreach (var id in _ids)
                {
                    if (id is not null)
                    {
                        w.Write(id);
                    }
                }
                w.Flush();
                stream.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally { _lock.ExitReadLock(); }
    }

    /// <summary>Reads a store written by <see cref="Save"/>.</summary>
    public static VectorStore Load(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 20);
            using var r = new BinaryReader(stream, Encoding.UTF8);
            Span<byte> magic = stackalloc byte[8];
            r.BaseStream.ReadExactly(magic);
            if (!magic.SequenceEqual(Magic))
            {
                throw new SiftException($"{path} is not a Sift vector file; delete it and re-index with the dense model");
            }
            var version = r.ReadInt32();
            if (version != FormatVersion)
            {
                throw new SiftException($"{path} has vector format version {version}, this Sift reads {FormatVersion}; re-index with this version");
            }
            var dim = r.ReadInt32();
            var count = r.ReadInt64();
            var model = r.ReadString();
            var store = new VectorStore(dim, model);
            store.EnsureCapacity(checked((int)count));
            r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(store._data.AsSpan(0, (int)(count * dim))));
            for (var row = 0; row < count; row++)
            {
                var id = r.ReadString();
                store._ids.Add(id);
                store._rows[id] = row;
            }
            store._liveCount = (int)count;
            return store;
        }
        catch (EndOfStreamException e)
        {
            throw new SiftException($"{path} is truncated; delete it and re-index with the dense model", e);
        }
    }

    /// <summary>Reads only the header (dimension, count, model) of a vector file.</summary>
    public static (int Dimension, long Count, string Model) ReadHeader(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var r = new BinaryReader(stream, Encoding.UTF8);
        r.ReadBytes(8);
        r.ReadInt32();
        return (r.ReadInt32(), r.ReadInt64(), r.ReadString());
    }
}
