using Sift.Tokenizers.Text;

namespace Sift.Tokenizers.Models;

/// <summary>
/// tokenizers BPE (merge_word + Word::merge_all): one symbol per code point (with continuing_subword_prefix /
/// end_of_word_suffix when configured), unknown chars become unk (fused if fuse_unk) or byte-fallback pieces,
/// then merges are applied lowest rank first (ties: leftmost) via a priority queue. Dropout is ignored (inference).
/// </summary>
internal sealed class BpeModel : IModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly Dictionary<long, (int Rank, int NewId)> _merges;
    private readonly int _unkId;
    private readonly string? _prefix;
    private readonly string? _suffix;
    private readonly bool _fuseUnk;
    private readonly bool _byteFallback;
    private readonly bool _ignoreMerges;
    private readonly PieceCache _cache = new();

    public BpeModel(Dictionary<string, int> vocab, List<(string A, string B)> merges, string? unkToken, string? prefix,
        string? suffix, bool fuseUnk, bool byteFallback, bool ignoreMerges, string source)
    {
        _vocab = vocab;
        _lookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _prefix = string.IsNullOrEmpty(prefix) ? null : prefix;
        _suffix = string.IsNullOrEmpty(suffix) ? null : suffix;
        _fuseUnk = fuseUnk; _byteFallback = byteFallback; _ignoreMerges = ignoreMerges;
        _unkId = -1;
        if (unkToken != null && !vocab.TryGetValue(unkToken, out _unkId))
            _unkId = -2; // Rust raises UnkTokenOutOfVocabulary only when it is needed; we drop the char then.
        _merges = new Dictionary<long, (int, int)>(merges.Count);
        int prefixLen = _prefix?.Length ?? 0;
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (a, b) = merges[rank];
            if (!vocab.TryGetValue(a, out int ia) || !vocab.TryGetValue(b, out int ib))
                throw new TokenizerException($"{source}: BPE merge '{a} {b}' uses a token that is not in the vocabulary");
            string merged = a + (prefixLen > 0 && b.StartsWith(_prefix!, StringComparison.Ordinal) ? b[prefixLen..] : b);
            if (!vocab.TryGetValue(merged, out int id))
                throw new TokenizerException($"{source}: BPE merge '{a} {b}' produces '{merged}', which is not in the vocabulary");
            _merges.TryAdd(((long)ia << 32) | (uint)ib, (rank, id));
        }
    }

    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    private struct Symbol
    {
        public int Id, Start, Len, Prev, Next;
    }

    public void Tokenize(ReadOnlySpan<char> piece, List<RawToken> output)
    {
        if (piece.IsEmpty) return;
        if (_ignoreMerges && _lookup.TryGetValue(piece, out int whole))
        {
            output.Add(new RawToken(whole, 0, piece.Length));
            return;
        }
        if (_cache.TryGet(piece, output)) return;
        int from = output.Count;
        var symbols = new List<Symbol>(piece.Length);
        int unkStart = -1, unkLen = 0;
        int extra = (_prefix?.Length ?? 0) + (_suffix?.Length ?? 0);
        Span<char> buf = extra <= 56 ? stackalloc char[64] : new char[extra + 8];
        for (int i = 0; i < piece.Length;)
        {
            CharClass.ReadCodePoint(piece, i, out int len);
            bool first = i == 0, last = i + len == piece.Length;
            scoped ReadOnlySpan<char> ch = piece.Slice(i, len);
            int id;
            bool found;
            if ((!first && _prefix != null) || (last && _suffix != null))
            {
                var key = Compose(ch, !first ? _prefix : null, last ? _suffix : null, buf);
                found = _lookup.TryGetValue(key, out id);
                ch = key;
            }
            else found = _lookup.TryGetValue(ch, out id);
            if (found)
            {
                if (unkStart >= 0) { AddSymbol(symbols, _unkId, unkStart, unkLen); unkStart = -1; }
                AddSymbol(symbols, id, i, len);
            }
            else if (_byteFallback && TryBytes(ch, i, len, symbols))
            {
                // each byte is its own symbol, spanning the char
            }
            else if (_unkId >= 0)
            {
                if (unkStart >= 0 && _fuseUnk) unkLen += len;
                else
                {
                    if (unkStart >= 0) AddSymbol(symbols, _unkId, unkStart, unkLen);
                    unkStart = i; unkLen = len;
                }
            }
            i += len;
        }
        if (unkStart >= 0) AddSymbol(symbols, _unkId, unkStart, unkLen);
        MergeAll(symbols);
        foreach (var s in symbols)
        {
            if (s.Len > 0) output.Add(new RawToken(s.Id, s.Start, s.Start + s.Len));
        }
        _cache.Add(piece, output, from);
    }

    private static ReadOnlySpan<char> Compose(ReadOnlySpan<char> ch, string? prefix, string? suffix, Span<char> buf)
    {
        int n = 0;
        if (prefix != null) { prefix.AsSpan().CopyTo(buf); n += prefix.Length; }
        ch.CopyTo(buf[n..]); n += ch.Length;
        if (suffix != null) { suffix.AsSpan().CopyTo(buf[n..]); n += suffix.Length; }
        return buf[..n];
    }

    private bool TryBytes(ReadOnlySpan<char> s, int start, int len, List<Symbol> symbols)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(s.ToString());
        var ids = new int[bytes.Length];
        Span<char> name = stackalloc char[6];
        for (int k = 0; k < bytes.Length; k++)
        {
            "<0x".AsSpan().CopyTo(name);
            bytes[k].TryFormat(name[3..], out _, "X2", System.Globalization.CultureInfo.InvariantCulture);
            name[5] = '>';
            if (!_lookup.TryGetValue(name, out ids[k])) return false;
        }
        foreach (var id in ids) AddSymbol(symbols, id, start, len);
        return true;
    }

    private static void AddSymbol(List<Symbol> symbols, int id, int start, int len)
    {
        int idx = symbols.Count;
        symbols.Add(new Symbol { Id = id, Start = start, Len = len, Prev = idx - 1, Next = -1 });
        if (idx > 0)
        {
            var p = symbols[idx - 1];
            p.Next = idx;
            symbols[idx - 1] = p;
        }
    }

    private void MergeAll(List<Symbol> symbols)
    {
        if (symbols.Count < 2) return;
        var queue = new PriorityQueue<(int Pos, int NewId), (int Rank, int Pos)>();
        for (int i = 0; i + 1 < symbols.Count; i++)
        {
            if (_merges.TryGetValue(Key(symbols[i].Id, symbols[i + 1].Id), out var m)) queue.Enqueue((i, m.NewId), (m.Rank, i));
        }
        while (queue.TryDequeue(out var top, out _))
        {
            var cur = symbols[top.Pos];
            if (cur.Len == 0 || cur.Next == -1) continue;
            var right = symbols[cur.Next];
            // Skip stale entries: the pair at this position must still merge into the same token.
            if (!_merges.TryGetValue(Key(cur.Id, right.Id), out var mm) || mm.NewId != top.NewId) continue;
            int rightPos = cur.Next;
            cur.Id = top.NewId;
            cur.Len += right.Len;
            cur.Next = right.Next;
            symbols[top.Pos] = cur;
            var dead = symbols[rightPos];
            dead.Len = 0;
            symbols[rightPos] = dead;
            if (right.Next > -1 && right.Next < symbols.Count)
            {
                var nx = symbols[right.Next];
                nx.Prev = top.Pos;
                symbols[right.Next] = nx;
            }
            if (cur.Prev >= 0)
            {
                var prev = symbols[cur.Prev];
                if (_merges.TryGetValue(Key(prev.Id, cur.Id), out var pm)) queue.Enqueue((cur.Prev, pm.NewId), (pm.Rank, cur.Prev));
            }
            if (cur.Next >= 0 && cur.Next < symbols.Count)
            {
                var next = symbols[cur.Next];
                if (_merges.TryGetValue(Key(cur.Id, next.Id), out var nm)) queue.Enqueue((top.Pos, nm.NewId), (nm.Rank, top.Pos));
            }
        }
    }

    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;
}
