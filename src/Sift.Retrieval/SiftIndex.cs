using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Lucene.Net.Analysis;
using Lucene.Net.Analysis.En;
using Lucene.Net.Analysis.TokenAttributes;
using Lucene.Net.Documents;
using Lucene.Net.Index;
using Lucene.Net.Search;
using Lucene.Net.Search.Similarities;
using Lucene.Net.Store;
using Lucene.Net.Util;
using Microsoft.Extensions.AI;
using LuceneDocument = Lucene.Net.Documents.Document;

namespace Sift.Retrieval;

/// <summary>Options for <see cref="SiftIndex.Create"/>.</summary>
public sealed record SiftIndexOptions
{
    /// <summary>Replace an existing Sift index in the directory (its files only; anything else there is left alone).</summary>
    public bool Overwrite { get; init; }

    /// <summary>Chunking used when reading the corpus, recorded in the manifest.</summary>
    public PassageChunking? Chunking { get; init; }

    /// <summary>Corpus path, recorded in the manifest.</summary>
    public string? Corpus { get; init; }
}

/// <summary>Options for <see cref="SiftIndex.AddAsync"/>.</summary>
public sealed record IndexAddOptions
{
    /// <summary>Bi-encoder that embeds each document (title + " " + text) into the dense vector store. Once an index
    /// has vectors every later add must pass the same model, and an index with documents but no vectors cannot gain them
    /// (rebuild instead), so that dense search always covers every document.</summary>
    public IEmbeddingGenerator<string, Embedding<float>>? Embedder { get; init; }

    /// <summary>Model name/path recorded with the vectors (default: the embedder's <see cref="EmbeddingGeneratorMetadata.DefaultModelId"/>).</summary>
    public string? DenseModel { get; init; }

    /// <summary>Prepended to each document's embedding text (a model's document prompt, e.g. "passage: " for E5).</summary>
    public string? DocumentPrefix { get; init; }

    /// <summary>Texts per embedding call.</summary>
    public int EmbeddingBatchSize { get; init; } = 64;

    /// <summary>
    /// Documents gathered before embedding: each window is sorted by text length and embedded in
    /// <see cref="EmbeddingBatchSize"/> calls, so a call pads its texts to nearly the same length (padding is wasted
    /// work: a corpus with lengths spread from 20 to 500 tokens costs about half as much sorted). Larger windows sort better
    /// and hold more text in memory.
    /// </summary>
    public int EmbeddingWindow { get; init; } = 2048;

    /// <summary>When a document's metadata has a <c>source</c> (folder corpora: the relative path), delete everything
    /// previously indexed from that source before adding, so a re-ingested file that got shorter leaves no stale passages.</summary>
    public bool ReplaceSources { get; init; } = true;

    public IProgress<IndexProgress>? Progress { get; init; }

    /// <summary>Also keep an HNSW graph (USearch) of the vectors with these settings, for approximate dense search. When
    /// the index already has one with the same connectivity, build expansion and scalar kind, it is updated in place;
    /// other settings rebuild it. Null: an existing graph is kept up to date, none is created.</summary>
    public AnnOptions? Ann { get; init; }

    /// <summary>Progress of an HNSW (re)build during this add.</summary>
    public IProgress<AnnProgress>? AnnProgress { get; init; }
}

/// <summary>Indexing progress (reported every 1,000 documents read, after every embedding call, and at the end).</summary>
/// <param name="Documents">Documents read so far.</param>
/// <param name="Embedded">Documents with a vector so far (computed, or recovered from an unfinished run).</param>
/// <param name="Elapsed">Time since the add started.</param>
/// <param name="Completed">True for the final report, after the commit.</param>
/// <param name="Recovered">Vectors taken from the embedding journal of an earlier run that did not finish.</param>
public sealed record IndexProgress(long Documents, long Embedded, TimeSpan Elapsed, bool Completed, long Recovered = 0);

/// <summary>What one <see cref="SiftIndex.AddAsync"/> call did.</summary>
/// <param name="Documents">Documents added or replaced.</param>
/// <param name="Embedded">Documents embedded into the vector store.</param>
/// <param name="SourcesReplaced">Sources whose earlier documents were deleted first.</param>
/// <param name="TotalDocuments">Documents in the index after the commit.</param>
/// <param name="Elapsed">Wall time of the whole call.</param>
/// <param name="EmbeddingTime">Part of <paramref name="Elapsed"/> spent in the embedder.</param>
/// <param name="Recovered">Vectors taken from the embedding journal of an earlier run that was killed or cancelled.</param>
public sealed record IndexAddResult(long Documents, long Embedded, long SourcesReplaced, long TotalDocuments, TimeSpan Elapsed, TimeSpan EmbeddingTime, long Recovered = 0);

/// <summary>
/// A Sift index directory: a Lucene BM25 index (<c>lucene/</c>), an optional dense vector store (<c>vectors.bin</c>,
/// see <see cref="VectorStore"/>) and a manifest (<c>index.json</c>, see <see cref="IndexManifest"/>).
/// <para>
/// BM25 follows Anserini's BEIR "flat" settings: title and text concatenated in one field, Lucene's
/// <see cref="EnglishAnalyzer"/> (Porter stemming, English stopwords), <c>BM25Similarity(k1 = 0.9, b = 0.4)</c>,
/// and queries as a bag of analyzed terms (no query syntax: any user text is safe).
/// </para>
/// <para>
/// Durability: every write call (<see cref="AddAsync"/>, <see cref="DeleteAsync"/>, <see cref="DeleteSourceAsync"/>) is
/// all-or-nothing: it commits at its end, and a failure (or a crash) leaves the index at the previous commit. The Lucene
/// write lock is held only during a write call, so another process can write in between, and any number of instances
/// (in this or other processes) can search while one writes; searches see the latest commit.
/// </para>
/// Thread-safe: searches run concurrently, writes on one instance are serialized.
/// </summary>
public sealed class SiftIndex : IDisposable
{
    public const string LuceneFolder = "lucene";
    public const string VectorsFileName = "vectors.bin";
    public const float Bm25K1 = 0.9f;
    public const float Bm25B = 0.4f;

