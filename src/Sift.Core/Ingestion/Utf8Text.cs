using System.Text;

namespace Sift;

/// <summary>
/// A UTF-8 reader that still replaces invalid byte sequences with U+FFFD (as every .NET reader does) but counts
/// them, so a corpus with broken bytes is reported instead of being altered silently.
/// </summary>
/// <remarks>
/// .NET's decoders only offer "replace silently" or "throw on the first bad byte". Throwing would lose a whole corpus
/// over one stray byte, so this keeps the replacement and adds the count through a <see cref="DecoderFallback"/>.
/// </remarks>
public sealed class Utf8Text
{
    private readonly CountingFallback _fallback = new();
    private long _attributed;

    /// <summary>Invalid byte sequences replaced so far.</summary>
    public long Replaced => _fallback.Count;

    /// <summary>Lines (as reported through <see cref="EndLine"/>) that held at least one replaced sequence.</summary>
    public long LinesAffected { get; private set; }

    /// <summary>The 1-based number of the first affected line, or 0.</summary>
    public long FirstAffectedLine { get; private set; }

    /// <summary>The encoding to hand a <see cref="StreamReader"/>: strict UTF-8 except that it counts and replaces.</summary>
    public Encoding Encoding { get; }

    public Utf8Text()
    {
        var enc = (Encoding)new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).Clone();
        enc.DecoderFallback = _fallback;
        Encoding = enc;
    }

    /// <summary>A reader over <paramref name="stream"/> that counts invalid sequences (a BOM is honoured).</summary>
    public StreamReader Reader(Stream stream) => new(stream, Encoding, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);

    /// <summary>
    /// Call with each line read. StreamReader decodes ahead in blocks, so the count alone cannot say which line a
    /// replacement belongs to; a line is attributed when it carries U+FFFD while replacements are unaccounted for.
    /// </summary>
    public void EndLine(long lineNumber, string line)
    {
        if (_attributed >= Replaced || !line.Contains('\uFFFD')) return;
        var n = line.AsSpan().Count('\uFFFD');
        _attributed += n;
        LinesAffected++;
        if (FirstAffectedLine == 0) FirstAffectedLine = lineNumber;
    }

    /// <summary>For whole files (one "line" each): attributes all replacements not yet accounted for to the unit just read.</summary>
    public void EndUnit()
    {
        if (_attributed >= Replaced) return;
        _attributed = Replaced;
        LinesAffected++;
    }

    /// <summary>One sentence for a warning, or null when the text was clean.</summary>
    public string? Describe(string file, string unit = "line") => Replaced == 0 ? null
        : $"{file}: {Replaced:N0} invalid UTF-8 byte sequence(s) in {LinesAffected:N0} {unit}(s) replaced by U+FFFD"
          + (FirstAffectedLine > 0 ? $" (first on {unit} {FirstAffectedLine})" : "")
          + "; re-encode the input as UTF-8 (e.g. iconv -f latin1 -t utf-8) to keep those characters";

    private sealed class CountingFallback : DecoderFallback
    {
        private long _count;
        public long Count => Interlocked.Read(ref _count);
        public override int MaxCharCount => 1;
        public override DecoderFallbackBuffer CreateFallbackBuffer() => new Buffer(this);

        private sealed class Buffer(CountingFallback owner) : DecoderFallbackBuffer
        {
            private int _pending;
            public override int Remaining => _pending;

            public override bool Fallback(byte[] bytesUnknown, int index)
            {
                Interlocked.Increment(ref owner._count);
                _pending = 1;
                return true;
            }

            public override char GetNextChar()
            {
                if (_pending == 0) return '\0';
                _pending--;
                return '\uFFFD';
            }

            public override bool MovePrevious()
            {
                if (_pending != 0) return false;
                _pending = 1;
                return true;
            }

            public override void Reset() => _pending = 0;
        }
    }
}
