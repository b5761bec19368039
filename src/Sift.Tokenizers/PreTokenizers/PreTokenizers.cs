using System.Text.RegularExpressions;
using Sift.Tokenizers.Text;

namespace Sift.Tokenizers.PreTokenizers;

/// <summary>tokenizers SplitDelimiterBehavior.</summary>
internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

internal interface IPreTokenizer
{
    /// <summary>Splits every piece of <paramref name="input"/> into <paramref name="output"/> (empty pieces are dropped, as in Rust).</summary>
    void PreTokenize(List<NormalizedString> input, List<NormalizedString> output);
}

internal static class SplitHelper
{
    /// <summary>
    /// Rust NormalizedString::split: <paramref name="matches"/> cover the whole string in order, flagged as
    /// delimiter or not; the behavior decides what becomes of delimiters.
    /// </summary>
    public static void Split(NormalizedString ns, List<(int Start, int End, bool IsMatch)> matches, SplitBehavior behavior,
        List<NormalizedString> output)
    {
        switch (behavior)
        {
            case SplitBehavior.Removed:
                foreach (var (s, e, m) in matches) if (!m) Emit(ns, s, e, output);
                break;
            case SplitBehavior.Isolated:
                foreach (var (s, e, _) in matches) Emit(ns, s, e, output);
                break;
            case SplitBehavior.Contiguous:
            {
                bool prev = false; int cs = -1, ce = -1;
                foreach (var (s, e, m) in matches)
                {
                    if (m == prev && cs >= 0) ce = e;
                    else { if (cs >= 0) Emit(ns, cs, ce, output); cs = s; ce = e; }
                    prev = m;
                }
                if (cs >= 0) Emit(ns, cs, ce, output);
                break;
            }
            case SplitBehavior.MergedWithPrevious:
            {
                bool prev = false; int cs = -1, ce = -1;
                foreach (var (s, e, m) in matches)
                {
                    if (m && !prev && cs >= 0) ce = e;
                    else { if (cs >= 0) Emit(ns, cs, ce, output); cs = s; ce = e; }
                    prev = m;
                }
                if (cs >= 0) Emit(ns, cs, ce, output);
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                // Walk backwards: a delimiter is merged into the following piece unless that piece is a delimiter too.
                var rev = new List<(int, int)>();
                bool prev = false;
                for (int i = matches.Count - 1; i >= 0; i--)
                {
                    var (s, e, m) = matches[i];
                    if (m && !prev && rev.Count > 0) rev[^1] = (s, rev[^1].Item2);
                    else rev.Add((s, e));
                    prev = m;
                }
                for (int i = rev.Count - 1; i >= 0; i--) Emit(ns, rev[i].Item1, rev[i].Item2, output);
                break;
            }
        }
    }

    private static void Emit(NormalizedString ns, int s, int e, List<NormalizedString> output)
    {
        if (e > s) output.Add(ns.Slice(s, e - s));
    }

    /// <summary>Pattern = a code point predicate: every matching code point is its own delimiter.</summary>
    public static void MatchCodePoints(ReadOnlySpan<char> span, Func<int, bool> pred, List<(int, int, bool)> matches)
    {
        matches.Clear();
        int last = 0;
        for (int i = 0; i < span.Length;)
        {
            int cp = CharClass.ReadCodePoint(span, i, out int len);
            if (pred(cp))
            {
                if (last < i) matches.Add((last, i, false));
                matches.Add((i, i + len, true));
                last = i + len;
            }
            i += len;
        }
        if (last < span.Length) matches.Add((last, span.Length, false));
    }

    public static void MatchRegex(ReadOnlySpan<char> span, Regex regex, List<(int, int, bool)> matches)
    {
        matches.Clear();
        int prev = 0;
        foreach (var m in regex.EnumerateMatches(span))
        {
            if (prev != m.Index) matches.Add((prev, m.Index, false));
            matches.Add((m.Index, m.Index + m.Length, true));
            prev = m.Index + m.Length;
        }
        if (prev != span.Length) matches.Add((prev, span.Length, false));
    }
}

/// <summary>Pre-tokenizer that splits each piece on a code point predicate.</summary>
internal sealed class CharSplitPreTokenizer(Func<int, bool> predicate, SplitBehavior behavior) : IPreTokenizer
{
    public void PreTokenize(List<NormalizedString> input, List<NormalizedString> output)
    {
        var matches = new List<(int, int, bool)>();
        foreach (var ns in input)
        {
            SplitHelper.MatchCodePoints(ns.Span, predicate, matches);
            SplitHelper.Split(ns, matches, behavior, output);
        }
    }

    public static CharSplitPreTokenizer WhitespaceSplit() => new(CharClass.IsWhitespace, SplitBehavior.Removed);
    public static CharSplitPreTokenizer Punctuation(SplitBehavior b) => new(CharClass.IsBertPunctuation, b);
    public static CharSplitPreTokenizer Digits(bool individual) =>
        new(CharClass.IsNumber, individual ? SplitBehavior.Isolated : SplitBehavior.Contiguous);
}

