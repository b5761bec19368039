using Sift.Tokenizers.Text;

namespace Sift.Tokenizers.PreTokenizers;

/// <summary>
/// tokenizers ByteLevel pre-tokenizer: optional prefix space, the GPT-2 split pattern
/// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c> (hand-coded over code points,
/// so supplementary-plane letters classify like in Rust), then every UTF-8 byte mapped to its GPT-2 printable char.
/// </summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : IPreTokenizer
{
    /// <summary>GPT-2 bytes_to_unicode table.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var assigned = new bool[256];
        for (int b = '!'; b <= '~'; b++) { map[b] = (char)b; assigned[b] = true; }
        for (int b = 0xA1; b <= 0xAC; b++) { map[b] = (char)b; assigned[b] = true; }
        for (int b = 0xAE; b <= 0xFF; b++) { map[b] = (char)b; assigned[b] = true; }
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            if (!assigned[b]) { map[b] = (char)(256 + n); n++; }
        }
        return map;
    }

    public void PreTokenize(List<NormalizedString> input, List<NormalizedString> output)
    {
        var pieces = new List<NormalizedString>();
        foreach (var original in input)
        {
            var ns = original;
            if (ns.IsEmpty) continue;
            if (addPrefixSpace && ns.Span[0] != ' ')
            {
                var b = new NsBuilder(ns.Length + 1);
                var (s, e) = ns.OriginalSpan(0, 1);
                b.Append(' ', s, e);
                b.AppendFrom(ns, 0, ns.Length);
                ns = b.Build(ns.OrigStart, ns.OrigEnd);
            }
            pieces.Clear();
            if (useRegex) SplitGpt2(ns, pieces); else pieces.Add(ns);
            foreach (var p in pieces) output.Add(ToBytes(p));
        }
    }

    private static NormalizedString ToBytes(NormalizedString p)
    {
        var span = p.Span;
        var b = new NsBuilder(span.Length * 2);
        Span<byte> bytes = stackalloc byte[4];
        for (int i = 0; i < span.Length;)
        {
            int cp = CharClass.ReadCodePoint(span, i, out int len);
            int s = p.Starts[p.Offset + i], e = p.Ends[p.Offset + i + len - 1];
            if (cp < 0x80) b.Append(ByteToChar[cp], s, e);
            else
            {
                int n = new System.Text.Rune(cp).EncodeToUtf8(bytes);
                for (int k = 0; k < n; k++) b.Append(ByteToChar[bytes[k]], s, e);
            }
            i += len;
        }
        return b.Build(p.OrigStart, p.OrigEnd);
    }

    private static int Kind(int cp) => CharClass.IsWhitespace(cp) ? 0 : CharClass.IsLetter(cp) ? 1 : CharClass.IsNumber(cp) ? 2 : 3;

    /// <summary>Leftmost-first evaluation of the GPT-2 alternatives at each position.</summary>
    private static void SplitGpt2(NormalizedString ns, List<NormalizedString> output)
    {
        var span = ns.Span;
        int n = span.Length;
        int i = 0;
        while (i < n)
        {
            int end = MatchAt(span, i);
            output.Add(ns.Slice(i, end - i));
            i = end;
        }
    }

    private static int MatchAt(ReadOnlySpan<char> s, int i)
    {
        int n = s.Length;
        // 's|'t|'re|'ve|'m|'ll|'d
        if (s[i] == '\'' && i + 1 < n)
        {
            char c1 = s[i + 1];
            if (c1 is 's' or 't' or 'm' or 'd') return i + 2;
            if (i + 2 < n)
            {
                char c2 = s[i + 2];
                if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return i + 3;
            }
        }
        int j = i;
        if (s[j] == ' ' && j + 1 < n) j++;
        int cp = CharClass.ReadCodePoint(s, j, out int len);
        int kind = Kind(cp);
        if (kind != 0 && (j == i || s[i] == ' '))
        {
            // ` ?X+` for X = letters, numbers or "other" (not space/letter/number): greedy run of the same kind.
            int k = j + len;
            while (k < n)
            {
                int c = CharClass.ReadCodePoint(s, k, out int l);
                if (Kind(c) != kind) break;
                k += l;
            }
            return k;
        }
        // Whitespace at i: \s+(?!\S) then \s+.
        cp = CharClass.ReadCodePoint(s, i, out len);
        if (Kind(cp) != 0)
        {
            // Only reachable for a lone ' ' at the end handled above; match the char alone.
            return i + len;
        }
        int end = i + len, lastStart = i;
        while (end < n)
        {
            int c = CharClass.ReadCodePoint(s, end, out int l);
            if (Kind(c) != 0) break;
            lastStart = end;
            end += l;
        }
        if (end == n) return end;
        // Followed by non-space: give back the last whitespace char if the run has more than one.
        return lastStart > i ? lastStart : end;
    }
}
