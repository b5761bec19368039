using System.Security.Cryptography;
using System.Text;

namespace Sift.Retrieval;

/// <summary>
/// An append-only record of the vectors an unfinished <see cref="SiftIndex.AddAsync"/> has computed, so that embedding a
/// corpus (the slow step of indexing) resumes where a killed or cancelled run stopped instead of starting over. The
/// index itself stays all-or-nothing: nothing reaches Lucene or the vector store before the final commit, and the
/// journal is deleted once that commit is on disk.
/// <para>Layout: "SFTJ1", int32 dimension, int32 byte length + UTF-8 model name; then records of a 16-byte key
/// (sha256 of the embedded text) and the vector. A torn last record (the process died mid-write) is ignored.</para>
/// </summary>
internal sealed class EmbeddingJournal : IDisposable
{
    private static readonly byte[] Magic = "SFTJ1"u8.ToArray();
    private readonly Dictionary<UInt128, float[]> _known;
    private FileStream? _append;
    private readonly string _path;
    private readonly string _model;

    private EmbeddingJournal(string path, string model, Dictionary<UInt128, float[]> known, int? dimension)
    {
        _path = path;
        _model = model;
        _known = known;
        Dimension = dimension;
    }

    /// <summary>Vectors carried over from an earlier, unfinished run.</summary>
    public int Recovered { get; private init; }

    public int? Dimension { get; private set; }

    /// <summary>Opens the journal at <paramref name="path"/>; one written for another model is discarded.</summary>
    public static EmbeddingJournal Open(string path, string model)
    {
        var known = new Dictionary<UInt128, float[]>();
        int? dim = null;
        if (File.Exists(path))
        {
            try
            {
                using var fs = File.OpenRead(path);
                using var r = new BinaryReader(fs);
                if (r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
                {
                    var d = r.ReadInt32();
                    var name = Encoding.UTF8.GetString(r.ReadBytes(r.ReadInt32()));
                    if (name == model && d is > 0 and < 1 << 16)
                    {
                        dim = d;
                        var record = 16 + 4 * d;
                        var buffer = new byte[record];
                        while (fs.Read(buffer, 0, record) == record)
                        {
                            var key = new UInt128(BitConverter.ToUInt64(buffer, 8), BitConverter.ToUInt64(buffer, 0));
                            known[key] = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(buffer.AsSpan(16)).ToArray();
                        }
                    }
                }
            }
            catch (EndOfStreamException)
            {
                // A header torn by a kill: start afresh.
            }
            if (dim is null)
            {
                known.Clear();
                File.Delete(path);
            }
        }
        return new EmbeddingJournal(path, model, known, dim) { Recovered = known.Count };
    }

    public static UInt128 Key(string text)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(text), hash);
        return new UInt128(BitConverter.ToUInt64(hash[8..16]), BitConverter.ToUInt64(hash[..8]));
    }

    public bool TryGet(UInt128 key, out float[] vector) => _known.TryGetValue(key, out vector!);

    /// <summary>Appends vectors and flushes them to the file, so a kill after this call loses none of them.</summary>
    public void Append(IReadOnlyList<UInt128> keys, IReadOnlyList<ReadOnlyMemory<float>> vectors)
    {
        if (keys.Count == 0) return;
        if (_append is null)
        {
            var fresh = !File.Exists(_path);
            _append = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read);
            if (fresh || _append.Length == 0)
            {
                Dimension ??= vectors[0].Length;
                using var w = new BinaryWriter(_append, Encoding.UTF8, leaveOpen: true);
                w.Write(Magic);
                w.Write(Dimension.Value);
                var name = Encoding.UTF8.GetBytes(_model);
                w.Write(name.Length);
                w.Write(name);
            }
        }
        var record = new byte[16 + 4 * vectors[0].Length];
        for (var i = 0; i < keys.Count; i++)
        {
            if (vectors[i].Length != Dimension) throw new InvalidOperationException($"the embedder returned {vectors[i].Length} dimensions after {Dimension}");
            BitConverter.TryWriteBytes(record.AsSpan(0, 8), (ulong)keys[i]);
            BitConverter.TryWriteBytes(record.AsSpan(8, 8), (ulong)(keys[i] >> 64));
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(vectors[i].Span).CopyTo(record.AsSpan(16));
            _append.Write(record);
        }
        _append.Flush(flushToDisk: false);
    }

    /// <summary>The add committed: the journal has served its purpose.</summary>
    public void Complete()
    {
        Dispose();
        if (File.Exists(_path)) File.Delete(_path);
    }

    public void Dispose()
    {
        _append?.Dispose();
        _append = null;
    }
}