    // Lucene field names. "contents" is the only indexed text field (Anserini's name); the rest are stored as-is.
    internal const string IdField = "id";
    internal const string ContentsField = "contents";
    internal const string TitleField = "title";
    internal const string TextField = "text";
    internal const string MetaField = "meta";
    internal const string SourceField = "source";

    private const LuceneVersion Version = LuceneVersion.LUCENE_48;
    private const int ProgressEvery = 1000;

    /// <summary>Vectors of an add that has not committed yet (see <see cref="EmbeddingJournal"/>).</summary>
    public const string JournalFileName = "embedding-journal.bin";

    // Lucene commit user data naming the HNSW generation (see AnnStore) that belongs to the commit, and its settings.
    internal const string AnnCommitKey = "sift.ann";
    internal const string AnnOptionsCommitKey = "sift.ann.options";

    private readonly FSDirectory _directory;
    private readonly Analyzer _analyzer = new EnglishAnalyzer(Version);
    private readonly BM25Similarity _similarity = new(Bm25K1, Bm25B);
    private readonly SearcherManager _searchers;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly System.Threading.Lock _vectorsGate = new();
    private readonly string _manifestPath;
    private readonly string _vectorsPath;
    private VectorStore? _vectors;
    private (long Ticks, long Length) _vectorsStamp;
    private IndexManifest _manifest;
    private (long Ticks, long Length) _manifestStamp;
    // Memory-mapped HNSW generations open for searching, by (generation, search expansion).
    private readonly Dictionary<(string Name, int Ef), AnnStore> _annViews = [];
    private bool _disposed;

    private SiftIndex(string path, IndexManifest manifest)
    {
        Path = path;
        _manifest = manifest;
        _manifestPath = System.IO.Path.Combine(path, IndexManifest.FileName);
        _vectorsPath = System.IO.Path.Combine(path, VectorsFileName);
        _manifestStamp = Stamp(_manifestPath);
        _directory = FSDirectory.Open(new DirectoryInfo(System.IO.Path.Combine(path, LuceneFolder)));
        try
        {
            _searchers = new SearcherManager(_directory, new Bm25SearcherFactory(_similarity));
        }
        catch (IndexNotFoundException e)
        {
            _directory.Dispose();
            throw new SiftException($"the Lucene index in {path} is missing or damaged ({e.Message}); re-create it with `sift index --corpus PATH --index {path} --overwrite`", e);
        }
        RefreshVectors();
    }

    /// <summary>The index directory.</summary>
    public string Path { get; }

    /// <summary>The manifest on disk (re-read when another instance or process rewrote it).</summary>
    public IndexManifest Manifest
    {
        get
        {
            var stamp = Stamp(_manifestPath);
            lock (_vectorsGate)
            {
                if (stamp != _manifestStamp && stamp != default)
                {
                    _manifest = IndexManifest.Read(_manifestPath);
                    _manifestStamp = stamp;
                }
                return _manifest;
            }
        }
    }

    /// <summary>Whether dense vectors exist (so <see cref="Dense"/> and <see cref="Hybrid"/> can be used).</summary>
    public bool HasDense => RefreshVectors() is not null;

    /// <summary>Documents in the latest commit.</summary>
    public int Count => WithSearcher(s => s.IndexReader.NumDocs);

    /// <summary>Whether <paramref name="directory"/> holds a Sift index.</summary>
    public static bool Exists(string directory) =>
        File.Exists(System.IO.Path.Combine(directory, IndexManifest.FileName)) && System.IO.Directory.Exists(System.IO.Path.Combine(directory, LuceneFolder));

    /// <summary>Creates an empty index in <paramref name="directory"/> (created if missing; must be empty unless it holds
    /// an index and <see cref="SiftIndexOptions.Overwrite"/> is set).</summary>
    public static SiftIndex Create(string directory, SiftIndexOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        options ??= new SiftIndexOptions();
        options.Chunking?.Validate();
        var dir = System.IO.Path.GetFullPath(directory);
        if (Exists(dir))
        {
            if (!options.Overwrite)
            {
                throw new SiftException($"there is already a Sift index at {dir}; add to it, or pass --overwrite to replace it");
            }
            DeleteIndexFiles(dir);
        }
        else if (System.IO.Directory.Exists(dir) && System.IO.Directory.EnumerateFileSystemEntries(dir).Any())
        {
            throw new SiftException($"{dir} is not empty and holds no Sift index; pick a new or empty folder for --index");
        }
        System.IO.Directory.CreateDirectory(dir);

        // An initial empty commit, so readers can open the index before anything is added.
        using (var luceneDir = FSDirectory.Open(new DirectoryInfo(System.IO.Path.Combine(dir, LuceneFolder))))
        using (var analyzer = new EnglishAnalyzer(Version))
        using (var writer = new IndexWriter(luceneDir, NewWriterConfig(analyzer, OpenMode.CREATE)))
        {
            writer.Commit();
        }
        var now = DateTimeOffset.UtcNow;
        var manifest = new IndexManifest { Created = now, Updated = now, Chunking = options.Chunking, Corpus = options.Corpus };
        manifest.Write(System.IO.Path.Combine(dir, IndexManifest.FileName));
        return new SiftIndex(dir, manifest);
    }

