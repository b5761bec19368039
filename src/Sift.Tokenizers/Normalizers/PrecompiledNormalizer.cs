using System.Collections.Concurrent;
using System.Globalization;
using Sift.Tokenizers.Text;

namespace Sift.Tokenizers.Normalizers;

/// <summary>
/// tokenizers Precompiled (the `spm_precompiled` crate): SentencePiece's compiled char map, a darts-clone double-array
/// trie over UTF-8 followed by a NUL-separated blob of replacement strings. Applied exactly like Rust: per extended
/// grapheme cluster, the whole grapheme is looked up if it is shorter than 6 UTF-8 bytes; the FIRST (shortest) prefix
/// match in the trie replaces the whole grapheme. Otherwise each code point is looked up alone.
/// </summary>
internal sealed class PrecompiledNormalizer : INormalizer
{
    private readonly uint[] _trie;
    private readonly byte[] _normalized;
    private readonly ConcurrentDictionary<int, string> _replacements = new();
    /// <summary>Transform of each ASCII char on its own (null: unchanged), precomputed for the fast path.</summary>
    private readonly string?[] _ascii = new string?[128];

    public PrecompiledNormalizer(byte[] charsmap, string source)
    {
        if (charsmap.Length < 4) throw new TokenizerException($"{source}: Precompiled precompiled_charsmap is too short");
        uint trieBytes = BitConverter.ToUInt32(charsmap, 0);
        if (trieBytes > charsmap.Length - 4 || trieBytes % 4 != 0)
            throw new TokenizerException($"{source}: Precompiled precompiled_charsmap has an invalid trie size {trieBytes}");
        _trie = new uint[trieBytes / 4];
        for (int i = 0; i < _trie.Length; i++) _trie[i] = BitConverter.ToUInt32(charsmap, 4 + i * 4);
        _normalized = charsmap.AsSpan(4 + (int)trieBytes).ToArray();
        if (_trie.Length == 0) throw new TokenizerException($"{source}: Precompiled precompiled_charsmap has an empty trie");
        for (int c = 0; c < 128; c++)
        {
            char ch = (char)c;
            _ascii[c] = Transform(new ReadOnlySpan<char>(in ch));
        }
    }

    private static int Offset(uint unit) => (int)((unit >> 10) << (int)((unit & (1u << 9)) >> 6));
    private static bool HasLeaf(uint unit) => ((unit >> 8) & 1) == 1;
    private static int Value(uint unit) => (int)(unit & ((1u << 31) - 1));
    private static uint Label(uint unit) => unit & ((1u << 31) | 0xFF);

    /// <summary>darts-clone common_prefix_search, returning only the first (shortest) hit, as spm_precompiled uses results[0].</summary>
    private int FirstPrefixMatch(ReadOnlySpan<byte> key)
    {
        int pos = 0;
        uint unit = _trie[0];
        pos ^= Offset(unit);
        foreach (byte c in key)
        {
            if (c == 0) break;
            pos ^= c;
            if ((uint)pos >= (uint)_trie.Length) return -1;
            unit = _trie[pos];
            if (Label(unit) != c) return -1;
            pos ^= Offset(unit);
            if (HasLeaf(unit))
            {
                if ((uint)pos >= (uint)_trie.Length) return -1;
                return Value(_trie[pos]);
            }
        }
        return -1;
    }

    private string? Transform(ReadOnlySpan<char> chunk)
    {
        Span<byte> buf = stackalloc byte[64];
        int n;
        if (!System.Text.Encoding.UTF8.TryGetBytes(chunk, buf, out n)) return null;
        int index = FirstPrefixMatch(buf[..n]);
        if (index < 0 || index >= _normalized.Length) return null;
        return _replacements.GetOrAdd(index, static (i, blob) =>
        {
            int end = Array.IndexOf(blob, (byte)0, i);
            if (end < 0) end = blob.Length;
            return System.Text.Encoding.UTF8.GetString(blob, i, end - i);
        }, _normalized);
    }

    public NormalizedString Normalize(NormalizedString input)
    {
        var span = input.Span;
        var b = new NsBuilder(span.Length + 8);
        bool modified = false;
        for (int g = 0; g < span.Length;)
        {
            char ch = span[g];
            // An ASCII char followed by ASCII (or the end) is a grapheme of its own (UAX #29: no ASCII char extends
            // a cluster), except CR LF; both passes below then reduce to the precomputed single-char transform.
            if (ch < 0x80 && (g + 1 == span.Length || (span[g + 1] < 0x80 && !(ch == '\r' && span[g + 1] == '\n'))))
            {
                var m = _ascii[ch];
                if (m != null)
                {
                    modified = true;
                    var (os, oe) = input.OriginalSpan(g, g + 1);
                    b.AppendString(m, os, oe);
                }
                else b.Append(ch, input.Starts[input.Offset + g], input.Ends[input.Offset + g]);
                g++;
                continue;
            }
            int glen = StringInfo.GetNextTextElementLength(span[g..]);
            if (glen <= 0) glen = 1;
            var grapheme = span.Slice(g, glen);
            int utf8 = 0;
            for (int i = 0; i < glen;)
            {
                int cp = CharClass.ReadCodePoint(grapheme, i, out int l);
                utf8 += CharClass.Utf8Length(cp);
                i += l;
                if (utf8 >= 6) break;
            }
            if (utf8 < 6)
            {
                var norm = Transform(grapheme);
                if (norm != null)
                {
                    modified = true;
                    var (os, oe) = input.OriginalSpan(g, g + glen);
                    b.AppendString(norm, os, oe);
                    g += glen;
                    continue;
                }
            }
            for (int i = 0; i < glen;)
            {
                CharClass.ReadCodePoint(grapheme, i, out int l);
                var norm = Transform(grapheme.Slice(i, l));
                if (norm != null)
                {
                    modified = true;
                    var (os, oe) = input.OriginalSpan(g + i, g + i + l);
                    b.AppendString(norm, os, oe);
                }
                else
                {
                    b.AppendFrom(input, g + i, l);
                }
                i += l;
            }
            g += glen;
        }
        return modified ? b.Build(input.OrigStart, input.OrigEnd) : input;
    }
}