/// <summary>tokenizers BertPreTokenizer: split on whitespace (removed), then isolate each punctuation char.</summary>
internal sealed class BertPreTokenizer : IPreTokenizer
{
    public void PreTokenize(List<NormalizedString> input, List<NormalizedString> output)
    {
        foreach (var ns in input)
        {
            var span = ns.Span;
            int start = -1;
            for (int i = 0; i < span.Length;)
            {
                int cp = CharClass.ReadCodePoint(span, i, out int len);
                if (CharClass.IsWhitespace(cp))
                {
                    if (start >= 0) { output.Add(ns.Slice(start, i - start)); start = -1; }
                }
                else if (CharClass.IsBertPunctuation(cp))
                {
                    if (start >= 0) { output.Add(ns.Slice(start, i - start)); start = -1; }
                    output.Add(ns.Slice(i, len));
                }
                else if (start < 0) start = i;
                i += len;
            }
            if (start >= 0) output.Add(ns.Slice(start, span.Length - start));
        }
    }
}

/// <summary>tokenizers Whitespace: keeps runs matching <c>\w+|[^\w\s]+</c>, drops whitespace.</summary>
internal sealed class WhitespacePreTokenizer : IPreTokenizer
{
    public void PreTokenize(List<NormalizedString> input, List<NormalizedString> output)
    {
        foreach (var ns in input)
        {
            var span = ns.Span;
            int start = -1, kind = 0; // kind 1 = word run, 2 = other run
            for (int i = 0; i < span.Length;)
            {
                int cp = CharClass.ReadCodePoint(span, i, out int len);
                int k = CharClass.IsWordChar(cp) ? 1 : CharClass.IsWhitespace(cp) ? 0 : 2;
                if (k != kind || k == 0)
                {
                    if (start >= 0) output.Add(ns.Slice(start, i - start));
                    start = k == 0 ? -1 : i;
                }
                kind = k;
                i += len;
            }
            if (start >= 0) output.Add(ns.Slice(start, span.Length - start));
        }
    }
}

/// <summary>tokenizers Split: literal or regex pattern, a behavior, optional invert.</summary>
internal sealed class SplitPreTokenizer(Regex regex, SplitBehavior behavior, bool invert) : IPreTokenizer
{
    public void PreTokenize(List<NormalizedString> input, List<NormalizedString> output)
    {
        var matches = new List<(int, int, bool)>();
        foreach (var ns in input)
        {
            if (ns.IsEmpty) continue;
            SplitHelper.MatchRegex(ns.Span, regex, matches);
            if (invert) for (int i = 0; i < matches.Count; i++) matches[i] = (matches[i].Item1, matches[i].Item2, !matches[i].Item3);
            SplitHelper.Split(ns, matches, behavior, output);
        }
    }
}

/// <summary>
/// tokenizers Metaspace: ' ' becomes the replacement char, the replacement is prepended (always / first piece
/// of the input / never) unless already there, then the piece is split before each replacement (MergedWithNext).
/// </summary>
internal sealed class MetaspacePreTokenizer(char replacement, string prependScheme, bool split) : IPreTokenizer
{
    public void PreTokenize(List<NormalizedString> input, List<NormalizedString> output)
    {
        var matches = new List<(int, int, bool)>();
        foreach (var ns in input)
        {
            if (ns.IsEmpty) continue;
            var span = ns.Span;
            // HF replaces spaces first, then prepends only if the result does not already start with the replacement.
            bool prepend = span[0] != replacement && span[0] != ' ' && (prependScheme == "always" || (prependScheme == "first" && ns.OrigStart == 0));
            var b = new NsBuilder(span.Length + 1);
            if (prepend)
            {
                var (s, e) = ns.OriginalSpan(0, 1);
                b.Append(replacement, s, e);
            }
            for (int i = 0; i < span.Length; i++)
            {
                char c = span[i];
                b.Append(c == ' ' ? replacement : c, ns.Starts[ns.Offset + i], ns.Ends[ns.Offset + i]);
            }
            var replaced = b.Build(ns.OrigStart, ns.OrigEnd);
            if (!split) { output.Add(replaced); continue; }
            SplitHelper.MatchCodePoints(replaced.Span, cp => cp == replacement, matches);
            SplitHelper.Split(replaced, matches, SplitBehavior.MergedWithNext, output);
        }
    }
}

internal sealed class SequencePreTokenizer(IReadOnlyList<IPreTokenizer> items) : IPreTokenizer
{
    public void PreTokenize(List<NormalizedString> input, List<NormalizedString> output)
    {
        var current = input;
        for (int i = 0; i < items.Count; i++)
        {
            var next = i == items.Count - 1 ? output : new List<NormalizedString>(current.Count * 2);
            items[i].PreTokenize(current, next);
            current = next;
        }
        if (items.Count == 0) output.AddRange(input);
    }
}
