using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.AI;
using Npgsql;
using NpgsqlTypes;
using Pgvector;
using Sift.Retrieval;

namespace Sift.Store.Postgres;

/// <summary>Tuning of a <see cref="PostgresStore"/>.</summary>
public sealed record PostgresStoreOptions
{
    /// <summary>pgvector <c>hnsw.ef_search</c> floor per dense query; the query raises it to its top-N when that is larger
    /// (HNSW returns at most ef_search rows, so ef_search below top-N would silently cut the list).</summary>
    public int EfSearch { get; init; } = 200;

    /// <summary>HNSW graph connectivity (pgvector's <c>m</c>), used when the index is first built.</summary>
    public int HnswM { get; init; } = 16;

    /// <summary>HNSW candidate list at build time (pgvector's <c>ef_construction</c>).</summary>
    public int HnswEfConstruction { get; init; } = 64;

    /// <summary><c>ts_rank_cd</c> normalization bits (PostgreSQL's docs, 12.3.3): 4 divides by the mean harmonic distance
    /// between extents, 1 by 1 + log(document length). 5 = 4|1 scored best of 0, 1, 2, 4, 5, 6, 8 on SciFact (nDCG@10 0.469
    /// vs 0.337 for 0; benchmarks/README.md). It is still not BM25: no IDF, no term-frequency saturation.</summary>
    public int RankNormalization { get; init; } = 5;

    /// <summary>Seconds an ingest statement (the final upsert, the HNSW build) may run.</summary>
    public int IngestCommandTimeoutSeconds { get; init; } = 3600;

    public static PostgresStoreOptions Default { get; } = new();
}

/// <summary>
/// Documents, metadata and vectors in PostgreSQL, searched by PostgreSQL itself: full-text search (a <c>tsvector</c>
/// column with the <c>english</c> configuration, GIN index, OR-of-terms queries ranked by <c>ts_rank_cd</c>: cover
/// density, <b>not BM25</b>) and pgvector HNSW (cosine). Fusion and reranking stay in Sift (<see cref="SearchCorpusExtensions.Hybrid"/>).
/// <para>
/// One corpus per PostgreSQL schema (<c>?schema=NAME</c>, default <c>sift</c>): tables <c>documents</c> and <c>sift_meta</c>.
/// Any number of processes (several <c>sift serve</c>) search one database; writers take a transaction-scoped advisory
/// lock, so two ingests queue instead of interleaving.
/// </para>
/// <para>
/// Faults: every add or delete is one transaction (a crash or kill mid-ingest leaves the previous state, since
/// PostgreSQL rolls back the open transaction of a vanished client). Connections time out after the address's
/// <c>connect_timeout</c> and queries after <c>command_timeout</c>; a database that is down, frozen or goes away
/// mid-query raises <see cref="StoreUnavailableException"/> (the server's 503), never a hang. Credentials never appear in
/// <see cref="Location"/> or in any message.
/// </para>
/// Thread-safe.
/// </summary>
public sealed class PostgresStore : ISearchCorpus
{
    private const int SchemaVersion = 1;
    private readonly NpgsqlDataSource _db;
    private readonly NpgsqlDataSource _writer; // same database, the long ingest command timeout
    private readonly string _s; // schema name, validated as an identifier by PostgresLocation
    private string? _denseModel;
    private int? _dimension;

    private PostgresStore(PostgresLocation address, NpgsqlDataSource db, NpgsqlDataSource writer, PostgresStoreOptions options)
    {
        Address = address;
        _db = db;
        _writer = writer;
        _s = address.Schema;
        Options = options;
    }

    public PostgresLocation Address { get; }
    public PostgresStoreOptions Options { get; }
    public string Location => Address.Redacted;
    public string LexicalName => "fts";

    /// <inheritdoc/>
    public string? DenseModel
    {
        get
        {
            if (_denseModel is null) RefreshMeta(CancellationToken.None).GetAwaiter().GetResult();
            return _denseModel;
        }
    }

    /// <summary>Dimension of the stored vectors (null: none yet).</summary>
    public int? Dimension => _dimension;

