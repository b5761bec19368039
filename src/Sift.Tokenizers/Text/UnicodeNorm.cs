using System.Globalization;
using System.Text;

namespace Sift.Tokenizers.Text;

/// <summary>
/// Unicode NFC/NFD/NFKC/NFKD with per-character alignment tracking. Hand-written because the apps run with
/// InvariantGlobalization=true, where <see cref="string.Normalize()"/> leaves non-ASCII text unchanged.
/// Tables: Text/UnicodeNormalization.data (generated from Python's unicodedata by gen_unicode_tables.py).
/// </summary>
internal static class UnicodeNorm
{
    private sealed class Tables
    {
        public readonly Dictionary<int, int[]> Canonical = new();
        public readonly Dictionary<int, int[]> Compat = new();
        public readonly Dictionary<int, byte> Ccc = new();
        public readonly Dictionary<long, int> Compose = new();
    }

    private static readonly Lazy<Tables> Data = new(Load);

    private static Tables Load()
    {
        var t = new Tables();
        using var stream = typeof(UnicodeNorm).Assembly.GetManifestResourceStream("Sift.Tokenizers.UnicodeNormalization.data")
            ?? throw new TokenizerException("Sift.Tokenizers: embedded Unicode normalization tables are missing");
        using var reader = new StreamReader(stream, System.Text.Encoding.ASCII);
        string? line;
        while ((line = reader.ReadLine()) != null)
        {
            if (line.Length < 3) continue;
            var parts = line.Split(' ');
            int cp = int.Parse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            switch (line[0])
            {
                case 'D':
                case 'K':
                    var seq = new int[parts.Length - 2];
                    for (int i = 0; i < seq.Length; i++) seq[i] = int.Parse(parts[i + 2], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    (line[0] == 'D' ? t.Canonical : t.Compat)[cp] = seq;
                    break;
                case 'C':
                    t.Ccc[cp] = byte.Parse(parts[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    break;
                case 'P':
                    int b = int.Parse(parts[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    int c = int.Parse(parts[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    t.Compose[((long)cp << 21) | (uint)b] = c;
                    break;
            }
        }
        return t;
    }

    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7, LCount = 19, VCount = 21, TCount = 28;
    private const int NCount = VCount * TCount, SCount = LCount * NCount;

    public static int CombiningClass(int cp) => cp < 0x300 ? 0 : Data.Value.Ccc.TryGetValue(cp, out var c) ? c : 0;

    /// <summary>Normalizes <paramref name="input"/>; each output char carries the span of the char(s) it came from.</summary>
    public static NormalizedString Normalize(NormalizedString input, bool compat, bool compose)
    {
        var span = input.Span;
        if (Ascii.IsValid(span)) return input; // ASCII is invariant under all four forms
        var t = Data.Value;
        int n = span.Length;
        var cps = new List<int>(n + 8);
        var ss = new List<int>(n + 8);
        var es = new List<int>(n + 8);
        for (int i = 0; i < n;)
        {
            int cp = CharClass.ReadCodePoint(span, i, out int len);
            int s = input.Starts[input.Offset + i], e = input.Ends[input.Offset + i + len - 1];
            i += len;
            if (cp >= SBase && cp < SBase + SCount)
            {
                int si = cp - SBase;
                cps.Add(LBase + si / NCount); ss.Add(s); es.Add(e);
                cps.Add(VBase + (si % NCount) / TCount); ss.Add(s); es.Add(e);
                if (si % TCount != 0) { cps.Add(TBase + si % TCount); ss.Add(s); es.Add(e); }
                continue;
            }
            if (cp >= 0xA0 && ((compat && t.Compat.TryGetValue(cp, out var d)) || t.Canonical.TryGetValue(cp, out d)))
            {
                foreach (var x in d) { cps.Add(x); ss.Add(s); es.Add(e); }
                continue;
            }
            cps.Add(cp); ss.Add(s); es.Add(e);
        }
        // Canonical ordering: stable sort of each run of non-starters by combining class.
        for (int i = 1; i < cps.Count; i++)
        {
            int cc = CombiningClass(cps[i]);
            if (cc == 0) continue;
            int j = i;
            while (j > 0)
            {
                int pc = CombiningClass(cps[j - 1]);
                if (pc <= cc) break;
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
                (ss[j - 1], ss[j]) = (ss[j], ss[j - 1]);
                (es[j - 1], es[j]) = (es[j], es[j - 1]);
                j--;
            }
        }
        int count = cps.Count;
        if (compose && count > 0)
        {
            int w = 0, starter = -1, lastCc = -1;
            for (int r = 0; r < count; r++)
            {
                int c = cps[r];
                int cc = CombiningClass(c);
                if (starter >= 0)
                {
                    bool adjacent = w - 1 == starter;
                    if ((adjacent || (lastCc != 0 && lastCc < cc)) && TryCompose(t, cps[starter], c, out int composite))
                    {
                        cps[starter] = composite;
                        ss[starter] = Math.Min(ss[starter], ss[r]);
                        es[starter] = Math.Max(es[starter], es[r]);
                        continue;
                    }
                }
                if (cc == 0) starter = w;
                lastCc = cc;
                cps[w] = c; ss[w] = ss[r]; es[w] = es[r]; w++;
            }
            count = w;
        }
        var b = new NsBuilder(count + 4);
        for (int i = 0; i < count; i++) b.AppendCodePoint(cps[i], ss[i], es[i]);
        return b.Build(input.OrigStart, input.OrigEnd);
    }

    private static bool TryCompose(Tables t, int a, int b, out int composite)
    {
        if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
        {
            composite = SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
            return true;
        }
        if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
        {
            composite = a + (b - TBase);
            return true;
        }
        return t.Compose.TryGetValue(((long)a << 21) | (uint)b, out composite);
    }
}
