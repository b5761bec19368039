using System.Runtime.InteropServices;
using Cloud.Unum.USearch;

namespace Sift.Retrieval;

/// <summary>Scalar kind the HNSW index stores its vectors in (queries are always float32; USearch converts).</summary>
public enum AnnScalar
{
    /// <summary>4 bytes a dimension: no loss.</summary>
    F32,
    /// <summary>2 bytes a dimension (IEEE half).</summary>
    F16,
    /// <summary>1 byte a dimension (USearch scales the unit-normalized vector to [-127, 127]; cosine only).</summary>
    I8,
}

/// <summary>
/// USearch's HNSW graph (<c>Cloud.Unum.USearch</c>, native <c>libusearch_c</c>) over cosine distance, keyed by 64-bit
/// integers. This is a thin binding of USearch's C API: the managed <see cref="USearchIndex"/> of the same package has no
/// way to reserve capacity for a bulk build, add from several threads, or change the search expansion of a loaded
/// index, which a million-vector build and an <c>--ann-expansion-search</c> option need. The graph itself is USearch's.
/// <para>
/// Thread-safety: any number of threads may <see cref="Search"/> and <see cref="Add"/> at once (USearch keeps one
/// context per thread; this class hands out at most <see cref="Threads"/> at a time); <see cref="Remove"/>,
/// <see cref="Reserve"/>, <see cref="Save"/> and <see cref="Dispose"/> must not overlap other calls.
/// </para>
/// </summary>
public sealed class HnswIndex : IDisposable
{
    private const string Lib = "libusearch_c";
    private IntPtr _handle;
    private readonly SemaphoreSlim _contexts;

    private HnswIndex(IntPtr handle, int dimension, AnnScalar scalar, bool view)
    {
        _handle = handle;
        Dimension = dimension;
        Scalar = scalar;
        IsView = view;
        Threads = Math.Max(1, Environment.ProcessorCount);
        _contexts = new SemaphoreSlim(Threads, Threads);
        // One USearch thread context per concurrent caller; the default (the host's core count) can be fewer than the
        // cores .NET sees in a container, and exceeding it would corrupt a context.
        if (!view)
        {
            Call((IntPtr h, out IntPtr e) => { usearch_change_threads_add(h, (nuint)Threads, out e); return 0; });
        }
        Call((IntPtr h, out IntPtr e) => { usearch_change_threads_search(h, (nuint)Threads, out e); return 0; });
    }

    public int Dimension { get; }
    public AnnScalar Scalar { get; }

    /// <summary>True when the index is a read-only memory-mapped view of a file (see <see cref="Open"/>).</summary>
    public bool IsView { get; }

    /// <summary>Concurrent adds/searches served at once (more callers wait).</summary>
    public int Threads { get; }

    /// <summary>Live vectors.</summary>
    public long Count => (long)Call((IntPtr h, out IntPtr e) => usearch_size(h, out e));

    /// <summary>Vectors the index can hold without growing.</summary>
    public long Capacity => (long)Call((IntPtr h, out IntPtr e) => usearch_capacity(h, out e));

    /// <summary>Neighbours per node (M).</summary>
    public int Connectivity => (int)Call((IntPtr h, out IntPtr e) => usearch_connectivity(h, out e));

    public int ExpansionAdd => (int)Call((IntPtr h, out IntPtr e) => usearch_expansion_add(h, out e));

    /// <summary>Candidates kept while searching (ef); larger is slower and finds more of the true neighbours.</summary>
    public int ExpansionSearch
    {
        get => (int)Call((IntPtr h, out IntPtr e) => usearch_expansion_search(h, out e));
        set
        {
            if (value < 1) throw new SiftException($"HNSW search expansion must be at least 1 (got {value})");
            Call((IntPtr h, out IntPtr e) => { usearch_change_expansion_search(h, (nuint)value, out e); return 0; });
        }
    }

    /// <summary>Bytes USearch has allocated (vectors + graph); for a view, what a loaded copy would take.</summary>
    public long MemoryUsage => (long)Call((IntPtr h, out IntPtr e) => usearch_memory_usage(h, out e));

    /// <summary>Bytes <see cref="Save"/> writes.</summary>
    public long SerializedLength => (long)Call((IntPtr h, out IntPtr e) => usearch_serialized_length(h, out e));

    /// <summary>The native library's version (e.g. "2.26.6").</summary>
    public static string Version => Marshal.PtrToStringUTF8(usearch_version()) ?? "";

    /// <summary>An empty index for <paramref name="dimension"/>-dimensional vectors under cosine distance.</summary>
    /// <param name="connectivity">M: neighbours per node (0: USearch's default, 16).</param>
    /// <param name="expansionAdd">ef at build time (0: USearch's default, 128).</param>
    /// <param name="expansionSearch">ef at search time (0: USearch's default, 64).</param>
    public static HnswIndex Create(int dimension, AnnScalar scalar, int connectivity = 0, int expansionAdd = 0, int expansionSearch = 0)
    {
        if (dimension < 1) throw new ArgumentOutOfRangeException(nameof(dimension));
        var options = new InitOptions
        {
            MetricKind = MetricKind.Cos,
            Quantization = ToNative(scalar),
            Dimensions = (ulong)dimension,
            Connectivity = (ulong)Math.Max(0, connectivity),
            ExpansionAdd = (ulong)Math.Max(0, expansionAdd),
            ExpansionSearch = (ulong)Math.Max(0, expansionSearch),
        };
        var handle = usearch_init(ref options, out var error);
        Check(error, "create");
        return new HnswIndex(handle, dimension, scalar, view: false);
    }

