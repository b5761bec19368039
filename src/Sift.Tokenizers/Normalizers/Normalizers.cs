using System.Text;
using System.Text.RegularExpressions;
using Sift.Tokenizers.Text;

namespace Sift.Tokenizers.Normalizers;

internal interface INormalizer
{
    NormalizedString Normalize(NormalizedString input);
}

/// <summary>Shared per-code-point map/filter pass (Rust NormalizedString::map / filter).</summary>
internal static class NormalizerOps
{
    /// <summary>Maps each code point to 0..n code points via <paramref name="map"/> (returns false to keep it unchanged).</summary>
    public static NormalizedString MapCodePoints(NormalizedString input, Func<int, NsBuilder, int, int, bool> map)
    {
        var span = input.Span;
        var b = new NsBuilder(span.Length + 8);
        for (int i = 0; i < span.Length;)
        {
            int cp = CharClass.ReadCodePoint(span, i, out int len);
            int s = input.Starts[input.Offset + i], e = input.Ends[input.Offset + i + len - 1];
            if (!map(cp, b, s, e))
            {
                if (len == 1 && !char.IsSurrogate(span[i])) b.Append(span[i], s, e);
                else b.AppendCodePoint(cp, s, e);
            }
            i += len;
        }
        return b.Build(input.OrigStart, input.OrigEnd);
    }

    /// <summary>Rust <c>char::to_lowercase</c> (full mapping: U+0130 becomes "i\u0307").</summary>
    public static void AppendLower(int cp, NsBuilder b, int s, int e)
    {
        if (cp < 0x80)
        {
            b.Append((char)(cp is >= 'A' and <= 'Z' ? cp + 32 : cp), s, e);
        }
        else if (cp == 0x130)
        {
            b.Append('i', s, e); b.Append('\u0307', s, e);
        }
        else if (cp < 0x10000)
        {
            b.Append(char.ToLowerInvariant((char)cp), s, e);
        }
        else
        {
            b.AppendCodePoint(Rune.ToLowerInvariant(new Rune(cp)).Value, s, e);
        }
    }

    public static NormalizedString Lowercase(NormalizedString input) =>
        MapCodePoints(input, static (cp, b, s, e) => { AppendLower(cp, b, s, e); return true; });

    public static NormalizedString StripNonSpacingMarks(NormalizedString input) =>
        MapCodePoints(input, static (cp, _, _, _) => CharClass.IsMarkNonSpacing(cp));
}

/// <summary>tokenizers BertNormalizer: clean_text, handle_chinese_chars, strip_accents (NFD + drop Mn), lowercase.</summary>
/// <remarks>
/// Fast path: printable ASCII and \t \n \r are mapped directly (clean_text maps \t \n \r to ' ', NFD and accent
/// stripping leave ASCII unchanged, lowercase is arithmetic); input made only of those is mapped with vectorized span
/// operations and keeps its alignment arrays. Each maximal run of other chars goes through the
/// general four-step pipeline. This is exact because every fast-path char is a starter (combining class 0) that no
/// step removes, so NFD's canonical reordering never crosses one, and the other steps are per code point.
/// </remarks>
internal sealed class BertNormalizer(bool cleanText, bool handleChineseChars, bool stripAccents, bool lowercase) : INormalizer
{
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static bool IsFast(char c) => (uint)(c - 0x20) < 0x5F || c is '\t' or '\n' or '\r';

    private static readonly System.Buffers.SearchValues<char> FastChars = System.Buffers.SearchValues.Create(
        "\t\n\r !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~");
    private static readonly System.Buffers.SearchValues<char> UpperOrTabs = System.Buffers.SearchValues.Create("\t\n\rABCDEFGHIJKLMNOPQRSTUVWXYZ");
    private static readonly System.Buffers.SearchValues<char> Upper = System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    private static readonly System.Buffers.SearchValues<char> Tabs = System.Buffers.SearchValues.Create("\t\n\r");

