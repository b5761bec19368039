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
    public static TextReader OpenText(string path)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var b1 = stream.ReadByte();
        var b2 = stream.ReadByte();
        stream.Position = 0;
        Stream source = b1 == 0x1f && b2 == 0x8b ? new GZipStream(stream, CompressionMode.Decompress) : stream;
        return new StreamReader(source, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
    }

    /// <summary>
    /// Yields (1-based line number, line) for every line. <see cref="TextReader.ReadLine"/> already strips
    /// LF, CRLF and lone CR, so files committed with Windows line endings parse the same as Unix ones.
    /// </summary>
    public static IEnumerable<(int LineNumber, string Line)> Lines(string path)
    {
        using var reader = OpenText(path);
        var n = 0;
        while (reader.ReadLine() is { } line)
        {
            n++;
            yield return (n, line);
        }
    }

    public static SiftException Error(string path, int lineNumber, string problem, string fix) =>
        new($"{path}, line {lineNumber}: {problem}. {fix}");

    public static readonly char[] Whitespace = [' ', '\t', '\r', '\n', '\v', '\f'];

    public static string[] SplitWhitespace(string line) =>
        line.Split(Whitespace, StringSplitOptions.RemoveEmptyEntries);
}
