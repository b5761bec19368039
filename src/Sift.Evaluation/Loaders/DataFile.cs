using System.IO.Compression;

namespace Sift.Evaluation.Loaders;

/// <summary>Shared file plumbing for the loaders: existence checks, gzip, line iteration and error messages.</summary>
internal static class DataFile
{
    public static void RequireFile(string path, string what)
    {
        if (!File.Exists(path))
        {
            throw new SiftException($"{what} not found: '{path}'. Check the path (and the dataset layout described in its README/PROVENANCE).");
        }
    }

    /// <summary>Opens a text file, transparently gunzipping when it starts with the gzip magic bytes.</summary>
    public static TextReader OpenText(string path, Utf8Text? utf8 = null)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var b1 = stream.ReadByte();
        var b2 = stream.ReadByte();
        stream.Position = 0;
        Stream source = b1 == 0x1f && b2 == 0x8b ? new GZipStream(stream, CompressionMode.Decompress) : stream;
        return utf8 is null ? new StreamReader(source, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true) : utf8.Reader(source);
    }

    /// <summary>
    /// Yields (1-based line number, line) for every line. <see cref="TextReader.ReadLine"/> already strips
    /// LF, CRLF and lone CR, so files committed with Windows line endings parse the same as Unix ones.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="warnings">When given, receives one warning if the file held invalid UTF-8 (replaced by U+FFFD, counted).</param>
    public static IEnumerable<(int LineNumber, string Line)> Lines(string path, ICollection<string>? warnings = null)
    {
        var utf8 = new Utf8Text();
        using var reader = OpenText(path, utf8);
        var n = 0;
        while (reader.ReadLine() is { } line)
        {
            n++;
            utf8.EndLine(n, line);
            yield return (n, line);
        }
        if (warnings is not null && utf8.Describe(path) is { } w) warnings.Add(w);
    }

    public static SiftException Error(string path, int lineNumber, string problem, string fix) =>
        new($"{path}, line {lineNumber}: {problem}. {fix}");

    public static readonly char[] Whitespace = [' ', '\t', '\r', '\n', '\v', '\f'];

    public static string[] SplitWhitespace(string line) =>
        line.Split(Whitespace, StringSplitOptions.RemoveEmptyEntries);
}
