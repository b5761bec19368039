using System.Diagnostics;
using System.Text.Json;
using Npgsql;
using Sift.Retrieval;

namespace Sift.Store.Postgres.Tests;

/// <summary>The real CLI (sift.dll beside the tests) in a child process.</summary>
internal static class Sift
{
    public static ProcessStartInfo Start(PgCluster? passwordFrom, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sift.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (passwordFrom is not null) psi.Environment["PGPASSWORD"] = passwordFrom.Password;
        return psi;
    }

    public static (int Exit, string Stdout, string Stderr, TimeSpan Took) Run(PgCluster? passwordFrom, params string[] args)
    {
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(Start(passwordFrom, args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("sift " + string.Join(' ', args) + " did not finish in 3 minutes");
        }
        return (p.ExitCode, stdout.Result, stderr.Result, sw.Elapsed);
    }
}

[Collection("postgres")]
public sealed class PostgresCliTests(PgClusterFixture fixture)
{
    private PgCluster Cluster => fixture.Cluster;

    [PostgresFact]
    public async Task Killing_sift_index_mid_ingest_leaves_the_previous_state()
    {
        var schema = "kill_" + Guid.NewGuid().ToString("N")[..8];
        var address = Cluster.AddressWithoutPassword(schema);
        var corpus = Path.Combine(Data.SciFact, "corpus.jsonl");
        using var embedder = Data.Embedder();

        // The previous state: 50 documents with vectors from the same model file the CLI records.
        var before = Data.Docs(50).Select(d => d with { Text = "previous " + d.Text }).ToList();
        using (var store = await PostgresStore.OpenAsync(Cluster.Address(schema), create: true))
        {
            await store.AddAsync(before, new IndexAddOptions { Embedder = embedder, DenseModel = embedder.Model.OnnxPath });
        }

        // A real `sift index` over the whole corpus (5,183 documents), killed (SIGKILL) once its transaction has written rows.
        using var p = Process.Start(Sift.Start(Cluster, "index", "--corpus", corpus, "--store", address, "--dense-model", Data.BiEncoderPath))!;
        _ = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await using var admin = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = Cluster.Port, Username = PgCluster.User, Password = Cluster.Password, Database = "postgres",
        }.ConnectionString);
        var deadline = DateTime.UtcNow.AddSeconds(90);
        long copied = 0;
        while (DateTime.UtcNow < deadline && !p.HasExited)
        {
            // pg_stat_progress_copy: rows the ingest's COPY has streamed into its (uncommitted) transaction.
            await using var cmd = admin.CreateCommand("SELECT coalesce(max(c.tuples_processed), 0) FROM pg_stat_progress_copy c JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'sift'");
            copied = (long)(await cmd.ExecuteScalarAsync())!;
            if (copied > 0) break;
            await Task.Delay(20);
        }
        Assert.False(p.HasExited, "sift index finished before it could be killed: " + (p.HasExited ? await stderr : ""));
        Assert.True(copied > 0, "the ingest never started copying rows");
        await Task.Delay(300);
        p.Kill();
        await p.WaitForExitAsync();
        Assert.NotEqual(0, p.ExitCode);

        // PostgreSQL rolled the vanished client's transaction back: exactly the previous 50 documents, unchanged.
        using (var store = await PostgresStore.OpenAsync(Cluster.Address(schema), create: false))
        {
            Assert.Equal(50, store.Count);
            var now = await store.LookupAsync(before.Select(d => d.Id!).ToList());
            Assert.Equal(before.Select(d => d.Text), now.Select(d => d!.Text));
            Assert.Equal(embedder.Model.OnnxPath, store.DenseModel);
        }

        // The write lock went with the killed session: the next ingest runs and commits.
        var small = Path.Combine(Path.GetTempPath(), $"sift-pg-small-{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(small, Enumerable.Range(0, 5).Select(i => JsonSerializer.Serialize(new { _id = "new" + i, title = "", text = "new document number " + i })));
        try
        {
            var r = Sift.Run(Cluster, "index", "--corpus", small, "--store", address, "--dense-model", Data.BiEncoderPath);
            Assert.True(r.Exit == 0, r.Stderr);
            Assert.Contains("now holds 55", r.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(small);
        }
    }

    [PostgresFact]
    public async Task Sift_search_on_a_store_uses_fts_and_says_bm25_is_not_what_it_has()
    {
        var schema = "cli_" + Guid.NewGuid().ToString("N")[..8];
        using (var store = await PostgresStore.OpenAsync(Cluster.Address(schema), create: true))
        {
            await store.AddAsync(Data.Docs(200));
        }
        var address = Cluster.AddressWithoutPassword(schema);
        var ok = Sift.Run(Cluster, "search", "--store", address, "-q", "cholesterol levels", "--format", "json", "-k", "3");
        Assert.True(ok.Exit == 0, ok.Stderr);
        var hits = JsonDocument.Parse(ok.Stdout).RootElement;
        Assert.Equal(3, hits.GetArrayLength());
        Assert.All(hits.EnumerateArray(), h => Assert.False(string.IsNullOrEmpty(h.GetProperty("id").GetString())));

        var bm25 = Sift.Run(Cluster, "search", "--store", address, "-q", "x", "--mode", "bm25");
        Assert.Equal(2, bm25.Exit);
        Assert.Contains("ts_rank_cd, which is not BM25", bm25.Stderr, StringComparison.Ordinal);

        var both = Sift.Run(null, "index", "--corpus", Path.Combine(Data.SciFact, "corpus.jsonl"), "--store", address, "--index", "/tmp/x");
        Assert.Equal(2, both.Exit);
        Assert.Contains("exactly one", both.Stderr, StringComparison.Ordinal);
    }

    [PostgresFact]
    public async Task A_database_that_is_down_is_a_quick_clear_error_not_a_hang()
    {
        await using var cluster = await PgCluster.StartAsync();
        using (var store = await PostgresStore.OpenAsync(cluster.Address("down"), create: true))
        {
            await store.AddAsync(Data.Docs(20));
        }
        cluster.StopImmediately();
        var r = Sift.Run(cluster, "search", "--store", cluster.AddressWithoutPassword("down"), "-q", "anything");
        Assert.Equal(2, r.Exit);
        Assert.Contains("is unavailable", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(cluster.Password, r.Stderr, StringComparison.Ordinal);
        Assert.True(r.Took < TimeSpan.FromSeconds(30), $"took {r.Took}");
    }
}