    public NormalizedString Normalize(NormalizedString input)
    {
        var span = input.Span;
        int firstSlow = span.IndexOfAnyExcept(FastChars);
        if (firstSlow < 0)
        {
            // Only fast chars (vectorized): nothing to do, or a 1:1 char map whose alignments are unchanged and shared.
            var changes = cleanText ? (lowercase ? UpperOrTabs : Tabs) : lowercase ? Upper : null;
            if (changes is null || span.IndexOfAny(changes) < 0) return input;
            var buf = new char[input.Offset + span.Length];
            var dst = buf.AsSpan(input.Offset, span.Length);
            if (lowercase) System.Text.Ascii.ToLower(span, dst, out _);
            else span.CopyTo(dst);
            if (cleanText)
            {
                dst.Replace('\t', ' ');
                dst.Replace('\n', ' ');
                dst.Replace('\r', ' ');
            }
            return new NormalizedString(buf, input.Starts, input.Ends, input.Offset, span.Length, input.OrigStart, input.OrigEnd);
        }
        int i = 0;
        var b = new NsBuilder(span.Length + 8);
        var starts = input.Starts;
        var ends = input.Ends;
        int off = input.Offset;
        while (i < span.Length)
        {
            char c = span[i];
            if (IsFast(c))
            {
                b.Append(MapFast(c), starts[off + i], ends[off + i]);
                i++;
                continue;
            }
            int j = i + 1;
            while (j < span.Length && !IsFast(span[j])) j++;
            var run = Slow(input.Slice(i, j - i));
            b.AppendFrom(run, 0, run.Length);
            i = j;
        }
        return b.Build(input.OrigStart, input.OrigEnd);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private char MapFast(char c)
    {
        if (cleanText && c is '\t' or '\n' or '\r') return ' ';
        if (lowercase && (uint)(c - 'A') <= 'Z' - 'A') return (char)(c + 32);
        return c;
    }

    /// <summary>The general pipeline (used for runs of non-ASCII or control chars; tests compare it with the whole).</summary>
    internal NormalizedString Slow(NormalizedString input)
    {
        var n = input;
        if (cleanText || handleChineseChars)
        {
            n = NormalizerOps.MapCodePoints(n, (cp, b, s, e) =>
            {
                if (cleanText)
                {
                    // Remove NUL, U+FFFD and "other" (Cc/Cf/Cn/Co/Cs) except \t \n \r; any whitespace becomes ' '.
                    if (cp == 0 || cp == 0xFFFD || (cp != '\t' && cp != '\n' && cp != '\r' && CharClass.IsOther(cp))) return true;
                    if (CharClass.IsWhitespace(cp)) { b.Append(' ', s, e); return true; }
                }
                if (handleChineseChars && cp >= 0x3400 && CharClass.IsChineseChar(cp))
                {
                    b.Append(' ', s, e); b.AppendCodePoint(cp, s, e); b.Append(' ', s, e);
                    return true;
                }
                return false;
            });
        }
        if (stripAccents)
        {
            n = UnicodeNorm.Normalize(n, compat: false, compose: false);
            n = NormalizerOps.StripNonSpacingMarks(n);
        }
        if (lowercase) n = NormalizerOps.Lowercase(n);
        return n;
    }
}

internal sealed class LowercaseNormalizer : INormalizer
{
    public NormalizedString Normalize(NormalizedString input) => NormalizerOps.Lowercase(input);
}

internal sealed class UnicodeNormalizer(bool compat, bool compose) : INormalizer
{
    public NormalizedString Normalize(NormalizedString input) => UnicodeNorm.Normalize(input, compat, compose);
}

/// <summary>tokenizers StripAccents: removes non-spacing marks (callers usually run NFD first).</summary>
internal sealed class StripAccentsNormalizer : INormalizer
{
    public NormalizedString Normalize(NormalizedString input) => NormalizerOps.StripNonSpacingMarks(input);
}

/// <summary>tokenizers Nmt: drops some ASCII controls, maps a few code points to ' ' (normalizers/unicode.rs).</summary>
internal sealed class NmtNormalizer : INormalizer
{
    public NormalizedString Normalize(NormalizedString input) => NormalizerOps.MapCodePoints(input, static (cp, b, s, e) =>
    {
        if ((cp >= 0x1 && cp <= 0x8) || cp == 0xB || (cp >= 0xE && cp <= 0x1F) || cp == 0x7F || cp == 0x8F || cp == 0x9F) return true;
        if (cp is 0x9 or 0xA or 0xC or 0xD or 0x1680 or (>= 0x200B and <= 0x200F) or 0x2028 or 0x2029 or 0x2581 or 0xFEFF or 0xFFFD)
        {
            b.Append(' ', s, e);
            return true;
        }
        return false;
    });
}

/// <summary>tokenizers Replace: every non-overlapping match of a literal or regex becomes <c>content</c>.</summary>
internal sealed class ReplaceNormalizer : INormalizer
{
    private readonly string? _literal;
    private readonly Regex? _regex;
    private readonly string _content;

    public ReplaceNormalizer(string? literal, Regex? regex, string content)
    {
        _literal = literal; _regex = regex; _content = content;
    }

    public NormalizedString Normalize(NormalizedString input)
    {
        var span = input.Span;
        var matches = new List<(int Start, int End)>();
        if (_literal != null)
        {
            if (_literal.Length == 0) return input;
            int pos = 0;
            while (pos <= span.Length)
            {
                int idx = span[pos..].IndexOf(_literal.AsSpan(), StringComparison.Ordinal);
                if (idx < 0) break;
                matches.Add((pos + idx, pos + idx + _literal.Length));
                pos += idx + _literal.Length;
            }
        }
        else
        {
            foreach (var m in _regex!.EnumerateMatches(span)) matches.Add((m.Index, m.Index + m.Length));
        }
        if (matches.Count == 0) return input;
        var b = new NsBuilder(span.Length + 8);
        int last = 0;
        foreach (var (ms, me) in matches)
        {
            b.AppendFrom(input, last, ms - last);
            var (os, oe) = input.OriginalSpan(ms, me);
            b.AppendString(_content, os, oe);
            last = me;
        }
        b.AppendFrom(input, last, span.Length - last);
        return b.Build(input.OrigStart, input.OrigEnd);
    }
}

/// <summary>tokenizers Prepend: prepends a string to non-empty input.</summary>
internal sealed class PrependNormalizer(string prepend) : INormalizer
{
    public NormalizedString Normalize(NormalizedString input)
    {
        if (input.IsEmpty) return input;
        var b = new NsBuilder(input.Length + prepend.Length);
        var (s, e) = input.OriginalSpan(0, 1);
        b.AppendString(prepend, s, e);
        b.AppendFrom(input, 0, input.Length);
        return b.Build(input.OrigStart, input.OrigEnd);
    }
}

/// <summary>tokenizers Strip: trims Unicode whitespace on the left and/or right.</summary>
internal sealed class StripNormalizer(bool left, bool right) : INormalizer
{
    public NormalizedString Normalize(NormalizedString input)
    {
        var span = input.Span;
        int start = 0, end = span.Length;
        if (left) while (start < end && CharClass.IsWhitespace(span[start])) start++;
        if (right) while (end > start && CharClass.IsWhitespace(span[end - 1])) end--;
        return input.Slice(start, end - start);
    }
}

internal sealed class SequenceNormalizer(IReadOnlyList<INormalizer> normalizers) : INormalizer
{
    public NormalizedString Normalize(NormalizedString input)
    {
        foreach (var n in normalizers) input = n.Normalize(input);
        return input;
    }
}
