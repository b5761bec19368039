using System.Text.Json;
using Lucene.Net.Analysis.En;
using Lucene.Net.Documents;
using Lucene.Net.Index;
using Lucene.Net.Store;
using Lucene.Net.Util;

namespace Sift.Retrieval.Tests;

public class SiftIndexTests
{
    private static async Task<SiftIndex> NewIndex(TempDir tmp, IEnumerable<Document>? docs = null)
    {
        var index = SiftIndex.Create(tmp.Sub("idx"));
        await index.AddAsync(docs ?? Corpus.Animals);
        return index;
    }

    private static async Task<List<string?>> Ids(IRetriever r, string query, int n = 10) =>
        (await r.RetrieveAsync(query, n)).Select(c => c.Document.Id).ToList();

    [Fact]
    public async Task Bm25_stems_removes_stopwords_and_returns_full_documents()
    {
        using var tmp = new TempDir();
        using var index = await NewIndex(tmp);
        var bm25 = index.Bm25();

        var hits = await bm25.RetrieveAsync("sleeping cats", 10);
        Assert.Equal(["cat", "catdog"], hits.Select(h => h.Document.Id)); // "sleeping"→"sleep", "cats"→"cat"
        Assert.Equal([1, 2], hits.Select(h => h.Rank));
        Assert.True(hits[0].Score > hits[1].Score);

        var cat = hits[0].Document;
        Assert.Equal(Corpus.Animals[0].Text, cat.Text);
        Assert.Equal("Domestic cat", cat.Title);
        Assert.Equal(2001L, cat.Metadata!["year"]);
        Assert.Equal("en", cat.Metadata!["lang"]);

        await index.AddAsync([new Document("Striped horses of the savanna.", "zebra", "Zebra facts")]);
        Assert.Equal(["zebra"], await Ids(bm25, "zebra")); // title words are indexed too
        Assert.Empty(await bm25.RetrieveAsync("the and of a", 10)); // only stopwords: no terms
        Assert.Empty(await bm25.RetrieveAsync("", 10));
    }

    [Theory]
    [InlineData("cat AND dog")]
    [InlineData("title:cat (dog")]
    [InlineData("\"unbalanced quote cat")]
    [InlineData("cat* ~dog^2 -hamster + || !")]
    [InlineData("\\ / [ ] { } : ?")]
    public async Task Query_syntax_characters_never_throw(string query)
    {
        using var tmp = new TempDir();
        using var index = await NewIndex(tmp);
        var hits = await index.Bm25().RetrieveAsync(query, 10);
        Assert.NotNull(hits);
    }

    [Fact]
    public async Task Query_term_counts_weigh_like_a_bag_of_words()
    {
        using var tmp = new TempDir();
        using var index = await NewIndex(tmp);
        // Repeating a term boosts it (Anserini's bag-of-words query): "dog dog dog cat" prefers the dog document.
        Assert.Equal("dog", (await Ids(index.Bm25(), "dog dog dog cat"))[0]);
        Assert.Equal("cat", (await Ids(index.Bm25(), "cat cat cat dog"))[0]);
    }

    [Fact]
    public async Task Update_by_id_replaces_and_delete_removes()
    {
        using var tmp = new TempDir();
        using var index = await NewIndex(tmp);
        Assert.Equal(6, index.Count);

        var result = await index.AddAsync([new Document("Hamsters run on wheels all night.", "hamster", "Hamster")]);
        Assert.Equal(1, result.Documents);
        Assert.Equal(6, result.TotalDocuments);
        Assert.Equal(6, index.Count);
        Assert.Empty(await Ids(index.Bm25(), "cheek pouches"));
        Assert.Equal(["hamster"], await Ids(index.Bm25(), "wheels"));

        Assert.Equal(2, await index.DeleteAsync(["dog", "parrot", "no-such-id"]));
        Assert.Equal(4, index.Count);
        Assert.Null(index.Get("dog"));
        Assert.Equal(["catdog"], await Ids(index.Bm25(), "dog"));
    }

    [Fact]
    public async Task Documents_without_ids_get_content_ids()
    {
        using var tmp = new TempDir();
        using var index = await NewIndex(tmp, [new Document("an anonymous note about zebras")]);
        var hit = Assert.Single(await index.Bm25().RetrieveAsync("zebra", 5));
        Assert.StartsWith("sha256:", hit.Document.Id);
        Assert.Equal(SiftIndex.ContentId(new Document("an anonymous note about zebras")), hit.Document.Id);
    }