    /// <summary>Opens the index in <paramref name="directory"/>.</summary>
    /// <exception cref="SiftException">There is no index there.</exception>
    public static SiftIndex Open(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var dir = System.IO.Path.GetFullPath(directory);
        if (!Exists(dir))
        {
            throw new SiftException($"no Sift index at {dir}; create one with `sift index --corpus PATH --index {dir}`");
        }
        var manifest = IndexManifest.Read(System.IO.Path.Combine(dir, IndexManifest.FileName));
        if (manifest.Version > IndexManifest.CurrentVersion)
        {
            throw new SiftException($"the index at {dir} has format version {manifest.Version}, newer than this Sift reads ({IndexManifest.CurrentVersion}); upgrade Sift or re-create the index");
        }
        return new SiftIndex(dir, manifest);
    }

    /// <summary>Opens the index when it exists, else creates it.</summary>
    public static SiftIndex OpenOrCreate(string directory, SiftIndexOptions? options = null) =>
        Exists(directory) ? Open(directory) : Create(directory, options);

    private static void DeleteIndexFiles(string dir)
    {
        var lucene = System.IO.Path.Combine(dir, LuceneFolder);
        if (System.IO.Directory.Exists(lucene))
        {
            System.IO.Directory.Delete(lucene, recursive: true);
        }
        foreach (var name in new[] { VectorsFileName, VectorsFileName + ".tmp", IndexManifest.FileName, IndexManifest.FileName + ".tmp" })
        {
            File.Delete(System.IO.Path.Combine(dir, name));
        }
        AnnStore.DeleteOthers(dir, []);
    }

    private IndexWriterConfig NewWriterConfig(OpenMode mode) => NewWriterConfig(_analyzer, mode);

    private static IndexWriterConfig NewWriterConfig(Analyzer analyzer, OpenMode mode) => new(Version, analyzer)
    {
        OpenMode = mode,
        // Norms are encoded at index time by the similarity, so the writer must use BM25 too, not just the searcher.
        Similarity = new BM25Similarity(Bm25K1, Bm25B),
        RAMBufferSizeMB = 64,
    };

    // ---------------------------------------------------------------- writing

    /// <summary>
    /// Adds documents (replacing any with the same id, see <see cref="IndexAddOptions.ReplaceSources"/> for sources),
    /// embedding them when <see cref="IndexAddOptions.Embedder"/> is set, then commits. Streams: documents are consumed one
    /// at a time. All-or-nothing: on any exception (a bad corpus line, cancellation...) nothing of this call is kept.
    /// Documents without an id get one derived from their content (<c>sha256:</c> + 16 hex digits).
    /// </summary>
    public async Task<IndexAddResult> AddAsync(IEnumerable<Sift.Document> documents, IndexAddOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documents);
        options ??= new IndexAddOptions();
        if (options.EmbeddingBatchSize < 1)
        {
            throw new SiftException($"embedding batch size must be at least 1 (got {options.EmbeddingBatchSize})");
        }
        if (options.EmbeddingWindow < options.EmbeddingBatchSize)
        {
            throw new SiftException($"embedding window ({options.EmbeddingWindow}) must hold at least one batch ({options.EmbeddingBatchSize})");
        }
        ObjectDisposedException.ThrowIf(_disposed, this);
        var clock = Stopwatch.StartNew();
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var writer = OpenWriter();
            try
            {
                _searchers.MaybeRefreshBlocking(); // see other processes' commits (ids per source, document count)
                var vectors = RefreshVectors();
                var embedder = options.Embedder;
                string? denseModel = null;
                if (embedder is not null)
                {
                    denseModel = options.DenseModel ?? embedder.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId ?? "unknown";
                    if (vectors is null && Count > 0)
                    {
                        throw new SiftException($"the index at {Path} already holds {Count} documents without dense vectors; rebuild it with the dense model (`sift index --corpus PATH --index {Path} --overwrite` plus the dense model option) so every document gets a vector");
                    }
                    if (vectors is not null && vectors.Count > 0 && !string.Equals(vectors.Model, denseModel, StringComparison.Ordinal) && options.DenseModel is not null)
                    {
                        throw new SiftException($"the index at {Path} holds vectors from {vectors.Model} but documents are being embedded with {denseModel}; use the same dense model, or rebuild the index with --overwrite");
                    }
                }
                else if (vectors is { Count: > 0 })
                {
                    throw new SiftException($"the index at {Path} has dense vectors from {vectors.Model}; pass the same dense model when adding documents so they can be found by dense search too");
                }

                long added = 0, embedded = 0, sourcesReplaced = 0, recovered = 0;
                var embedTime = TimeSpan.Zero;
                var replaced = new HashSet<string>(StringComparer.Ordinal);
                var pending = new List<(string Id, string Text)>(options.EmbeddingWindow);
                using var journal = embedder is null ? null : EmbeddingJournal.Open(System.IO.Path.Combine(Path, JournalFileName), denseModel!);

                void Store(string id, ReadOnlySpan<float> vector)
                {
                    if (vectors is null)
                    {
                        vectors = new VectorStore(vector.Length, denseModel!);
                        lock (_vectorsGate)
                        {
                            _vectors = vectors;
                        }
                    }
                    vectors.Upsert(id, vector);
                }

                async Task EmbedPendingAsync()
                {
                    if (pending.Count == 0)
                    {
                        return;
                    }
                    // Vectors an unfinished earlier run already computed come from the journal.
                    var todo = new List<(string Id, string Text, UInt128 Key)>(pending.Count);
                    foreach (var (id, text) in pending)
                    {
                        var key = EmbeddingJournal.Key(text);
                        if (journal!.TryGet(key, out var known))
                        {
                            Store(id, known);
                            embedded++;
                            recovered++;
                        }
                        else
                        {
                            todo.Add((id, text, key));
                        }
                    }
                    // Length-sorted calls: each pads its texts to nearly the same length (chars are a good proxy for tokens).
                    todo.Sort((a, b) => a.Text.Length.CompareTo(b.Text.Length));
                    for (var start = 0; start < todo.Count; start += options.EmbeddingBatchSize)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        var chunk = todo.GetRange(start, Math.Min(options.EmbeddingBatchSize, todo.Count - start));
                        var t0 = clock.Elapsed;
                        var embeddings = await embedder!.GenerateAsync(chunk.Select(p => p.Text), null, cancellationToken).ConfigureAwait(false);
                        embedTime += clock.Elapsed - t0;
                        if (embeddings.Count != chunk.Count)
                        {
                            throw new InvalidOperationException($"the embedder returned {embeddings.Count} embeddings for {chunk.Count} texts");
                        }
                        journal!.Append(chunk.Select(c => c.Key).ToArray(), embeddings.Select(e => e.Vector).ToArray());
                        for (var i = 0; i < chunk.Count; i++)
                        {
                            Store(chunk[i].Id, embeddings[i].Vector.Span);
                        }
                        embedded += chunk.Count;
                        options.Progress?.Report(new IndexProgress(added, embedded, clock.Elapsed, false, recovered));
                    }
                    pending.Clear();
                }

