using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Sift.Store.Postgres.Tests;

/// <summary>
/// A throw-away PostgreSQL cluster of the tests' own: <c>initdb</c> in a temporary folder, password (SCRAM) auth on a
/// free loopback port, pgvector available, stopped and deleted on dispose. Runs as the <c>postgres</c> user when the
/// tests run as root (PostgreSQL refuses to run as root).
/// </summary>
public sealed class PgCluster : IAsyncDisposable
{
    private static readonly Lazy<(string? Bin, string? Why)> Probe = new(ProbeInstall);
    private readonly string _root;
    private readonly string _data;

    private PgCluster(string root, int port, string password)
    {
        _root = root;
        _data = Path.Combine(root, "data");
        Port = port;
        Password = password;
    }

    /// <summary>Why no cluster can start here (null: it can). In CI (SIFT_CI=1) tests never skip: they fail with this.</summary>
    public static string? Unavailable => Probe.Value.Why;

    public int Port { get; }
    public string Password { get; }
    public const string User = "sift";

    /// <summary>An address with the password in it (what the redaction tests look for) and short timeouts.</summary>
    public string Address(string schema, int commandTimeout = 10) =>
        $"postgres://{User}:{Password}@127.0.0.1:{Port}/postgres?schema={schema}&connect_timeout=3&command_timeout={commandTimeout}";

    /// <summary>The same address without the password (the tests then pass it in PGPASSWORD).</summary>
    public string AddressWithoutPassword(string schema) => $"postgres://{User}@127.0.0.1:{Port}/postgres?schema={schema}&connect_timeout=3&command_timeout=10";

    public static async Task<PgCluster> StartAsync()
    {
        var (bin, why) = Probe.Value;
        if (bin is null)
        {
            throw new InvalidOperationException("PostgreSQL test cluster cannot start: " + why);
        }
        var root = Directory.CreateTempSubdirectory("sift-pg-").FullName;
        var password = "pw-" + Guid.NewGuid().ToString("N")[..12];
        var cluster = new PgCluster(root, FreePort(), password);
        File.WriteAllText(Path.Combine(root, "pwfile"), password + "\n");
        if (IsRoot)
        {
            Run("chown", ["-R", "postgres:postgres", root]);
        }
        await Task.Run(() =>
        {
            RunPg(Path.Combine(bin, "initdb"), ["-D", cluster._data, "-U", User, "--pwfile", Path.Combine(root, "pwfile"), "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"]);
            RunPg(Path.Combine(bin, "pg_ctl"), ["-D", cluster._data, "-l", Path.Combine(root, "log"), "-w", "-t", "60",
                "-o", $"-p {cluster.Port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=64MB", "start"]);
        }).ConfigureAwait(false);
        return cluster;
    }

    /// <summary>Stops the cluster the way a crash or an admin would: immediate (no shutdown checkpoint).</summary>
    public void StopImmediately()
    {
        RunPg(Path.Combine(Probe.Value.Bin!, "pg_ctl"), ["-D", _data, "-m", "immediate", "-w", "stop"]);
    }

    /// <summary>SIGSTOP / SIGCONT to the postmaster and every backend: a frozen server that accepts TCP but never answers.</summary>
    public void Signal(string signal)
    {
        foreach (var pid in ClusterPids())
        {
            Run("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }
    }

    private IEnumerable<int> ClusterPids()
    {
        var pidFile = Path.Combine(_data, "postmaster.pid");
        var postmaster = int.Parse(File.ReadLines(pidFile).First(), System.Globalization.CultureInfo.InvariantCulture);
        yield return postmaster;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) == postmaster) yield return pid;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            Signal("CONT");
            await Task.Run(() => RunPg(Path.Combine(Probe.Value.Bin!, "pg_ctl"), ["-D", _data, "-m", "immediate", "-w", "stop"], check: false)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or FormatException)
        {
            // already stopped
        }
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static bool IsRoot => Environment.UserName == "root";

    private static (string?, string?) ProbeInstall()
    {
        string? bin = null;
        try
        {
            bin = Run("pg_config", ["--bindir"]).Trim();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            bin = Directory.Exists("/usr/lib/postgresql") ? Directory.GetDirectories("/usr/lib/postgresql").Order().Select(d => Path.Combine(d, "bin")).LastOrDefault() : null;
        }
        if (bin is null || !File.Exists(Path.Combine(bin, "initdb")) || !File.Exists(Path.Combine(bin, "pg_ctl")))
        {
            return (null, "PostgreSQL server binaries (initdb, pg_ctl) are not installed; `apt-get install postgresql-15 postgresql-server-dev-15` (.ci/run does it)");
        }
        string share;
        try
        {
            var pgConfig = File.Exists(Path.Combine(bin, "pg_config")) ? Path.Combine(bin, "pg_config") : "pg_config";
            share = Run(pgConfig, ["--sharedir"]).Trim();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return (null, "pg_config is missing, so pgvector cannot be found or built: `apt-get install postgresql-server-dev-15` (.ci/run does it)");
        }
        if (!File.Exists(Path.Combine(share, "extension", "vector.control")))
        {
            return (null, $"pgvector is not installed ({share}/extension/vector.control missing); build it from ../shared/vendor/pgvector-0.8.6.tar.gz (see its README; .ci/run does it)");
        }
        if (IsRoot && !UserExists("postgres"))
        {
            return (null, "running as root but there is no 'postgres' user to run the cluster as (PostgreSQL refuses root)");
        }
        return (bin, null);
    }

    private static bool UserExists(string name) => File.ReadLines("/etc/passwd").Any(l => l.StartsWith(name + ":", StringComparison.Ordinal));

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static string RunPg(string exe, string[] args, bool check = true) =>
        IsRoot ? Run("runuser", ["-u", "postgres", "--", exe, .. args], check) : Run(exe, args, check);

    private static string Run(string exe, string[] args, bool check = true)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(90)))
        {
            p.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{exe} did not finish in 90 s");
        }
        if (check && p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{exe} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr.Result}{stdout.Result}");
        }
        return stdout.Result;
    }
}

/// <summary>[Fact] that skips, saying why, when PostgreSQL or pgvector is missing, except in CI (SIFT_CI=1), where it runs and fails.</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (PgCluster.Unavailable is { } why && Environment.GetEnvironmentVariable("SIFT_CI") != "1")
        {
            Skip = "needs PostgreSQL with pgvector: " + why;
        }
    }
}

/// <summary>One cluster shared by the tests that do not break it.</summary>
public sealed class PgClusterFixture : IAsyncLifetime
{
    private PgCluster? _cluster;

    public PgCluster Cluster => _cluster ?? throw new InvalidOperationException("PostgreSQL test cluster cannot start: " + PgCluster.Unavailable);

    public async Task InitializeAsync()
    {
        if (PgCluster.Unavailable is null || Environment.GetEnvironmentVariable("SIFT_CI") == "1")
        {
            _cluster = await PgCluster.StartAsync();
        }
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
    }
}

[CollectionDefinition("postgres")]
public sealed class PostgresCollection : ICollectionFixture<PgClusterFixture>;
