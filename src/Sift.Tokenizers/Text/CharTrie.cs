using System.Runtime.CompilerServices;

namespace Sift.Tokenizers.Text;

/// <summary>
/// A UTF-16 trie of vocabulary keys (node transitions in one hash table), for longest-prefix (WordPiece) and
/// common-prefix (Unigram Viterbi) searches in O(length) instead of hashing every substring.
/// The transition table is a flat open-addressing (linear probing) array of (node, char) keys: one multiply and
/// usually one probe per step, much cheaper than a <see cref="Dictionary{TKey,TValue}"/> lookup. It is only
/// written while the model is built; lookups after that are read-only and thread-safe.
/// </summary>
internal sealed class CharTrie
{
    private const long Empty = -1;
    private long[] _keys = NewKeys(1024);
    private int[] _children = new int[1024];
    private int _mask = 1023;
    private int _count;
    private int[] _value = [-1];
    private int _nodes = 1;

    public int MaxDepth { get; private set; }

    private static long[] NewKeys(int n)
    {
        var k = new long[n];
        k.AsSpan().Fill(Empty);
        return k;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Hash(long key, int mask) => (int)((ulong)(key * unchecked((long)0x9E3779B97F4A7C15UL)) >> 32) & mask;

    public void Add(ReadOnlySpan<char> key, int value)
    {
        int node = 0;
        foreach (char c in key)
        {
            int child = Step(node, c);
            if (child < 0)
            {
                child = _nodes++;
                if (child == _value.Length)
                {
                    int old = _value.Length;
                    Array.Resize(ref _value, old * 2);
                    _value.AsSpan(old).Fill(-1);
                }
                Insert(((long)node << 16) | c, child);
            }
            node = child;
        }
        _value[node] = value;
        MaxDepth = Math.Max(MaxDepth, key.Length);
    }

    private void Insert(long key, int child)
    {
        if ((_count + 1) * 2 > _keys.Length) Resize();
        int i = Hash(key, _mask);
        while (_keys[i] != Empty) i = (i + 1) & _mask;
        _keys[i] = key;
        _children[i] = child;
        _count++;
    }

    private void Resize()
    {
        var oldKeys = _keys;
        var oldChildren = _children;
        _keys = NewKeys(oldKeys.Length * 2);
        _children = new int[oldKeys.Length * 2];
        _mask = _keys.Length - 1;
        for (int j = 0; j < oldKeys.Length; j++)
        {
            if (oldKeys[j] == Empty) continue;
            int i = Hash(oldKeys[j], _mask);
            while (_keys[i] != Empty) i = (i + 1) & _mask;
            _keys[i] = oldKeys[j];
            _children[i] = oldChildren[j];
        }
    }

    /// <summary>Follows <paramref name="c"/> from <paramref name="node"/>; returns -1 when there is no edge.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Step(int node, char c)
    {
        long key = ((long)node << 16) | c;
        var keys = _keys;
        int mask = _mask;
        int i = Hash(key, mask);
        while (true)
        {
            long k = keys[i];
            if (k == key) return _children[i];
            if (k == Empty) return -1;
            i = (i + 1) & mask;
        }
    }

    public int ValueAt(int node) => _value[node];

    /// <summary>Length of the longest key that is a prefix of <paramref name="s"/> (0 if none), and its value.</summary>
    public int LongestPrefix(ReadOnlySpan<char> s, out int value)
    {
        int node = 0, best = 0;
        value = -1;
        var values = _value;
        for (int i = 0; i < s.Length; i++)
        {
            node = Step(node, s[i]);
            if (node < 0) break;
            int v = values[node];
            if (v >= 0) { best = i + 1; value = v; }
        }
        return best;
    }
}
