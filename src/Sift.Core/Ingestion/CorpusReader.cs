using System.Text.Json;

namespace Sift;

/// <summary>How a corpus path is read.</summary>
public enum CorpusFormat
{
    /// <summary>A folder → <see cref="Folder"/>; <c>.jsonl</c>/<c>.ndjson</c>/<c>.json</c> → <see cref="Jsonl"/>; any other file → <see cref="Lines"/>.</summary>
    Auto,
    /// <summary>One JSON object per line: BEIR (<c>_id</c>, <c>title</c>, <c>text</c>), generic (<c>id</c>, <c>text</c>) or Pyserini (<c>id</c>, <c>contents</c>).
    /// Other fields, and the members of a <c>metadata</c> object, become metadata.</summary>
    Jsonl,
    /// <summary>A text file with one document per non-blank line; the id is the 1-based line number.</summary>
    Lines,
    /// <summary>A folder of text files (see <see cref="CorpusOptions.Extensions"/>), one document per file, id = relative path.</summary>
    Folder,
}

/// <summary>Options for <see cref="CorpusReader"/>.</summary>
public sealed record CorpusOptions
{
    public CorpusFormat Format { get; init; } = CorpusFormat.Auto;

    /// <summary>Split every document into passages (ids <c>{id}#{n}</c>); null keeps documents whole.</summary>
    public PassageChunking? Chunking { get; init; }

    /// <summary>File extensions read from folders (case-insensitive).</summary>
    public IReadOnlyList<string> Extensions { get; init; } = [".txt", ".md"];

    public static CorpusOptions Default { get; } = new();
}

/// <summary>Progress of a corpus read: documents yielded so far, files done and bytes read.</summary>
/// <param name="Documents">Documents (or passages) yielded so far.</param>
/// <param name="Skipped">Files skipped because they hold no text (folders only).</param>
/// <param name="BytesRead">Approximate bytes consumed.</param>
/// <param name="TotalBytes">Total bytes of all input files.</param>
/// <param name="CurrentFile">The file being read.</param>
/// <param name="Completed">True on the final report.</param>
/// <param name="InvalidUtf8">Invalid UTF-8 byte sequences replaced by U+FFFD so far (the text is kept, the count reported).</param>
/// <param name="Warning">On the final report: what was repaired (invalid UTF-8), to show the user; null when clean.</param>
public sealed record CorpusProgress(long Documents, long Skipped, long BytesRead, long TotalBytes, string? CurrentFile, bool Completed, long InvalidUtf8 = 0, string? Warning = null);

/// <summary>
/// Streams documents from a corpus on disk. Reading is lazy: documents are produced one at a time as
/// the caller enumerates, so an indexer never holds the whole corpus in memory. Problems surface as
/// <see cref="SiftException"/>s naming the file and line, at the point the enumeration reaches them.
/// </summary>
public static class CorpusReader
{
    private const int ProgressEvery = 1000;

    /// <summary>Reads <paramref name="path"/> (file or folder) as described by <paramref name="options"/>.</summary>
    /// <exception cref="SiftException">The path does not exist, the corpus is empty, or a document has no text.</exception>
    public static IEnumerable<Document> Read(string path, CorpusOptions? options = null, IProgress<CorpusProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= CorpusOptions.Default;
        options.Chunking?.Validate();
        var format = ResolveFormat(path, options.Format); // eager: a bad path fails at the call, not on first MoveNext
        return ReadCore(path, format, options, progress, cancellationToken);
    }

    /// <summary>The format <see cref="CorpusFormat.Auto"/> resolves to for <paramref name="path"/>.</summary>
    public static CorpusFormat ResolveFormat(string path, CorpusFormat format = CorpusFormat.Auto)
    {
        var isDir = Directory.Exists(path);
        if (!isDir && !File.Exists(path))
        {
            throw new SiftException($"corpus not found: {path}; pass a .jsonl file, a text file (one document per line) or a folder of .txt/.md files");
        }
        if (format == CorpusFormat.Auto)
        {
            if (isDir)
            {
                return CorpusFormat.Folder;
            }
            var ext = Path.GetExtension(path).ToLowerInvariant();
            return ext is ".jsonl" or ".ndjson" or ".json" ? CorpusFormat.Jsonl : CorpusFormat.Lines;
        }
        if (format == CorpusFormat.Folder && !isDir)
        {
            throw new SiftException($"corpus {path} is a file, not a folder; drop the folder format option or pass a folder");
        }
        if (format != CorpusFormat.Folder && isDir)
        {
            throw new SiftException($"corpus {path} is a folder; pass a file for the {format} format, or read it as a folder");
        }
        return format;
    }

