using Sift.Tokenizers.Text;

namespace Sift.Tokenizers.Models;

/// <summary>
/// tokenizers Unigram (encode_optimized): Viterbi over the piece with vocab log-probabilities (f64, summed in the
/// same order as Rust so ties break identically); a position no piece covers gets unk with score min_score - 10;
/// consecutive unks are fused (fuse_unk defaults to true); byte_fallback emits &lt;0xXX&gt; pieces for unknown strings.
/// </summary>
internal sealed class UnigramModel : IModel
{
    private const double UnkPenalty = 10.0;
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly double[] _scores;
    private readonly CharTrie _trie = new();
    private readonly int _unkId;
    private readonly bool _byteFallback;
    private readonly bool _fuseUnk;
    private readonly double _minScore;
    private readonly PieceCache _cache = new();

    public UnigramModel(List<(string Piece, double Score)> pieces, int? unkId, bool byteFallback, string source)
    {
        _vocab = new Dictionary<string, int>(pieces.Count, StringComparer.Ordinal);
        _scores = new double[pieces.Count];
        _minScore = double.MaxValue;
        for (int i = 0; i < pieces.Count; i++)
        {
            var (p, s) = pieces[i];
            _vocab[p] = i; // like Rust's HashMap insert, a later duplicate wins
            _scores[i] = s;
            if (s < _minScore) _minScore = s;
        }
        foreach (var (p, id) in _vocab) if (p.Length > 0) _trie.Add(p, id);
        _lookup = _vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        if (unkId is int u && (u < 0 || u >= pieces.Count))
            throw new TokenizerException($"{source}: Unigram unk_id {u} is outside the vocabulary (size {pieces.Count})");
        _unkId = unkId ?? -1;
        _byteFallback = byteFallback;
        _fuseUnk = true;
    }

    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    public void Tokenize(ReadOnlySpan<char> piece, List<RawToken> output)
    {
        if (piece.IsEmpty) return;
        if (_cache.TryGet(piece, output)) return;
        int from = output.Count;
        int n = piece.Length;
        // Lattice arrays on the stack for ordinary pieces (stackalloc is zero-initialized, like new[]).
        const int StackLimit = 128;
        Span<double> bestScore = n < StackLimit ? stackalloc double[StackLimit].Slice(0, n + 1) : new double[n + 1];
        Span<int> startsAt = n < StackLimit ? stackalloc int[StackLimit].Slice(0, n + 1) : new int[n + 1];
        Span<int> ids = n < StackLimit ? stackalloc int[StackLimit].Slice(0, n + 1) : new int[n + 1];
        startsAt.Fill(-1);
        double unkScore = _minScore - UnkPenalty;
        int pos = 0;
        while (pos < n)
        {
            double till = bestScore[pos];
            CharClass.ReadCodePoint(piece, pos, out int mblen);
            bool hasSingle = false;
            int node = 0;
            for (int k = pos; k < n; k++)
            {
                node = _trie.Step(node, piece[k]);
                if (node < 0) break;
                int id = _trie.ValueAt(node);
                if (id < 0) continue;
                int keyPos = k + 1;
                double cand = _scores[id] + till;
                if (startsAt[keyPos] < 0 || cand > bestScore[keyPos])
                {
                    bestScore[keyPos] = cand; startsAt[keyPos] = pos; ids[keyPos] = id;
                }
                if (keyPos - pos == mblen) hasSingle = true;
            }
            if (!hasSingle)
            {
                int keyPos = pos + mblen;
                double cand = unkScore + till;
                if (startsAt[keyPos] < 0 || cand > bestScore[keyPos])
                {
                    bestScore[keyPos] = cand; startsAt[keyPos] = pos; ids[keyPos] = _unkId;
                }
            }
            pos += mblen;
        }
        // Backtrack, fusing runs of unk into one token.
        var rev = new List<(int Start, int End, bool Unk)>();
        int end = n;
        while (end > 0)
        {
            int s = startsAt[end];
            if (s < 0) { s = 0; } // unreachable for a well-formed lattice; keeps the loop finite
            bool unk = _unkId >= 0 ? ids[end] == _unkId : ids[end] < 0;
            if (_fuseUnk && unk && rev.Count > 0 && rev[^1].Unk) rev[^1] = (s, rev[^1].End, true);
            else rev.Add((s, end, unk));
            end = s;
        }
        for (int i = rev.Count - 1; i >= 0; i--)
        {
            var (s, e, _) = rev[i];
            var str = piece[s..e];
            if (_lookup.TryGetValue(str, out int id)) { output.Add(new RawToken(id, s, e)); continue; }
            if (_byteFallback && TryByteFallback(str, s, e, output)) continue;
            if (_unkId >= 0) output.Add(new RawToken(_unkId, s, e));
            // Rust errors (MissingUnkId) here; we drop the text instead of throwing on user input.
        }
        _cache.Add(piece, output, from);
    }

    private bool TryByteFallback(ReadOnlySpan<char> str, int s, int e, List<RawToken> output)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(str.ToString());
        var ids = new int[bytes.Length];
        Span<char> name = stackalloc char[6];
        for (int i = 0; i < bytes.Length; i++)
        {
            "<0x".AsSpan().CopyTo(name);
            bytes[i].TryFormat(name[3..], out _, "X2", System.Globalization.CultureInfo.InvariantCulture);
            name[5] = '>';
            if (!_lookup.TryGetValue(name, out ids[i])) return false;
        }
        foreach (var id in ids) output.Add(new RawToken(id, s, e));
        return true;
    }
}