    [Fact]
    public async Task Reingesting_a_changed_file_replaces_its_passages()
    {
        using var tmp = new TempDir();
        var corpus = tmp.Sub("notes");
        tmp.File("notes/long.md", string.Join(' ', Enumerable.Range(0, 12).Select(i => "alpha" + i)) + " zebra");
        tmp.File("notes/sub/other.txt", "unrelated text about otters");
        var options = new CorpusOptions { Chunking = new PassageChunking(5, 1) };
        using var index = SiftIndex.Create(tmp.Sub("idx"), new SiftIndexOptions { Chunking = options.Chunking, Corpus = corpus });

        await index.AddAsync(CorpusReader.Read(corpus, options));
        Assert.Equal(3 + 1, index.Count); // 13 words in windows of 5 overlapping by 1 → 3 passages, plus sub/other.txt#0
        Assert.Equal(["long.md#2"], await Ids(index.Bm25(), "zebra"));

        // The file shrinks to one passage: a plain upsert by id would leave #1 and #2 behind.
        tmp.File("notes/long.md", "short now, mentions giraffes");
        var result = await index.AddAsync(CorpusReader.Read(corpus, options));

        Assert.Equal(2, result.SourcesReplaced);
        Assert.Equal(1 + 1, index.Count);
        Assert.Empty(await Ids(index.Bm25(), "zebra"));
        Assert.Equal(["long.md#0"], await Ids(index.Bm25(), "giraffes"));
        Assert.Equal("long.md", index.Get("long.md#0")!.Metadata!["source"]);

        Assert.Equal(1, await index.DeleteSourceAsync("long.md"));
        Assert.Equal(["sub/other.txt#0"], await Ids(index.Bm25(), "otters giraffes"));
        Assert.Equal(1, index.Count);
    }