    /// <summary>Opens a file written by <see cref="Save"/>: loaded into memory (writable), or memory-mapped when
    /// <paramref name="view"/> is set (read-only, opens in milliseconds, pages come from the OS cache on demand).</summary>
    public static HnswIndex Open(string path, bool view)
    {
        if (!File.Exists(path)) throw new SiftException($"HNSW index file {path} is missing; rebuild the ANN index with `sift index --index DIR --ann hnsw`");
        var meta = default(InitOptions);
        usearch_metadata(path, ref meta, out var error);
        if (error != IntPtr.Zero)
        {
            throw new SiftException($"{path} is not a readable USearch index ({Marshal.PtrToStringUTF8(error)}); rebuild it with `sift index --index DIR --ann hnsw`");
        }
        var handle = usearch_init(ref meta, out error);
        Check(error, "create");
        if (view) usearch_view(handle, path, out error);
        else usearch_load(handle, path, out error);
        if (error != IntPtr.Zero)
        {
            var message = Marshal.PtrToStringUTF8(error);
            usearch_free(handle, out _);
            throw new SiftException($"cannot open the HNSW index {path} ({message}); it is damaged or from another USearch version: rebuild it with `sift index --index DIR --ann hnsw`");
        }
        return new HnswIndex(handle, (int)meta.Dimensions, FromNative(meta.Quantization), view);
    }

    /// <summary>Makes room for <paramref name="capacity"/> vectors in all (growing one at a time is slow).</summary>
    public void Reserve(long capacity)
    {
        Call((IntPtr h, out IntPtr e) => { usearch_reserve(h, (nuint)capacity, out e); return 0; });
        // Reserving resets the per-thread contexts to the host's count.
        Call((IntPtr h, out IntPtr e) => { usearch_change_threads_add(h, (nuint)Threads, out e); return 0; });
        Call((IntPtr h, out IntPtr e) => { usearch_change_threads_search(h, (nuint)Threads, out e); return 0; });
    }

    public bool Contains(ulong key) => Call((IntPtr h, out IntPtr e) => usearch_contains(h, key, out e) ? 1u : 0u) != 0;

    /// <summary>Adds <paramref name="vector"/> under <paramref name="key"/> (which must not be present: remove first to replace).</summary>
    public unsafe void Add(ulong key, ReadOnlySpan<float> vector)
    {
        if (vector.Length != Dimension) throw new SiftException($"vector has {vector.Length} dimensions, the HNSW index {Dimension}");
        ThrowIfDisposed();
        _contexts.Wait();
        try
        {
            fixed (float* p = vector)
            {
                usearch_add(_handle, key, (IntPtr)p, ScalarKind.Float32, out var error);
                Check(error, $"add key {key}");
            }
        }
        finally { _contexts.Release(); }
    }

    /// <summary>Adds many vectors on all cores (keys must not be present). <paramref name="vector"/> returns key i's vector.</summary>
    public void AddMany(IReadOnlyList<ulong> keys, Func<int, ReadOnlyMemory<float>> vector, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        if (Capacity < Count + keys.Count) Reserve(Count + keys.Count);
        long done = 0;
        Parallel.For(0, keys.Count, new ParallelOptions { MaxDegreeOfParallelism = Threads, CancellationToken = cancellationToken }, i =>
        {
            Add(keys[i], vector(i).Span);
            var n = Interlocked.Increment(ref done);
            if (n % 10_000 == 0) progress?.Report(n);
        });
        progress?.Report(done);
    }

    /// <summary>Removes <paramref name="key"/>; false when it was not there.</summary>
    public bool Remove(ulong key) => Call((IntPtr h, out IntPtr e) => usearch_remove(h, key, out e)) > 0;

    /// <summary>The approximate <paramref name="k"/> nearest keys to <paramref name="query"/> by cosine distance
    /// (1 - cosine similarity), nearest first. Returns how many were found.</summary>
    public unsafe int Search(ReadOnlySpan<float> query, int k, Span<ulong> keys, Span<float> distances)
    {
        if (query.Length != Dimension) throw new SiftException($"query has {query.Length} dimensions, the HNSW index {Dimension}");
        if (k <= 0) return 0;
        if (keys.Length < k || distances.Length < k) throw new ArgumentException("result buffers are shorter than k");
        ThrowIfDisposed();
        _contexts.Wait();
        try
        {
            fixed (float* q = query)
            fixed (ulong* ks = keys)
            fixed (float* ds = distances)
            {
                var found = usearch_search(_handle, (IntPtr)q, ScalarKind.Float32, (nuint)k, (IntPtr)ks, (IntPtr)ds, out var error);
                Check(error, "search");
                return (int)found;
            }
        }
        finally { _contexts.Release(); }
    }