                foreach (var doc in documents)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    ArgumentNullException.ThrowIfNull(doc, nameof(documents));
                    var id = doc.Id ?? ContentId(doc);
                    if (options.ReplaceSources && doc.Metadata?.GetValueOrDefault(SourceField) is string source && replaced.Add(source))
                    {
                        // Lucene applies a delete to documents added before it only, so this never hits the new passages.
                        foreach (var old in IdsOfSource(source))
                        {
                            vectors?.Remove(old);
                        }
                        writer.DeleteDocuments(new Term(SourceField, source));
                        sourcesReplaced++;
                    }
                    writer.UpdateDocument(new Term(IdField, id), ToLucene(doc, id));
                    added++;
                    if (embedder is not null)
                    {
                        pending.Add((id, options.DocumentPrefix + EmbeddingText(doc)));
                        if (pending.Count >= options.EmbeddingWindow)
                        {
                            await EmbedPendingAsync().ConfigureAwait(false);
                        }
                    }
                    if (added % ProgressEvery == 0)
                    {
                        options.Progress?.Report(new IndexProgress(added, embedded, clock.Elapsed, false, recovered));
                    }
                }
                await EmbedPendingAsync().ConfigureAwait(false);

                // Vectors first, Lucene second: a crash in between leaves vectors for ids Lucene doesn't know, which dense
                // search skips, rather than documents without vectors.
                if (vectors is not null)
                {
                    SaveVectors(vectors);
                }
                // The HNSW generation is written under a new name and named in the Lucene commit, so a crash before
                // the commit leaves the previous commit with its own graph.
                var ann = PrepareAnn(writer, vectors, options.Ann, rebuild: false, options.AnnProgress, cancellationToken);
                writer.Commit();
                var total = writer.NumDocs;
                WriteManifest(total, vectors, ann);
                writer.Dispose();
                ann?.Dispose();
                journal?.Complete();
                _searchers.MaybeRefreshBlocking();
                options.Progress?.Report(new IndexProgress(added, embedded, clock.Elapsed, true, recovered));
                return new IndexAddResult(added, embedded, sourcesReplaced, total, clock.Elapsed, embedTime, recovered);
            }
            catch
            {
                Abandon(writer);
                throw;
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>Deletes documents by id and commits; returns how many of the ids were in the index.</summary>
    public Task<int> DeleteAsync(IEnumerable<string> ids, CancellationToken cancellationToken = default) =>
        WriteAsync((writer, vectors) =>
        {
            var deleted = 0;
            foreach (var id in ids.Distinct(StringComparer.Ordinal))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (Lookup([id])[0] is not null)
                {
                    deleted++;
                }
                writer.DeleteDocuments(new Term(IdField, id));
                vectors?.Remove(id);
            }
            return deleted;
        }, cancellationToken);

    /// <summary>Deletes everything indexed from <paramref name="source"/> (a folder corpus file's relative path) and
    /// commits; returns how many documents (passages) were deleted.</summary>
    public Task<int> DeleteSourceAsync(string source, CancellationToken cancellationToken = default) =>
        WriteAsync((writer, vectors) =>
        {
            var ids = IdsOfSource(source);
            foreach (var id in ids)
            {
                vectors?.Remove(id);
            }
            writer.DeleteDocuments(new Term(SourceField, source));
            return ids.Count;
        }, cancellationToken);

    private async Task<int> WriteAsync(Func<IndexWriter, VectorStore?, int> change, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var writer = OpenWriter();
            try
            {
                _searchers.MaybeRefreshBlocking();
                var vectors = RefreshVectors();
                var result = change(writer, vectors);
                if (vectors is not null)
                {
                    SaveVectors(vectors);
                }
                var ann = PrepareAnn(writer, vectors, null, rebuild: false, null, cancellationToken);
                writer.Commit();
                WriteManifest(writer.NumDocs, vectors, ann);
                writer.Dispose();
                ann?.Dispose();
                _searchers.MaybeRefreshBlocking();
                return result;
            }
            catch
            {
                Abandon(writer);
                throw;
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    private IndexWriter OpenWriter()
    {
        try
        {
            return new IndexWriter(_directory, NewWriterConfig(OpenMode.APPEND));
        }
        catch (LockObtainFailedException e)
        {
            throw new SiftException($"the index at {Path} is being written by another process or instance (Lucene write lock held); wait for it to finish and retry", e);
        }
    }

    // Discards everything since the last commit: Lucene's rollback, and the vectors reloaded from disk.
    private void Abandon(IndexWriter writer)
    {
        try
        {
            writer.Rollback();
        }
        catch (Exception)
        {
            // Already closed or failed: the last commit on disk is intact either way.
        }
        lock (_vectorsGate)
        {
            _vectors = null;
            _vectorsStamp = default;
        }
        RefreshVectors();
    }

    private void SaveVectors(VectorStore vectors)
    {
        vectors.Save(_vectorsPath);
        lock (_vectorsGate)
        {
            _vectors = vectors;
            _vectorsStamp = Stamp(_vectorsPath);
        }
    }

    /// <summary>
    /// Builds (or rebuilds) the HNSW graph over the current vectors with <paramref name="options"/> and commits it; the
    /// documents and exact vectors are unchanged. A crash mid-build leaves the previous commit (and its graph, if any).
    /// </summary>
    /// <exception cref="SiftException">The index has no dense vectors, or the settings are out of range.</exception>
    public async Task<AnnBuildResult> BuildAnnAsync(AnnOptions options, IProgress<AnnProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var writer = OpenWriter();
            try
            {
                _searchers.MaybeRefreshBlocking();
                var vectors = RequireDense();
                var clock = Stopwatch.StartNew();
                var ann = PrepareAnn(writer, vectors, options, rebuild: true, progress, cancellationToken)!;
                var elapsed = clock.Elapsed;
                writer.Commit();
                WriteManifest(writer.NumDocs, vectors, ann);
                writer.Dispose();
                var bytes = new FileInfo(System.IO.Path.Combine(Path, ann.Store.Name + AnnStore.GraphExtension)).Length;
                var result = new AnnBuildResult(ann.Store.Count, elapsed, bytes);
                ann.Dispose();
                _searchers.MaybeRefreshBlocking();
                return result;
            }
            catch
            {
                Abandon(writer);
                throw;
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>The HNSW generation a write is about to commit, with the settings it was built with.</summary>
    private sealed record PreparedAnn(AnnStore Store, AnnOptions Options, bool Written) : IDisposable
    {
        public void Dispose() => Store.Dispose();
    }

    // Brings the HNSW graph in line with the vectors about to be committed and names it in the commit user data; null
    // when the index keeps no graph. Called after the vectors are saved and before writer.Commit().
    private PreparedAnn? PrepareAnn(IndexWriter writer, VectorStore? vectors, AnnOptions? requested, bool rebuild, IProgress<AnnProgress>? progress, CancellationToken ct)
    {
        var data = new Dictionary<string, string>(writer.CommitData ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        data.TryGetValue(AnnCommitKey, out var current);
        var currentOptions = data.TryGetValue(AnnOptionsCommitKey, out var text) ? ParseAnnOptions(text) : null;
        var changes = vectors?.TakeChanges() ?? [];
        if (current is null && requested is null)
        {
            return null;
        }
        if (vectors is null)
        {
            throw new SiftException($"an HNSW index needs dense vectors, and the index at {Path} has none; build it with a dense model (`sift index --corpus PATH --index {Path} --dense --ann hnsw`)");
        }
        var options = requested ?? currentOptions ?? new AnnOptions();
        var sameGraph = currentOptions is not null && current is not null && !rebuild &&
            currentOptions.Connectivity == options.Connectivity && currentOptions.ExpansionAdd == options.ExpansionAdd && currentOptions.Scalar == options.Scalar;
        AnnStore? store = null;
        if (sameGraph)
        {
            try
            {
                store = AnnStore.Open(Path, current!, view: false);
            }
            catch (SiftException)
            {
                store = null; // the committed graph is unreadable: rebuild it from the vectors
            }
        }
        if (store is not null && changes.Count == 0 && currentOptions == options && store.Count == vectors.Count)
        {
            return new PreparedAnn(store, options, Written: false);
        }
        try
        {
            if (store is null)
            {
                store = AnnStore.Build(vectors, options, progress, ct);
            }
            else
            {
                store.Apply(vectors, changes);
            }
            ct.ThrowIfCancellationRequested();
            var name = store.Save(Path);
            data[AnnCommitKey] = name;
            data[AnnOptionsCommitKey] = FormatAnnOptions(options);
            writer.SetCommitData(data);
            return new PreparedAnn(store, options, Written: true);
        }
        catch
        {
            store?.Dispose();
            throw;
        }
    }

    internal static string FormatAnnOptions(AnnOptions o) =>
        $"m={o.Connectivity};ef_add={o.ExpansionAdd};ef={o.ExpansionSearch};scalar={AnnOptions.ScalarName(o.Scalar)}";

    internal static AnnOptions? ParseAnnOptions(string text)
    {
        var map = text.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        try
        {
            return new AnnOptions
            {
                Connectivity = int.Parse(map["m"], System.Globalization.CultureInfo.InvariantCulture),
                ExpansionAdd = int.Parse(map["ef_add"], System.Globalization.CultureInfo.InvariantCulture),
                ExpansionSearch = int.Parse(map["ef"], System.Globalization.CultureInfo.InvariantCulture),
                Scalar = AnnOptions.ParseScalar(map["scalar"]),
            };
        }
        catch (Exception e) when (e is KeyNotFoundException or FormatException or OverflowException or SiftException)
        {
            return null;
        }
    }

    private void WriteManifest(long count, VectorStore? vectors, PreparedAnn? ann)
    {
        // Re-read under the write lock: another instance may have written since this one opened.
        var current = File.Exists(_manifestPath) ? IndexManifest.Read(_manifestPath) : Manifest;
        var manifest = current with
        {
            Updated = DateTimeOffset.UtcNow,
            DocumentCount = count,
            Dense = vectors is null ? null : new DenseManifest(vectors.Model, vectors.Dimension, vectors.Count),
            Ann = ann is null ? null : new AnnManifest("hnsw", ann.Options.Connectivity, ann.Options.ExpansionAdd, ann.Options.ExpansionSearch,
                AnnOptions.ScalarName(ann.Options.Scalar), ann.Store.Count, ann.Store.Name!, "usearch " + HnswIndex.Version),
        };
        manifest.Write(_manifestPath);
        lock (_vectorsGate)
        {
            _manifest = manifest;
            _manifestStamp = Stamp(_manifestPath);
        }
        if (ann is { Written: true })
        {
            // Keep the generation just committed and the one before it (a reader elsewhere may still be on that commit).
            AnnStore.DeleteOthers(Path, [ann.Store.Name, current.Ann?.Name]);
        }
    }

    private static LuceneDocument ToLucene(Sift.Document doc, string id)
    {
        var contents = string.IsNullOrEmpty(doc.Title) ? doc.Text : doc.Title + "\n" + doc.Text;
        var ldoc = new LuceneDocument
        {
            new StringField(IdField, id, Field.Store.YES),
            new Lucene.Net.Documents.TextField(ContentsField, contents, Field.Store.NO),
            new StoredField(TextField, doc.Text),
        };
        if (doc.Title is not null)
        {
            ldoc.Add(new StoredField(TitleField, doc.Title));
        }
        if (MetadataJson.Serialize(doc.Metadata) is { } meta)
        {
            ldoc.Add(new StoredField(MetaField, meta));
        }
        if (doc.Metadata?.GetValueOrDefault(SourceField) is string source)
        {
            ldoc.Add(new StringField(SourceField, source, Field.Store.NO));
        }
        return ldoc;
    }

    private static Sift.Document FromLucene(LuceneDocument ldoc) =>
        new(ldoc.Get(TextField) ?? "", ldoc.Get(IdField), ldoc.Get(TitleField), MetadataJson.Deserialize(ldoc.Get(MetaField)));

    /// <summary>The text a document is embedded as: title + " " + text (the BEIR / sentence-transformers convention).</summary>
    public static string EmbeddingText(Sift.Document document)
    {
        ArgumentNullException.ThrowIfNull(document);
        return string.IsNullOrEmpty(document.Title) ? document.Text : document.Title + " " + document.Text;
    }

    /// <summary>The id given to a document without one: <c>sha256:</c> + the first 16 hex digits of SHA-256(title \0 text).</summary>
    public static string ContentId(Sift.Document document)
    {
        ArgumentNullException.ThrowIfNull(document);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes((document.Title ?? "") + "\0" + document.Text));
        return "sha256:" + Convert.ToHexStringLower(hash.AsSpan(0, 8));
    }

    // ---------------------------------------------------------------- reading

    /// <summary>The stored document with <paramref name="id"/>, or null.</summary>
    public Sift.Document? Get(string id) => Lookup([id])[0];

    /// <summary>Looks up stored documents by id (null where missing), in one searcher snapshot.</summary>
    public IReadOnlyList<Sift.Document?> Lookup(IReadOnlyList<string> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        return WithSearcher(s =>
        {
            var result = new Sift.Document?[ids.Count];
            for (var i = 0; i < ids.Count; i++)
            {
                var hits = s.Search(new TermQuery(new Term(IdField, ids[i])), 1);
                result[i] = hits.ScoreDocs.Length > 0 ? FromLucene(s.Doc(hits.ScoreDocs[0].Doc)) : null;
            }
            return result;
        });
    }

    private List<string> IdsOfSource(string source) => WithSearcher(s =>
    {
        var hits = s.Search(new TermQuery(new Term(SourceField, source)), Math.Max(1, s.IndexReader.MaxDoc));
        var fields = new HashSet<string> { IdField };
        return hits.ScoreDocs.Select(h => s.Doc(h.Doc, fields).Get(IdField)).ToList();
    });

    /// <summary>The analyzed terms of <paramref name="text"/> (lowercased, stopwords removed, Porter-stemmed).</summary>
    public IReadOnlyList<string> Analyze(string text)
    {
        var terms = new List<string>();
        using var stream = _analyzer.GetTokenStream(ContentsField, text);
        var term = stream.AddAttribute<ICharTermAttribute>();
        stream.Reset();
        while (stream.IncrementToken())
        {
            terms.Add(term.ToString());
        }
        stream.End();
        return terms;
    }

    /// <summary>BM25 search: the query is analyzed like the documents and becomes a disjunction of its terms, each
    /// boosted by its count in the query (Anserini's bag-of-words query). No query syntax is interpreted.</summary>
    internal IReadOnlyList<Candidate> SearchBm25(string query, int topN)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (topN <= 0)
        {
            return [];
        }
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var t in Analyze(query))
        {
            if (counts.TryGetValue(t, out var c))
            {
                counts[t] = c + 1;
            }
            else if (order.Count < BooleanQuery.MaxClauseCount)
            {
                counts[t] = 1;
                order.Add(t);
            }
        }
        if (order.Count == 0)
        {
            return []; // empty or all-stopword query
        }
        var bq = new BooleanQuery();
        foreach (var t in order)
        {
            bq.Add(new TermQuery(new Term(ContentsField, t)) { Boost = counts[t] }, Occur.SHOULD);
        }
        return WithSearcher(s =>
        {
            var top = s.Search(bq, topN).ScoreDocs;
            var result = new Candidate[top.Length];
            // Stored fields dominate the cost (~0.1 ms a document, vs ~0.5 ms for the whole search on SciFact); reading
            // them in doc-id order reuses decompressed blocks, ~25% faster than rank order.
            foreach (var i in Enumerable.Range(0, top.Length).OrderBy(i => top[i].Doc))
            {
                result[i] = new Candidate(FromLucene(s.Doc(top[i].Doc)), top[i].Score, i + 1);
            }
            return result;
        });
    }

    /// <summary>The HNSW graph of the latest commit (null: exact dense search only).</summary>
    public AnnInfo? Ann => WithSearcher(s =>
    {
        var data = CommitData(s);
        if (!data.TryGetValue(AnnCommitKey, out var name))
        {
            return null;
        }
        var options = data.TryGetValue(AnnOptionsCommitKey, out var text) ? ParseAnnOptions(text) ?? new AnnOptions() : new AnnOptions();
        return new AnnInfo(name, AnnView(name, options.ExpansionSearch).Count, options);
    });

    /// <summary>
    /// Compares the latest commit's documents with its exact vectors and its HNSW graph (reading every id; O(documents)).
    /// A healthy dense index has every document in both, and nothing else in the graph.
    /// </summary>
    public IndexCheck Check() => WithSearcher(s =>
    {
        var fields = new HashSet<string> { IdField };
        var live = MultiFields.GetLiveDocs(s.IndexReader);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var d = 0; d < s.IndexReader.MaxDoc; d++)
        {
            if (live is null || live.Get(d))
            {
                ids.Add(s.Doc(d, fields).Get(IdField));
            }
        }
        var vectors = RefreshVectors();
        var withoutVector = vectors is null ? 0 : ids.Count(id => !vectors.Contains(id));
        var data = CommitData(s);
        long? annCount = null;
        int withoutAnn = 0, annExtra = 0;
        if (data.TryGetValue(AnnCommitKey, out var name))
        {
            var ann = AnnView(name, new AnnOptions().ExpansionSearch);
            annCount = ann.Count;
            withoutAnn = ids.Count(id => !ann.Contains(id));
            annExtra = ann.Ids.Count(id => !ids.Contains(id));
        }
        return new IndexCheck(ids.Count, vectors?.Count, withoutVector, annCount, withoutAnn, annExtra);
    });

    private (long Generation, long Version, IDictionary<string, string> Data)? _latestCommitData;

    // The commit user data (HNSW generation) that goes with the searcher's documents. A commit that changed only user
    // data (BuildAnnAsync) keeps the segments, and Lucene does not reopen readers for it (same version), so the newest
    // commit on disk is read when its segments are the reader's.
    private IDictionary<string, string> CommitData(IndexSearcher searcher)
    {
        if (searcher.IndexReader is not DirectoryReader reader)
        {
            return new Dictionary<string, string>();
        }
        var own = reader.IndexCommit;
        var generation = SegmentInfos.GetLastCommitGeneration(_directory);
        if (generation == own.Generation || generation < 0)
        {
            return own.UserData;
        }
        lock (_vectorsGate)
        {
            if (_latestCommitData is { } cached && cached.Generation == generation)
            {
                return cached.Version == reader.Version ? cached.Data : own.UserData;
            }
        }
        var infos = new SegmentInfos();
        try
        {
            infos.Read(_directory);
        }
        catch (IOException)
        {
            return own.UserData; // a commit in progress or just replaced: the reader's own is consistent
        }
        lock (_vectorsGate)
        {
            _latestCommitData = (infos.Generation, infos.Version, infos.UserData);
        }
        return infos.Version == reader.Version ? infos.UserData : own.UserData;
    }

    // A memory-mapped, read-only view of a committed generation, opened once per search expansion.
    private AnnStore AnnView(string name, int ef)
    {
        lock (_vectorsGate)
        {
            if (_annViews.TryGetValue((name, ef), out var view))
            {
                return view;
            }
            // Generations other commits named are no longer searched here: close their maps.
            foreach (var stale in _annViews.Keys.Where(k => k.Name != name).ToList())
            {
                _annViews.Remove(stale, out var old);
                old?.Dispose();
            }
            view = AnnStore.Open(Path, name, view: true);
            try
            {
                view.Graph.ExpansionSearch = ef;
            }
            catch
            {
                view.Dispose();
                throw;
            }
            _annViews[(name, ef)] = view;
            return view;
        }
    }

    /// <summary>
    /// Dense search for <paramref name="query"/> (an embedding), exact or through the HNSW graph per
    /// <paramref name="options"/>. HNSW hits are rescored with the exact float32 vectors, so both kinds return the same
    /// scores for the same documents; the graph only decides which documents are candidates. Documents are read from
    /// the same Lucene commit the graph belongs to.
    /// </summary>
    internal IReadOnlyList<Candidate> SearchDense(float[] query, int topN, DenseSearchOptions options)
    {
        var store = RequireDense();
        if (options.ExpansionSearch is { } ef)
        {
            AnnOptions.ValidateExpansionSearch(ef);
        }
        if (options.Kind == DenseSearchKind.Exact)
        {
            return Candidates(store.Search(query, topN));
        }
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return WithSearcher(s =>
                {
                    var data = CommitData(s);
                    if (!data.TryGetValue(AnnCommitKey, out var name))
                    {
                        if (options.Kind == DenseSearchKind.Hnsw)
                        {
                            throw new SiftException($"the index at {Path} has no HNSW graph; build one with `sift index --index {Path} --ann hnsw` or search with --ann exact");
                        }
                        return Candidates(store.Search(query, topN), s);
                    }
                    var built = data.TryGetValue(AnnOptionsCommitKey, out var text) ? ParseAnnOptions(text) : null;
                    var ann = AnnView(name, options.ExpansionSearch ?? built?.ExpansionSearch ?? new AnnOptions().ExpansionSearch);
                    var wanted = Math.Max(topN, ann.Graph.ExpansionSearch);
                    if (ann.Graph.Count <= wanted)
                    {
                        // The search would visit every vector anyway, so the exact scan costs the same and cannot miss a
                        // node the graph left unreachable (near-identical vectors can leave one without in-edges).
                        return Candidates(store.Search(query, topN), s);
                    }
                    // The search keeps ef candidates anyway; taking all of them and rescoring exactly costs little and
                    // recovers neighbours a coarse scalar kind (i8) ranked just below the cut.
                    var hits = ann.Search(query, wanted);
                    var unit = query.ToArray();
                    var norm = System.Numerics.Tensors.TensorPrimitives.Norm(unit);
                    if (norm > 0)
                    {
                        System.Numerics.Tensors.TensorPrimitives.Divide(unit, norm, unit);
                    }
                    var rescored = hits.Select((h, i) => (h.Id, Score: store.Similarity(h.Id, unit) ?? h.Score, Order: i)).ToList();
                    rescored.Sort((a, b) => b.Score != a.Score ? b.Score.CompareTo(a.Score) : a.Order.CompareTo(b.Order));
                    return Candidates(rescored.Take(topN).Select(r => (r.Id, r.Score)).ToList(), s);
                });
            }
            catch (SiftException) when (attempt == 0)
            {
                // Another process committed and removed the generation this searcher named: refresh and retry once.
                _searchers.MaybeRefreshBlocking();
            }
        }
    }

    private IReadOnlyList<Candidate> Candidates(IReadOnlyList<(string Id, float Score)> hits) => WithSearcher(s => Candidates(hits, s));

    // Vectors may briefly be ahead of the Lucene commit (they are saved first); ids Lucene doesn't know are skipped.
    private static IReadOnlyList<Candidate> Candidates(IReadOnlyList<(string Id, float Score)> hits, IndexSearcher s)
    {
        var result = new List<Candidate>(hits.Count);
        foreach (var (id, score) in hits)
        {
            var top = s.Search(new TermQuery(new Term(IdField, id)), 1);
            if (top.ScoreDocs.Length > 0)
            {
                result.Add(new Candidate(FromLucene(s.Doc(top.ScoreDocs[0].Doc)), score, result.Count + 1));
            }
        }
        return result;
    }

    private T WithSearcher<T>(Func<IndexSearcher, T> use)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _searchers.MaybeRefresh(); // cheap when nothing changed; picks up commits by other instances and processes
        var searcher = _searchers.Acquire();
        try
        {
            return use(searcher);
        }
        finally
        {
            _searchers.Release(searcher);
        }
    }

    /// <summary>The current vector store, reloaded when another writer replaced <c>vectors.bin</c>; null without dense vectors.</summary>
    internal VectorStore? RefreshVectors()
    {
        var stamp = Stamp(_vectorsPath);
        lock (_vectorsGate)
        {
            if (stamp == _vectorsStamp)
            {
                return _vectors;
            }
            _vectors = stamp == default ? null : VectorStore.Load(_vectorsPath);
            _vectorsStamp = stamp;
            return _vectors;
        }
    }

    private static (long, long) Stamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.LastWriteTimeUtc.Ticks, info.Length) : default;
    }

    // ---------------------------------------------------------------- retrievers

    /// <summary>A BM25 retriever over this index.</summary>
    public Bm25Retriever Bm25() => new(this);

    /// <summary>A dense retriever; <paramref name="embedder"/> must be the model the index was built with.</summary>
    /// <param name="queryPrefix">Prepended to queries (e.g. "query: " for E5 models).</param>
    /// <param name="search">Exact or HNSW (default: HNSW when the index has a graph).</param>
    /// <exception cref="SiftException">The index has no dense vectors, or HNSW was asked for and the index has no graph.</exception>
    public DenseRetriever Dense(IEmbeddingGenerator<string, Embedding<float>> embedder, string? queryPrefix = null, DenseSearchOptions? search = null)
    {
        RequireDense();
        search ??= DenseSearchOptions.Default;
        if (search.ExpansionSearch is { } ef)
        {
            AnnOptions.ValidateExpansionSearch(ef);
        }
        if (search.Kind == DenseSearchKind.Hnsw && Ann is null)
        {
            throw new SiftException($"the index at {Path} has no HNSW graph; build one with `sift index --index {Path} --ann hnsw` (its vectors are reused) or search with --ann exact");
        }
        return new DenseRetriever(this, embedder, queryPrefix, search);
    }

    /// <summary>BM25 + dense fused (reciprocal rank fusion unless <paramref name="fusion"/> says otherwise); weights are in (bm25, dense) order.</summary>
    public HybridRetriever Hybrid(IEmbeddingGenerator<string, Embedding<float>> embedder, FusionOptions? fusion = null, string? queryPrefix = null, DenseSearchOptions? search = null) =>
        new([Bm25(), Dense(embedder, queryPrefix, search)], fusion);

    internal VectorStore RequireDense() => RefreshVectors()
        ?? throw new SiftException($"the index at {Path} has no dense vectors; rebuild it with a dense model (`sift index --corpus PATH --index {Path} --overwrite` plus the dense model option), or search with BM25");

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        lock (_vectorsGate)
        {
            foreach (var view in _annViews.Values)
            {
                view.Dispose();
            }
            _annViews.Clear();
        }
        _searchers.Dispose();
        _directory.Dispose();
        _analyzer.Dispose();
        _writeGate.Dispose();
    }

    private sealed class Bm25SearcherFactory(Similarity similarity) : SearcherFactory
    {
        public override IndexSearcher NewSearcher(IndexReader reader) => new(reader) { Similarity = similarity };
    }
}
