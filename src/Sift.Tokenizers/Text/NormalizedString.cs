using System.Runtime.CompilerServices;

namespace Sift.Tokenizers.Text;

/// <summary>
/// A (slice of a) normalized string with, for every UTF-16 unit, the [start, end) span in the ORIGINAL input it
/// came from (the role of alignments in Rust's NormalizedString). Slices share the underlying arrays.
/// </summary>
internal sealed class NormalizedString
{
    public readonly char[] Buf;
    public readonly int[] Starts;
    public readonly int[] Ends;
    public readonly int Offset;
    public readonly int Length;
    /// <summary>Span of the original covered (used for empty strings and Metaspace prepend_scheme "first").</summary>
    public readonly int OrigStart;
    public readonly int OrigEnd;

    public NormalizedString(char[] buf, int[] starts, int[] ends, int offset, int length, int origStart, int origEnd)
    {
        Buf = buf; Starts = starts; Ends = ends; Offset = offset; Length = length; OrigStart = origStart; OrigEnd = origEnd;
    }

    /// <summary>The original text [start, start+length) of <paramref name="text"/>, aligned 1:1.</summary>
    public static NormalizedString FromOriginal(ReadOnlySpan<char> text, int start, int length)
    {
        var buf = new char[length];
        var s = new int[length];
        var e = new int[length];
        text.Slice(start, length).CopyTo(buf);
        for (int i = 0; i < length; i++)
        {
            int o = start + i;
            // A surrogate pair maps as a unit so that slices never split a code point's span.
            if (char.IsHighSurrogate(buf[i]) && i + 1 < length && char.IsLowSurrogate(buf[i + 1]))
            {
                s[i] = o; e[i] = o + 2; s[i + 1] = o; e[i + 1] = o + 2; i++;
                continue;
            }
            s[i] = o; e[i] = o + 1;
        }
        return new NormalizedString(buf, s, e, 0, length, start, start + length);
    }

    public ReadOnlySpan<char> Span
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => new(Buf, Offset, Length);
    }

    public bool IsEmpty => Length == 0;

    public NormalizedString Slice(int start, int length)
    {
        if (start == 0 && length == Length) return this;
        int os, oe;
        if (length > 0) { os = Starts[Offset + start]; oe = Ends[Offset + start + length - 1]; }
        else if (start < Length) { os = oe = Starts[Offset + start]; }
        else { os = oe = Length > 0 ? Ends[Offset + Length - 1] : OrigEnd; }
        return new NormalizedString(Buf, Starts, Ends, Offset + start, length, os, oe);
    }

    /// <summary>Original span of local range [start, end).</summary>
    public (int Start, int End) OriginalSpan(int start, int end)
    {
        if (end <= start)
        {
            int p = start < Length ? Starts[Offset + start] : (Length > 0 ? Ends[Offset + Length - 1] : OrigStart);
            return (p, p);
        }
        return (Starts[Offset + start], Ends[Offset + end - 1]);
    }

    public override string ToString() => new(Span);
}

/// <summary>Builds a new NormalizedString char by char, carrying original spans.</summary>
internal sealed class NsBuilder
{
    private char[] _buf;
    private int[] _s;
    private int[] _e;
    private int _n;

    public NsBuilder(int capacity)
    {
        capacity = Math.Max(4, capacity);
        _buf = new char[capacity]; _s = new int[capacity]; _e = new int[capacity];
    }

    public int Count => _n;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Append(char c, int s, int e)
    {
        if (_n == _buf.Length) Grow();
        _buf[_n] = c; _s[_n] = s; _e[_n] = e; _n++;
    }

    public void AppendCodePoint(int cp, int s, int e)
    {
        if (cp < 0x10000) { Append((char)cp, s, e); return; }
        cp -= 0x10000;
        Append((char)(0xD800 + (cp >> 10)), s, e);
        Append((char)(0xDC00 + (cp & 0x3FF)), s, e);
    }

    public void AppendString(ReadOnlySpan<char> str, int s, int e)
    {
        foreach (var c in str) Append(c, s, e);
    }

    /// <summary>Copies local range [from, from+len) of <paramref name="src"/> with its alignments.</summary>
    public void AppendFrom(NormalizedString src, int from, int len)
    {
        while (_n + len > _buf.Length) Grow();
        Array.Copy(src.Buf, src.Offset + from, _buf, _n, len);
        Array.Copy(src.Starts, src.Offset + from, _s, _n, len);
        Array.Copy(src.Ends, src.Offset + from, _e, _n, len);
        _n += len;
    }

    private void Grow()
    {
        int cap = _buf.Length * 2;
        Array.Resize(ref _buf, cap); Array.Resize(ref _s, cap); Array.Resize(ref _e, cap);
    }

    public NormalizedString Build(int origStart, int origEnd) => new(_buf, _s, _e, 0, _n, origStart, origEnd);
}