    public long Count => Run("count documents", async ct =>
    {
        await using var cmd = _db.CreateCommand($"SELECT count(*) FROM {_s}.documents");
        return (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Opens the store at <paramref name="address"/>. With <paramref name="create"/>, installs the vector
    /// extension and creates the schema and tables when missing; without, a missing corpus is an error.</summary>
    /// <exception cref="StoreUnavailableException">The database cannot be reached.</exception>
    /// <exception cref="SiftException">Bad address, wrong credentials, or (without create) no corpus there.</exception>
    public static async Task<PostgresStore> OpenAsync(string address, bool create, PostgresStoreOptions? options = null, CancellationToken cancellationToken = default)
    {
        var location = PostgresLocation.Parse(address);
        options ??= PostgresStoreOptions.Default;
        if (create)
        {
            // DDL on a plain connection first: the vector type must exist before a data source maps it.
            await Guard(location, "create the schema", async ct =>
            {
                // DDL waits for other writers' locks: the ingest timeout, not the query one.
                await using var conn = new NpgsqlConnection(location.ConnectionString(options.IngestCommandTimeoutSeconds));
                await conn.OpenAsync(ct).ConfigureAwait(false);
                await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
                await Exec(conn, "SELECT pg_advisory_xact_lock(hashtextextended('sift:ddl', 0))", ct).ConfigureAwait(false);
                await Exec(conn, "CREATE EXTENSION IF NOT EXISTS vector", ct).ConfigureAwait(false);
                await Exec(conn, $"""
                    CREATE SCHEMA IF NOT EXISTS {location.Schema};
                    CREATE TABLE IF NOT EXISTS {location.Schema}.sift_meta (key text PRIMARY KEY, value text NOT NULL);
                    CREATE TABLE IF NOT EXISTS {location.Schema}.documents (
                        id text PRIMARY KEY,
                        title text,
                        body text NOT NULL,
                        metadata jsonb,
                        tsv tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, coalesce(title, '') || ' ' || body)) STORED,
                        embedding vector);
                    CREATE INDEX IF NOT EXISTS documents_tsv ON {location.Schema}.documents USING gin (tsv);
                    CREATE INDEX IF NOT EXISTS documents_source ON {location.Schema}.documents ((metadata->>'source'));
                    INSERT INTO {location.Schema}.sift_meta VALUES ('schema_version', '{SchemaVersion}') ON CONFLICT DO NOTHING;
                    """, ct).ConfigureAwait(false);
                await tx.CommitAsync(ct).ConfigureAwait(false);
                return 0;
            }, cancellationToken).ConfigureAwait(false);
        }
        var builder = new NpgsqlDataSourceBuilder(location.ConnectionString());
        builder.UseVector();
        var db = builder.Build();
        var writerBuilder = new NpgsqlDataSourceBuilder(location.ConnectionString(options.IngestCommandTimeoutSeconds));
        writerBuilder.UseVector();
        var store = new PostgresStore(location, db, writerBuilder.Build(), options);
        try
        {
            await store.Run("open the corpus", async ct =>
            {
                await using var cmd = db.CreateCommand($"SELECT to_regclass('{location.Schema}.documents') IS NOT NULL");
                if (!(bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!)
                {
                    throw new SiftException($"{location.Redacted} holds no Sift corpus (no table {location.Schema}.documents). Create it with `sift index --corpus PATH --store {location.Redacted}`.");
                }
                return 0;
            }, cancellationToken).ConfigureAwait(false);
            await store.RefreshMeta(cancellationToken).ConfigureAwait(false);
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>Synchronous <see cref="OpenAsync"/>.</summary>
    public static PostgresStore Open(string address, bool create = false, PostgresStoreOptions? options = null) =>
        OpenAsync(address, create, options).GetAwaiter().GetResult();

    // ---------------------------------------------------------------- retrievers

    public IRetriever Lexical() => new PostgresFullTextRetriever(this);

    public IRetriever Dense(IEmbeddingGenerator<string, Embedding<float>> embedder, string? queryPrefix = null)
    {
        ArgumentNullException.ThrowIfNull(embedder);
        if (DenseModel is null)
        {
            throw new SiftException($"the store {Location} has no vectors; rebuild it with a dense model (`sift index --corpus PATH --store {Location} --overwrite --dense`), or search with fts");
        }
        return new PostgresVectorRetriever(this, embedder, queryPrefix);
    }

    internal async Task<IReadOnlyList<Candidate>> SearchFullTextAsync(string query, int topN, CancellationToken cancellationToken)
    {
        // plainto_tsquery parses any text safely (no query syntax) into 'a' & 'b' & ...; BEIR-style retrieval wants any
        // term to match, so the ANDs become ORs. ts_rank_cd then scores by cover density: not BM25 (no IDF, no saturation).
        var sql = $"""
            SELECT d.id, d.title, d.body, d.metadata::text, ts_rank_cd(d.tsv, q.q, {Options.RankNormalization})::real AS score
            FROM {_s}.documents d, (SELECT replace(plainto_tsquery('english', @query)::text, ' & ', ' | ')::tsquery AS q) q
            WHERE d.tsv @@ q.q
            ORDER BY score DESC, d.id
            LIMIT @n
            """;
        return await Run("full-text search", async ct =>
        {
            await using var cmd = _db.CreateCommand(sql);
            cmd.Parameters.AddWithValue("query", query);
            cmd.Parameters.AddWithValue("n", topN);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await ReadCandidates(reader, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    internal async Task<IReadOnlyList<Candidate>> SearchVectorAsync(ReadOnlyMemory<float> vector, int topN, CancellationToken cancellationToken)
    {
        var ef = Math.Clamp(Math.Max(Options.EfSearch, topN), 1, 1000); // pgvector's limit is 1000
        return await Run("vector search", async ct =>
        {
            await using var conn = await _db.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var batch = new NpgsqlBatch(conn);
            // One round trip: set ef_search on this connection, then the ordered index scan (cosine distance <=>).
            var set = new NpgsqlBatchCommand("SELECT set_config('hnsw.ef_search', @ef, false)");
            set.Parameters.AddWithValue("ef", ef.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var search = new NpgsqlBatchCommand($"""
                SELECT id, title, body, metadata::text, (1 - (embedding <=> @v))::real AS score
                FROM {_s}.documents WHERE embedding IS NOT NULL
                ORDER BY embedding <=> @v LIMIT @n
                """);
            search.Parameters.AddWithValue("v", new Vector(vector));
            search.Parameters.AddWithValue("n", topN);
            batch.BatchCommands.Add(set);
            batch.BatchCommands.Add(search);
            await using var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.NextResultAsync(ct).ConfigureAwait(false);
            return await ReadCandidates(reader, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<IReadOnlyList<Candidate>> ReadCandidates(NpgsqlDataReader reader, CancellationToken ct)
    {
        var list = new List<Candidate>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var doc = new Document(
                reader.GetString(2),
                reader.GetString(0),
                reader.IsDBNull(1) ? null : reader.GetString(1),
                reader.IsDBNull(3) ? null : MetadataJson.Deserialize(reader.GetString(3)));
            list.Add(new Candidate(doc, reader.GetFloat(4), list.Count + 1));
        }
        return list;
    }

    /// <summary>Looks documents up by id (null where missing).</summary>
    public async Task<IReadOnlyList<Document?>> LookupAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var found = await Run("look up documents", async ct =>
        {
            await using var cmd = _db.CreateCommand($"SELECT id, title, body, metadata::text, 0::real FROM {_s}.documents WHERE id = ANY(@ids)");
            cmd.Parameters.AddWithValue("ids", ids.ToArray());
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await ReadCandidates(reader, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        var byId = found.ToDictionary(c => c.Document.Id!, c => c.Document);
        return ids.Select(id => byId.GetValueOrDefault(id)).ToArray();
    }

    // ---------------------------------------------------------------- writing

    /// <summary>
    /// Adds or replaces documents (by id; documents without one get <see cref="SiftIndex.ContentId"/>), embedding them
    /// with <see cref="IndexAddOptions.Embedder"/>, in <b>one transaction</b>: readers see all of it or none of it, and a
    /// failure, cancellation or kill leaves the previous state. Rows are streamed to a temporary table with binary
    /// COPY while embedding, then upserted; the HNSW index is built after the first vectors are loaded (faster than
    /// inserting into it row by row) and maintained by PostgreSQL after that.
    /// </summary>
    /// <param name="overwrite">Delete every existing document (in the same transaction).</param>
    public async Task<IndexAddResult> AddAsync(IEnumerable<Document> documents, IndexAddOptions? options = null, bool overwrite = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documents);
        options ??= new IndexAddOptions();
        var embedder = options.Embedder;
        var model = embedder is null ? null : options.DenseModel ?? embedder.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId ?? "unknown";
        var total = Stopwatch.StartNew();
        var embedTime = TimeSpan.Zero;
        long read = 0, embedded = 0;

        var result = await Run("ingest", async ct =>
        {
            await using var conn = await _writer.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            await Exec(conn, $"SELECT pg_advisory_xact_lock(hashtextextended('sift:write:{_s}', 0))", ct).ConfigureAwait(false);
            if (overwrite)
            {
                await Exec(conn, $"TRUNCATE {_s}.documents; DELETE FROM {_s}.sift_meta WHERE key IN ('dense_model', 'dense_dimension')", ct).ConfigureAwait(false);
            }
            var meta = await ReadMeta(conn, ct).ConfigureAwait(false);
            meta.TryGetValue("dense_model", out var storedModel);
            long existing;
            await using (var cmd = new NpgsqlCommand($"SELECT count(*) FROM {_s}.documents", conn))
            {
                existing = (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            }
            // Same rules as Sift's own index: dense search must always cover every document.
            if (storedModel is not null && model is null)
            {
                throw new SiftException($"the store {Location} has vectors from {storedModel}; pass the same dense model to add documents (or --overwrite to rebuild without vectors).");
            }
            if (storedModel is not null && model is not null && storedModel != model)
            {
                throw new SiftException($"the store {Location} has vectors from {storedModel}, not {model}; use the same model, or --overwrite to rebuild.");
            }
            if (storedModel is null && model is not null && existing > 0)
            {
                throw new SiftException($"the store {Location} holds {existing:N0} documents without vectors; rebuild it with --overwrite to add a dense model.");
            }

            await Exec(conn, "CREATE TEMP TABLE sift_incoming (ord bigint, id text, title text, body text, metadata jsonb, embedding vector) ON COMMIT DROP", ct).ConfigureAwait(false);
            int? dimension = meta.TryGetValue("dense_dimension", out var d) ? int.Parse(d, System.Globalization.CultureInfo.InvariantCulture) : null;
            var window = new List<Document>(options.EmbeddingWindow);
            async Task Flush()
            {
                if (window.Count == 0) return;
                float[]?[] vectors = new float[window.Count][];
                if (embedder is not null)
                {
                    // Length-sorted batches pad less (see IndexAddOptions.EmbeddingWindow).
                    var order = Enumerable.Range(0, window.Count).OrderBy(i => SiftIndex.EmbeddingText(window[i]).Length).ToArray();
                    var started = Stopwatch.StartNew();
                    for (var b = 0; b < order.Length; b += options.EmbeddingBatchSize)
                    {
                        var slice = order.Skip(b).Take(options.EmbeddingBatchSize).ToArray();
                        var texts = slice.Select(i => (options.DocumentPrefix ?? "") + SiftIndex.EmbeddingText(window[i])).ToList();
                        var generated = await embedder.GenerateAsync(texts, null, ct).ConfigureAwait(false);
                        for (var k = 0; k < slice.Length; k++)
                        {
                            vectors[slice[k]] = generated[k].Vector.ToArray();
                        }
                        embedded += slice.Length;
                        options.Progress?.Report(new IndexProgress(read, embedded, total.Elapsed, false));
                    }
                    embedTime += started.Elapsed;
                    dimension ??= vectors[0]!.Length;
                    if (vectors.FirstOrDefault(v => v!.Length != dimension) is { } odd)
                    {
                        throw new SiftException($"the embedder returned {odd.Length}-d vectors but the store holds {dimension}-d ones; use the model the store was built with.");
                    }
                }
                await using (var writer = await conn.BeginBinaryImportAsync("COPY sift_incoming (ord, id, title, body, metadata, embedding) FROM STDIN (FORMAT BINARY)", ct).ConfigureAwait(false))
                {
                    for (var i = 0; i < window.Count; i++)
                    {
                        var doc = window[i];
                        await writer.StartRowAsync(ct).ConfigureAwait(false);
                        await writer.WriteAsync(read - window.Count + i, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                        await writer.WriteAsync(doc.Id ?? SiftIndex.ContentId(doc), NpgsqlDbType.Text, ct).ConfigureAwait(false);
                        if (doc.Title is null) await writer.WriteNullAsync(ct).ConfigureAwait(false);
                        else await writer.WriteAsync(doc.Title, NpgsqlDbType.Text, ct).ConfigureAwait(false);
                        await writer.WriteAsync(doc.Text ?? "", NpgsqlDbType.Text, ct).ConfigureAwait(false);
                        if (MetadataJson.Serialize(doc.Metadata) is { } json) await writer.WriteAsync(json, NpgsqlDbType.Jsonb, ct).ConfigureAwait(false);
                        else await writer.WriteNullAsync(ct).ConfigureAwait(false);
                        if (vectors[i] is { } v) await writer.WriteAsync(new Vector(v), ct).ConfigureAwait(false);
                        else await writer.WriteNullAsync(ct).ConfigureAwait(false);
                    }
                    await writer.CompleteAsync(ct).ConfigureAwait(false);
                }
                window.Clear();
            }

            foreach (var doc in documents)
            {
                ct.ThrowIfCancellationRequested();
                if (doc.Text is null) throw new SiftException($"document {doc.Id ?? "#" + read} has no text.");
                window.Add(doc);
                read++;
                if (read % 1000 == 0) options.Progress?.Report(new IndexProgress(read, embedded, total.Elapsed, false));
                if (window.Count >= options.EmbeddingWindow) await Flush().ConfigureAwait(false);
            }
            await Flush().ConfigureAwait(false);

            long replacedSources = 0;
            if (options.ReplaceSources)
            {
                await using var cmd = new NpgsqlCommand($"""
                    DELETE FROM {_s}.documents d USING (SELECT DISTINCT metadata->>'source' AS src FROM sift_incoming WHERE metadata ? 'source') x
                    WHERE d.metadata->>'source' = x.src
                    """, conn) { CommandTimeout = Options.IngestCommandTimeoutSeconds };
                replacedSources = await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            if (dimension is { } dim && storedModel is null)
            {
                // First vectors: fix the column's dimension (HNSW needs one).
                await Exec(conn, $"ALTER TABLE {_s}.documents ALTER COLUMN embedding TYPE vector({dim})", ct).ConfigureAwait(false);
            }
            long added;
            await using (var cmd = new NpgsqlCommand($"""
                INSERT INTO {_s}.documents (id, title, body, metadata, embedding)
                SELECT DISTINCT ON (id) id, title, body, metadata, embedding FROM sift_incoming ORDER BY id, ord DESC
                ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body, metadata = EXCLUDED.metadata, embedding = EXCLUDED.embedding
                """, conn) { CommandTimeout = Options.IngestCommandTimeoutSeconds })
            {
                added = await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            if (dimension is not null)
            {
                await Exec(conn, "SET LOCAL maintenance_work_mem = '512MB'", ct).ConfigureAwait(false);
                await using var cmd = new NpgsqlCommand($"CREATE INDEX IF NOT EXISTS documents_embedding_hnsw ON {_s}.documents USING hnsw (embedding vector_cosine_ops) WITH (m = {Options.HnswM}, ef_construction = {Options.HnswEfConstruction})", conn)
                { CommandTimeout = Options.IngestCommandTimeoutSeconds };
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                await using var upsert = new NpgsqlCommand($"""
                    INSERT INTO {_s}.sift_meta VALUES ('dense_model', @model), ('dense_dimension', @dim)
                    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
                    """, conn);
                upsert.Parameters.AddWithValue("model", model!);
                upsert.Parameters.AddWithValue("dim", dimension.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
                await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            long after;
            await using (var cmd = new NpgsqlCommand($"SELECT count(*) FROM {_s}.documents", conn))
            {
                after = (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            }
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return new IndexAddResult(added, embedded, replacedSources, after, total.Elapsed, embedTime);
        }, cancellationToken, ingest: true).ConfigureAwait(false);
        await RefreshMeta(cancellationToken).ConfigureAwait(false);
        options.Progress?.Report(new IndexProgress(read, embedded, total.Elapsed, true));
        return result;
    }

    /// <summary>Deletes documents by id in one transaction; returns how many existed.</summary>
    public Task<int> DeleteAsync(IEnumerable<string> ids, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var list = ids.ToArray();
        return Run("delete documents", async ct =>
        {
            await using var conn = await _writer.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            await Exec(conn, $"SELECT pg_advisory_xact_lock(hashtextextended('sift:write:{_s}', 0))", ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand($"DELETE FROM {_s}.documents WHERE id = ANY(@ids)", conn);
            cmd.Parameters.AddWithValue("ids", list);
            var n = await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return n;
        }, cancellationToken);
    }

    // ---------------------------------------------------------------- plumbing

    private async Task RefreshMeta(CancellationToken cancellationToken)
    {
        var meta = await Run("read the corpus settings", async ct =>
        {
            await using var conn = await _db.OpenConnectionAsync(ct).ConfigureAwait(false);
            return await ReadMeta(conn, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        _denseModel = meta.GetValueOrDefault("dense_model");
        _dimension = meta.TryGetValue("dense_dimension", out var d) ? int.Parse(d, System.Globalization.CultureInfo.InvariantCulture) : null;
    }

    private async Task<Dictionary<string, string>> ReadMeta(NpgsqlConnection conn, CancellationToken ct)
    {
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        await using var cmd = new NpgsqlCommand($"SELECT key, value FROM {_s}.sift_meta", conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            meta[reader.GetString(0)] = reader.GetString(1);
        }
        return meta;
    }

    private static async Task Exec(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private Task<T> Run<T>(string what, Func<CancellationToken, Task<T>> body, CancellationToken ct, bool ingest = false) =>
        Guard(Address, what, body, ct, ingest);

    /// <summary>Turns driver failures into errors that name the store (without credentials) and the fix.</summary>
    private static async Task<T> Guard<T>(PostgresLocation at, string what, Func<CancellationToken, Task<T>> body, CancellationToken ct, bool ingest = false)
    {
        try
        {
            return await body(ct).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState is "28P01" or "28000" or "3D000" or "42501")
        {
            // Configuration problems: wrong password or user, no such database, missing privilege. Retrying won't help.
            throw new SiftException($"PostgreSQL at {at.Redacted} refused to {what}: {ex.MessageText} ({ex.SqlState}). Check the user, database and password (PGPASSWORD or ~/.pgpass).", ex);
        }
        catch (PostgresException ex) when (ex.SqlState.StartsWith("08", StringComparison.Ordinal) || ex.SqlState.StartsWith("57P", StringComparison.Ordinal) || ex.SqlState is "53300" or "57014")
        {
            throw new StoreUnavailableException($"PostgreSQL at {at.Redacted} is unavailable ({ex.MessageText}); could not {what}. Retry once it is back{(ingest ? "; nothing of this ingest was committed" : "")}.", ex);
        }
        catch (PostgresException ex) when (ex.SqlState is "42P01" or "42703")
        {
            throw new SiftException($"{at.Redacted} does not hold a Sift corpus of this version ({ex.MessageText}); create one with `sift index --corpus PATH --store {at.Redacted}`.", ex);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested && ex is NpgsqlException or TimeoutException or SocketException or IOException
                                   || ex is OperationCanceledException && !ct.IsCancellationRequested)
        {
            var reason = ex.InnerException is TimeoutException || ex is TimeoutException || ex.Message.Contains("Timeout", StringComparison.OrdinalIgnoreCase)
                ? $"no answer within {(ex.Message.Contains("connect", StringComparison.OrdinalIgnoreCase) ? at.ConnectTimeoutSeconds + " s (connect_timeout)" : "the command timeout")}"
                : ex.InnerException is SocketException se ? se.Message : ex.Message;
            throw new StoreUnavailableException($"PostgreSQL at {at.Redacted} is unavailable ({reason}); could not {what}. Check that the server is up and reachable, then retry{(ingest ? "; nothing of this ingest was committed" : "")}.", ex);
        }
    }

    public void Dispose()
    {
        _db.Dispose();
        _writer.Dispose();
    }
}

/// <summary>PostgreSQL full-text search over a <see cref="PostgresStore"/>, ranked by <c>ts_rank_cd</c> (not BM25).</summary>
public sealed class PostgresFullTextRetriever(PostgresStore store) : IRetriever
{
    public string Name => "fts";

    public Task<IReadOnlyList<Candidate>> RetrieveAsync(string query, int topN, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (topN <= 0 || string.IsNullOrWhiteSpace(query)) return Task.FromResult<IReadOnlyList<Candidate>>([]);
        return store.SearchFullTextAsync(query, topN, cancellationToken);
    }
}

/// <summary>pgvector HNSW (cosine) over a <see cref="PostgresStore"/>: the query is embedded by Sift, searched by PostgreSQL.</summary>
public sealed class PostgresVectorRetriever(PostgresStore store, IEmbeddingGenerator<string, Embedding<float>> embedder, string? queryPrefix) : IRetriever
{
    public string Name => "dense";

    public async Task<IReadOnlyList<Candidate>> RetrieveAsync(string query, int topN, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (topN <= 0 || string.IsNullOrWhiteSpace(query)) return [];
        var embeddings = await embedder.GenerateAsync([(queryPrefix ?? "") + query], null, cancellationToken).ConfigureAwait(false);
        return await store.SearchVectorAsync(embeddings[0].Vector, topN, cancellationToken).ConfigureAwait(false);
    }
}