    [Fact]
    public async Task Index_survives_restart_and_writes_a_manifest()
    {
        using var tmp = new TempDir();
        var dir = tmp.Sub("idx");
        using (var index = SiftIndex.Create(dir, new SiftIndexOptions { Chunking = new PassageChunking(200, 50), Corpus = "corpus.jsonl" }))
        {
            await index.AddAsync(Corpus.Animals);
        }

        using (var reopened = SiftIndex.Open(dir))
        {
            Assert.Equal(6, reopened.Count);
            Assert.Equal("parrot", (await Ids(reopened.Bm25(), "imitate speech"))[0]);
            Assert.False(reopened.HasDense);
            Assert.Equal(6, reopened.Manifest.DocumentCount);
            Assert.Equal(new PassageChunking(200, 50), reopened.Manifest.Chunking);
        }

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "index.json")));
        var root = json.RootElement;
        Assert.Equal(1, root.GetProperty("version").GetInt32());
        Assert.Equal(6, root.GetProperty("documentCount").GetInt64());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("dense").ValueKind);
        Assert.Equal(200, root.GetProperty("chunking").GetProperty("tokens").GetInt32());
        Assert.Equal(0.9f, root.GetProperty("bm25K1").GetSingle());
        Assert.True(root.GetProperty("created").GetDateTimeOffset() <= DateTimeOffset.UtcNow);
    }

    [Fact]
    public void Opening_a_folder_without_an_index_says_how_to_create_one()
    {
        using var tmp = new TempDir();
        var ex = Assert.Throws<SiftException>(() => SiftIndex.Open(tmp.Path));
        Assert.Equal($"no Sift index at {tmp.Path}; create one with `sift index --corpus PATH --index {tmp.Path}`", ex.Message);
        Assert.Throws<SiftException>(() => SiftIndex.Open(tmp.Sub("missing")));
    }

    [Fact]
    public async Task Create_refuses_foreign_folders_and_existing_indexes_unless_overwriting()
    {
        using var tmp = new TempDir();
        tmp.File("stuff/readme.txt", "not an index");
        Assert.Contains("not empty", Assert.Throws<SiftException>(() => SiftIndex.Create(tmp.Sub("stuff"))).Message);

        (await NewIndex(tmp)).Dispose();
        Assert.Contains("already a Sift index", Assert.Throws<SiftException>(() => SiftIndex.Create(tmp.Sub("idx"))).Message);
        using var fresh = SiftIndex.Create(tmp.Sub("idx"), new SiftIndexOptions { Overwrite = true });
        Assert.Equal(0, fresh.Count);
    }

    [Fact]
    public async Task A_failed_ingest_keeps_the_last_commit()
    {
        using var tmp = new TempDir();
        using var index = await NewIndex(tmp);
        var bad = tmp.File("bad.jsonl", "{\"_id\": \"n1\", \"text\": \"newts are amphibians\"}\n{\"_id\": \"n2\"}\n");

        var ex = await Assert.ThrowsAsync<SiftException>(() => index.AddAsync(CorpusReader.Read(bad)));
        Assert.Contains("line 2", ex.Message);

        Assert.Equal(6, index.Count);
        Assert.Empty(await index.Bm25().RetrieveAsync("newts", 5));
        // The write lock was released: the index is still writable.
        await index.AddAsync([new Document("newts are amphibians", "n1")]);
        Assert.Equal(7, index.Count);
    }

    [Fact]
    public async Task A_crash_mid_ingest_leaves_the_last_commit_intact()
    {
        using var tmp = new TempDir();
        var dir = tmp.Sub("idx");
        (await NewIndex(tmp)).Dispose();

        // A writer that flushes segments to disk (every 2 docs) but never commits, as a process killed mid-ingest would.
        var crashed = tmp.Sub("crashed");
        using (var luceneDir = FSDirectory.Open(Path.Combine(dir, SiftIndex.LuceneFolder)))
        using (var analyzer = new EnglishAnalyzer(LuceneVersion.LUCENE_48))
        {
            var writer = new IndexWriter(luceneDir, new IndexWriterConfig(LuceneVersion.LUCENE_48, analyzer) { MaxBufferedDocs = 2, OpenMode = OpenMode.APPEND });
            for (var i = 0; i < 10; i++)
            {
                writer.AddDocument(new Lucene.Net.Documents.Document
                {
                    new StringField("id", "uncommitted" + i, Field.Store.YES),
                    new TextField("contents", "uncommitted ghost document", Field.Store.NO),
                });
            }
            // Snapshot the directory as the crash leaves it: flushed-but-uncommitted segment files and a stale write.lock.
            CopyDirectory(dir, crashed, skip: "write.lock");
            File.WriteAllText(Path.Combine(crashed, SiftIndex.LuceneFolder, "write.lock"), "");
            Assert.Contains(System.IO.Directory.EnumerateFiles(Path.Combine(crashed, SiftIndex.LuceneFolder)), f => f.EndsWith(".cfs", StringComparison.Ordinal) || f.EndsWith(".fdt", StringComparison.Ordinal));
            writer.Rollback();
        }

        using var recovered = SiftIndex.Open(crashed);
        Assert.Equal(6, recovered.Count);
        Assert.Empty(await recovered.Bm25().RetrieveAsync("ghost", 10));
        await recovered.AddAsync([new Document("after the crash", "post")]); // the stale lock file does not block writing
        Assert.Equal(7, recovered.Count);
    }

    private static void CopyDirectory(string from, string to, string skip)
    {
        foreach (var file in System.IO.Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            if (Path.GetFileName(file) == skip)
            {
                continue;
            }
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    [Fact]
    public async Task A_second_instance_searches_while_the_first_writes()
    {
        using var tmp = new TempDir();
        var dir = tmp.Sub("idx");
        using var writer = await NewIndex(tmp);
        using var reader = SiftIndex.Open(dir);
        var readerBm25 = reader.Bm25();

        var stop = new CancellationTokenSource();
        var searches = 0;
        var firstSearch = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var searching = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var hits = await readerBm25.RetrieveAsync("batch document cat", 20);
                Assert.NotEmpty(hits);
                Interlocked.Increment(ref searches);
                firstSearch.TrySetResult();
            }
        });
        // On a loaded machine the writer can finish before the search task is scheduled: start writing only once the
        // reader is searching, so the writes really overlap searches.
        await firstSearch.Task.WaitAsync(TimeSpan.FromSeconds(60));
        for (var batch = 0; batch < 10; batch++)
        {
            await writer.AddAsync(Enumerable.Range(0, 50).Select(i => new Document($"batch {batch} document {i}", $"b{batch}-{i}")));
        }
        await stop.CancelAsync();
        await searching;

        Assert.True(searches > 0);
        Assert.Equal(6 + 500, reader.Count); // the reader picked up every commit
        Assert.Equal(6 + 500, reader.Manifest.DocumentCount); // and the manifest the writer rewrote
        Assert.Equal(20, (await readerBm25.RetrieveAsync("batch", 20)).Count);
    }

    [Fact]
    public async Task A_second_writer_gets_a_clear_error_while_the_first_holds_the_lock()
    {
        using var tmp = new TempDir();
        using var first = await NewIndex(tmp);
        using var second = SiftIndex.Open(tmp.Sub("idx"));

        var inside = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        IEnumerable<Document> Slow()
        {
            yield return new Document("first writer document", "w1");
            inside.SetResult();
            release.Task.Wait();
            yield return new Document("first writer second document", "w2");
        }

        var writing = Task.Run(() => first.AddAsync(Slow()));
        await inside.Task;
        var ex = await Assert.ThrowsAsync<SiftException>(() => second.AddAsync([new Document("second writer", "x")]));
        Assert.Contains("being written", ex.Message);
        Assert.Equal(6, second.Count); // uncommitted documents are invisible
        release.SetResult();
        await writing;

        Assert.Equal(8, second.Count);
        await second.AddAsync([new Document("second writer", "x")]); // lock released after the first commit
        Assert.Equal(9, first.Count);
    }
}
