using System.Collections.Concurrent;

namespace Sift.Tokenizers.Models;

/// <summary>A model token: id and [Start, End) in the piece's UTF-16 text.</summary>
internal readonly record struct RawToken(int Id, int Start, int End);

internal interface IModel
{
    /// <summary>Appends the tokens of one pre-tokenized piece.</summary>
    void Tokenize(ReadOnlySpan<char> piece, List<RawToken> output);

    IReadOnlyDictionary<string, int> Vocab { get; }
}

/// <summary>A bounded, thread-safe piece -> tokens cache with a span-keyed lookup (no allocation on hits).</summary>
internal sealed class PieceCache
{
    // tokenizers caches up to 10,000 words per model; a piece longer than this is not worth caching.
    private const int Capacity = 10_000;
    private const int MaxKeyLength = 64;
    private readonly ConcurrentDictionary<string, RawToken[]> _map = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, RawToken[]>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public PieceCache() => _lookup = _map.GetAlternateLookup<ReadOnlySpan<char>>();

    public bool TryGet(ReadOnlySpan<char> piece, List<RawToken> output)
    {
        if (piece.Length > MaxKeyLength || !_lookup.TryGetValue(piece, out var toks)) return false;
        output.AddRange(toks);
        return true;
    }

    public void Add(ReadOnlySpan<char> piece, List<RawToken> output, int from)
    {
        // ConcurrentDictionary.Count takes every lock, so the size is tracked separately (it may overshoot by at most
        // the number of concurrent writers, which is harmless).
        if (piece.Length > MaxKeyLength || Volatile.Read(ref _count) >= Capacity) return;
        var toks = new RawToken[output.Count - from];
        for (int i = 0; i < toks.Length; i++) toks[i] = output[from + i];
        if (_map.TryAdd(piece.ToString(), toks)) Interlocked.Increment(ref _count);
    }

    private int _count;
}
