namespace Sift.Tokenizers.Text;

/// <summary>
/// A UTF-16 trie of vocabulary keys (node transitions in one hash table), for longest-prefix (WordPiece) and
/// common-prefix (Unigram Viterbi) searches in O(length) instead of hashing every substring.
/// </summary>
internal sealed class CharTrie
{
    private readonly Dictionary<long, int> _next = new();
    private readonly List<int> _value = new() { -1 };

    public int MaxDepth { get; private set; }

    public void Add(ReadOnlySpan<char> key, int value)
    {
        int node = 0;
        foreach (char c in key)
        {
            long k = ((long)node << 16) | c;
            if (!_next.TryGetValue(k, out int child))
            {
                child = _value.Count;
                _value.Add(-1);
                _next.Add(k, child);
            }
            node = child;
        }
        _value[node] = value;
        MaxDepth = Math.Max(MaxDepth, key.Length);
    }

    /// <summary>Follows <paramref name="c"/> from <paramref name="node"/>; returns -1 when there is no edge.</summary>
    public int Step(int node, char c) => _next.TryGetValue(((long)node << 16) | c, out int child) ? child : -1;

    public int ValueAt(int node) => _value[node];

    /// <summary>Length of the longest key that is a prefix of <paramref name="s"/> (0 if none), and its value.</summary>
    public int LongestPrefix(ReadOnlySpan<char> s, out int value)
    {
        int node = 0, best = 0;
        value = -1;
        for (int i = 0; i < s.Length; i++)
        {
            node = Step(node, s[i]);
            if (node < 0) break;
            int v = _value[node];
            if (v >= 0) { best = i + 1; value = v; }
        }
        return best;
    }
}