    private static IEnumerable<Document> ReadCore(string path, CorpusFormat format, CorpusOptions options, IProgress<CorpusProgress>? progress, CancellationToken ct)
    {
        var state = new ProgressState(progress);
        IEnumerable<Document> docs = format switch
        {
            CorpusFormat.Jsonl => ReadJsonlFile(path, state, ct),
            CorpusFormat.Lines => ReadLinesFile(path, state, ct),
            CorpusFormat.Folder => ReadFolder(path, options.Extensions, state, ct),
            _ => throw new ArgumentOutOfRangeException(nameof(format)),
        };
        foreach (var doc in docs)
        {
            if (options.Chunking is { } chunking)
            {
                foreach (var passage in Passages.Split(doc, chunking))
                {
                    state.Yielded();
                    yield return passage;
                }
            }
            else
            {
                state.Yielded();
                yield return doc;
            }
        }
        if (state.Documents == 0)
        {
            throw new SiftException(format == CorpusFormat.Folder
                ? $"corpus {path} contains no documents: no non-empty {string.Join("/", options.Extensions)} files; add files or pass a different folder"
                : $"corpus {path} contains no documents; check the file and its format ({format})");
        }
        state.Complete();
    }

    private static IEnumerable<Document> ReadJsonlFile(string path, ProgressState state, CancellationToken ct)
    {
        state.Begin(path, new FileInfo(path).Length);
        using var stream = OpenRead(path);
        using var reader = state.Utf8.Reader(stream);
        var lineNo = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNo++;
            state.Utf8.EndLine(lineNo, line);
            ct.ThrowIfCancellationRequested();
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            state.Position(stream.Position);
            yield return ParseJsonLine(path, lineNo, line);
        }
    }

    /// <summary>Parses one JSONL corpus line (exposed for callers that read other containers).</summary>
    public static Document ParseJsonLine(string file, int lineNo, string line)
    {
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw new SiftException($"{file} line {lineNo} is not valid JSON ({JsonErrors.Describe(e)}); each line must be one JSON object like {{\"_id\": \"d1\", \"title\": \"...\", \"text\": \"...\"}}", e);
        }
        using (json)
        {
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new SiftException($"{file} line {lineNo} is not a JSON object; each line must look like {{\"_id\": \"d1\", \"title\": \"...\", \"text\": \"...\"}}");
            }
            string? id = null, title = null, text = null;
            var hasText = false;
            Dictionary<string, object?>? meta = null;
            foreach (var p in root.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "_id" or "id" or "docid" when id is null && p.Value.ValueKind is JsonValueKind.String or JsonValueKind.Number:
                        id = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText();
                        break;
                    case "title" when p.Value.ValueKind is JsonValueKind.String or JsonValueKind.Null:
                        title = p.Value.GetString();
                        break;
                    case "text" or "contents" when !hasText && p.Value.ValueKind is JsonValueKind.String or JsonValueKind.Null:
                        text = p.Value.GetString();
                        hasText = true;
                        break;
                    case "metadata" when p.Value.ValueKind == JsonValueKind.Object:
                        // BEIR nests extra fields under "metadata"; flatten them so every source looks alike.
                        foreach (var m in p.Value.EnumerateObject())
                        {
                            (meta ??= new(StringComparer.Ordinal))[m.Name] = MetadataJson.ToValue(m.Value);
                        }
                        break;
                    default:
                        (meta ??= new(StringComparer.Ordinal))[p.Name] = MetadataJson.ToValue(p.Value);
                        break;
                }
            }
            id ??= lineNo.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!hasText)
            {
                throw new SiftException($"{file} line {lineNo} (document {id}) has no \"text\" field; every line needs a \"text\" (or \"contents\") string");
            }
            // BEIR has a few title-only documents (empty text): keep them, since title + text is what gets indexed.
            if (string.IsNullOrWhiteSpace(text) && string.IsNullOrWhiteSpace(title))
            {
                throw new SiftException($"{file} line {lineNo} (document {id}) has empty text and no title; remove the line or fill in its \"text\"");
            }
            return new Document(text ?? "", id, string.IsNullOrEmpty(title) ? null : title, meta);
        }
    }

    private static IEnumerable<Document> ReadLinesFile(string path, ProgressState state, CancellationToken ct)
    {
        state.Begin(path, new FileInfo(path).Length);
        using var stream = OpenRead(path);
        using var reader = state.Utf8.Reader(stream);
        var lineNo = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNo++;
            state.Utf8.EndLine(lineNo, line);
            ct.ThrowIfCancellationRequested();
            if (string.IsNullOrWhiteSpace(line))
            {
                continue; // blank lines separate nothing here; they are not documents
            }
            state.Position(stream.Position);
            yield return new Document(line.Trim(), lineNo.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    private static IEnumerable<Document> ReadFolder(string root, IReadOnlyList<string> extensions, ProgressState state, CancellationToken ct)
    {
        var files = ListFolder(root, extensions);
        state.Total(files.Sum(f => f.Length));
        foreach (var file in files)
        {
            ct.ThrowIfCancellationRequested();
            var rel = RelativeId(root, file.FullName);
            state.File(file.FullName);
            string text;
            var before = state.Utf8.Replaced;
            using (var reader = state.Utf8.Reader(OpenRead(file.FullName)))
            {
                text = reader.ReadToEnd();
            }
            state.Utf8.EndUnit();
            if (state.Utf8.Replaced > before) state.BadFile(rel);
            state.Advance(file.Length);
            if (string.IsNullOrWhiteSpace(text))
            {
                state.Skip();
                continue;
            }
            var meta = new Dictionary<string, object?>(StringComparer.Ordinal) { ["source"] = rel };
            yield return new Document(text, rel, null, meta);
        }
    }

    /// <summary>The files a folder corpus reads, in ordinal order of relative path (deterministic across runs and OSes).</summary>
    public static IReadOnlyList<FileInfo> ListFolder(string root, IReadOnlyList<string>? extensions = null)
    {
        extensions ??= CorpusOptions.Default.Extensions;
        var exts = new HashSet<string>(extensions.Select(e => e.StartsWith('.') ? e : "." + e), StringComparer.OrdinalIgnoreCase);
        return new DirectoryInfo(root)
            .EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System })
            .Where(f => exts.Contains(f.Extension))
            .OrderBy(f => RelativeId(root, f.FullName), StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>The id a folder corpus gives <paramref name="file"/>: its path relative to <paramref name="root"/> with '/' separators.</summary>
    public static string RelativeId(string root, string file) => Path.GetRelativePath(root, file).Replace('\\', '/');

    private static FileStream OpenRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16, FileOptions.SequentialScan);

    private sealed class ProgressState(IProgress<CorpusProgress>? progress)
    {
        private long _skipped, _done, _base, _total;
        private string? _file, _firstBadFile, _path;
        public long Documents { get; private set; }
        public Utf8Text Utf8 { get; } = new();

        public void BadFile(string rel) => _firstBadFile ??= rel;

        public void Begin(string file, long total) { _file = _path = file; _total = total; }
        public void Total(long total) => _total = total;
        public void File(string file) => _file = file;
        public void Position(long pos) => _done = _base + pos;
        public void Advance(long bytes) { _base += bytes; _done = _base; }
        public void Skip() => _skipped++;

        public void Yielded()
        {
            Documents++;
            if (progress is not null && Documents % ProgressEvery == 0)
            {
                progress.Report(new CorpusProgress(Documents, _skipped, _done, _total, _file, false, Utf8.Replaced));
            }
        }

        public void Complete() => progress?.Report(new CorpusProgress(Documents, _skipped, _total, _total, _file, true, Utf8.Replaced,
            _firstBadFile is null ? Utf8.Describe(_path ?? "corpus") : Utf8.Describe($"corpus (first: {_firstBadFile})", "file")));
    }
}
