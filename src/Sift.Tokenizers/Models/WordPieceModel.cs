using Sift.Tokenizers.Text;

namespace Sift.Tokenizers.Models;

/// <summary>
/// tokenizers WordPiece: greedy longest-match-first; later pieces carry the continuing_subword_prefix; a word
/// longer than max_input_chars_per_word (code points) or with any unmatchable rest becomes a single unk.
/// Longest-prefix search uses tries (one for word starts, one for continuation pieces without the prefix),
/// which gives the same result as Rust's shrink-from-the-right loop.
/// </summary>
internal sealed class WordPieceModel : IModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly CharTrie _start = new();
    private readonly CharTrie _continuation = new();
    private readonly int _unkId;
    private readonly int _maxInputChars;
    private readonly PieceCache _cache = new();
    private readonly Dictionary<string, int> _byKey;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public WordPieceModel(Dictionary<string, int> vocab, string unkToken, string prefix, int maxInputChars, string source)
    {
        _vocab = vocab;
        _byKey = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        _lookup = _byKey.GetAlternateLookup<ReadOnlySpan<char>>();
        if (!vocab.TryGetValue(unkToken, out _unkId))
            throw new TokenizerException($"{source}: WordPiece unk_token '{unkToken}' is not in the vocabulary");
        _maxInputChars = maxInputChars;
        foreach (var (token, id) in vocab)
        {
            _start.Add(token, id);
            if (prefix.Length > 0 && token.StartsWith(prefix, StringComparison.Ordinal) && token.Length > prefix.Length)
                _continuation.Add(token.AsSpan(prefix.Length), id);
            else if (prefix.Length == 0)
                _continuation.Add(token, id);
        }
    }

    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    public void Tokenize(ReadOnlySpan<char> piece, List<RawToken> output)
    {
        if (piece.IsEmpty) return;
        // A piece that is itself a vocabulary key is its own longest prefix: one token (most words and all
        // punctuation). The length test keeps the max_input_chars_per_word rule (code points <= UTF-16 units).
        if (piece.Length <= _maxInputChars && _lookup.TryGetValue(piece, out int whole) && whole >= 0)
        {
            output.Add(new RawToken(whole, 0, piece.Length));
            return;
        }
        if (_cache.TryGet(piece, output)) return;
        int from = output.Count;
        if (CharClass.CountCodePoints(piece) > _maxInputChars)
        {
            output.Add(new RawToken(_unkId, 0, piece.Length));
            return;
        }
        int start = 0;
        while (start < piece.Length)
        {
            var trie = start == 0 ? _start : _continuation;
            int len = trie.LongestPrefix(piece[start..], out int id);
            // Never end inside a surrogate pair (vocab keys are valid UTF-8, so this is defensive).
            if (len == 0 || (start + len < piece.Length && char.IsLowSurrogate(piece[start + len])))
            {
                output.RemoveRange(from, output.Count - from);
                output.Add(new RawToken(_unkId, 0, piece.Length));
                _cache.Add(piece, output, from);
                return;
            }
            output.Add(new RawToken(id, start, start + len));
            start += len;
        }
        _cache.Add(piece, output, from);
    }
}