    /// <summary>Writes the index to <paramref name="path"/> (overwriting it).</summary>
    public void Save(string path)
    {
        Call((IntPtr h, out IntPtr e) => { usearch_save(h, path, out e); return 0; });
    }

    public void Dispose()
    {
        if (_handle == IntPtr.Zero) return;
        usearch_free(_handle, out _);
        _handle = IntPtr.Zero;
        _contexts.Dispose();
    }

    private delegate nuint NativeCall(IntPtr handle, out IntPtr error);

    private nuint Call(NativeCall call)
    {
        ThrowIfDisposed();
        var result = call(_handle, out var error);
        Check(error, "call");
        return result;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_handle == IntPtr.Zero, this);

    private static void Check(IntPtr error, string what)
    {
        if (error != IntPtr.Zero) throw new SiftException($"USearch could not {what}: {Marshal.PtrToStringUTF8(error)}");
    }

    private static ScalarKind ToNative(AnnScalar s) => s switch
    {
        AnnScalar.F32 => ScalarKind.Float32,
        AnnScalar.F16 => ScalarKind.Float16,
        AnnScalar.I8 => ScalarKind.Int8,
        _ => throw new ArgumentOutOfRangeException(nameof(s)),
    };

    private static AnnScalar FromNative(ScalarKind s) => s switch
    {
        ScalarKind.Float32 => AnnScalar.F32,
        ScalarKind.Float16 => AnnScalar.F16,
        ScalarKind.Int8 => AnnScalar.I8,
        _ => throw new SiftException($"the HNSW index stores {s} scalars, which Sift does not use; rebuild it with --ann-scalar f32, f16 or i8"),
    };

    // usearch_init_options_t (c/usearch.h); the C bool is one byte.
    [StructLayout(LayoutKind.Sequential)]
    private struct InitOptions
    {
        public MetricKind MetricKind;
        public IntPtr Metric;
        public ScalarKind Quantization;
        public ulong Dimensions;
        public ulong Connectivity;
        public ulong ExpansionAdd;
        public ulong ExpansionSearch;
        public byte Multi;
    }

#pragma warning disable SYSLIB1054 // DllImport keeps this file free of the LibraryImport source generator's unsafe setup
    [DllImport(Lib)] private static extern IntPtr usearch_version();
    [DllImport(Lib)] private static extern IntPtr usearch_init(ref InitOptions options, out IntPtr error);
    [DllImport(Lib)] private static extern void usearch_free(IntPtr index, out IntPtr error);
    [DllImport(Lib)] private static extern void usearch_metadata([MarshalAs(UnmanagedType.LPUTF8Str)] string path, ref InitOptions options, out IntPtr error);
    [DllImport(Lib)] private static extern void usearch_save(IntPtr index, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, out IntPtr error);
    [DllImport(Lib)] private static extern void usearch_load(IntPtr index, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, out IntPtr error);
    [DllImport(Lib)] private static extern void usearch_view(IntPtr index, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, out IntPtr error);
    [DllImport(Lib)] private static extern nuint usearch_size(IntPtr index, out IntPtr error);
    [DllImport(Lib)] private static extern nuint usearch_capacity(IntPtr index, out IntPtr error);
    [DllImport(Lib)] private static extern nuint usearch_connectivity(IntPtr index, out IntPtr error);
    [DllImport(Lib)] private static extern nuint usearch_expansion_add(IntPtr index, out IntPtr error);
    [DllImport(Lib)] private static extern nuint usearch_expansion_search(IntPtr index, out IntPtr error);
    [DllImport(Lib)] private static extern void usearch_change_expansion_search(IntPtr index, nuint expansion, out IntPtr error);
    [DllImport(Lib)] private static extern void usearch_change_threads_add(IntPtr index, nuint threads, out IntPtr error);
    [DllImport(Lib)] private static extern void usearch_change_threads_search(IntPtr index, nuint threads, out IntPtr error);
    [DllImport(Lib)] private static extern nuint usearch_memory_usage(IntPtr index, out IntPtr error);
    [DllImport(Lib)] private static extern nuint usearch_serialized_length(IntPtr index, out IntPtr error);
    [DllImport(Lib)] private static extern void usearch_reserve(IntPtr index, nuint capacity, out IntPtr error);
    [DllImport(Lib)] private static extern void usearch_add(IntPtr index, ulong key, IntPtr vector, ScalarKind kind, out IntPtr error);
    [DllImport(Lib)] [return: MarshalAs(UnmanagedType.U1)] private static extern bool usearch_contains(IntPtr index, ulong key, out IntPtr error);
    [DllImport(Lib)] private static extern nuint usearch_remove(IntPtr index, ulong key, out IntPtr error);
    [DllImport(Lib)] private static extern nuint usearch_search(IntPtr index, IntPtr query, ScalarKind kind, nuint count, IntPtr keys, IntPtr distances, out IntPtr error);
#pragma warning restore SYSLIB1054
}
