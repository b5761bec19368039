using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;

namespace Sift.Store.Postgres;

/// <summary>
/// A parsed <c>postgres://[user[:password]@]host[:port]/database[?schema=NAME&amp;...]</c> store address (libpq's URI
/// form; <c>postgresql://</c> too). Query parameters: <c>schema</c> (the PostgreSQL schema holding Sift's tables, default
/// <c>sift</c>: one corpus per schema), <c>connect_timeout</c> and <c>command_timeout</c> (seconds), <c>sslmode</c>,
/// <c>pool_size</c>. Without a password in the URI, Npgsql reads PGPASSWORD or ~/.pgpass, which keeps secrets out of
/// process lists. <see cref="Redacted"/> is the only form that is ever printed or logged.
/// </summary>
public sealed partial record PostgresLocation
{
    public const string DefaultSchema = "sift";

    public required string Host { get; init; }
    public int Port { get; init; } = 5432;
    public required string Database { get; init; }
    public string? Username { get; init; }
    internal string? Password { get; init; }
    public string Schema { get; init; } = DefaultSchema;

    /// <summary>Seconds to wait for a connection (a down or frozen server is an error after this, not a hang).</summary>
    public int ConnectTimeoutSeconds { get; init; } = 5;

    /// <summary>Seconds a query may run before it is cancelled and reported (ingest statements get longer).</summary>
    public int CommandTimeoutSeconds { get; init; } = 15;

    public string? SslMode { get; init; }
    public int MaxPoolSize { get; init; } = 32;

    /// <summary>Whether <paramref name="value"/> is a PostgreSQL store address rather than an index folder.</summary>
    public static bool IsStoreAddress(string? value) =>
        value is not null && (value.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || value.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase));

    /// <exception cref="SiftException">Not a valid address; the message shows the expected form (and never echoes a password).</exception>
    public static PostgresLocation Parse(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        const string form = "postgres://USER@HOST:PORT/DATABASE?schema=NAME (password from PGPASSWORD or ~/.pgpass)";
        if (!IsStoreAddress(address) || !Uri.TryCreate(address, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new SiftException($"--store must look like {form}; got '{RedactRaw(address)}'.");
        }
        var database = Uri.UnescapeDataString(uri.AbsolutePath.Trim('/'));
        if (database.Length == 0 || database.Contains('/'))
        {
            throw new SiftException($"--store needs a database name after the host: {form}; got '{RedactRaw(address)}'.");
        }
        string? user = null, password = null;
        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':');
            user = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            password = colon < 0 ? null : Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
        }
        var location = new PostgresLocation
        {
            Host = uri.Host.Trim('[', ']'),
            Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port,
            Database = database,
            Username = user,
            Password = password,
        };
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]).ToLowerInvariant();
            var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            location = key switch
            {
                "schema" => location with { Schema = ValidSchema(value) },
                "connect_timeout" => location with { ConnectTimeoutSeconds = Seconds(key, value) },
                "command_timeout" => location with { CommandTimeoutSeconds = Seconds(key, value) },
                "sslmode" => location with { SslMode = value },
                "pool_size" => location with { MaxPoolSize = Seconds(key, value) },
                _ => throw new SiftException($"--store: unknown parameter '{key}'. Known: schema, connect_timeout, command_timeout, sslmode, pool_size."),
            };
        }
        return location;
    }

    /// <summary>The address without its password: what logs, errors and /info show.</summary>
    public string Redacted =>
        $"postgres://{(Username is null ? "" : Uri.EscapeDataString(Username) + "@")}{(Host.Contains(':') ? $"[{Host}]" : Host)}:{Port}/{Uri.EscapeDataString(Database)}?schema={Schema}";

    public override string ToString() => Redacted;

    /// <summary>The Npgsql connection string (holds the password: never print it).</summary>
    internal string ConnectionString(int? commandTimeoutSeconds = null)
    {
        var b = new NpgsqlConnectionStringBuilder
        {
            Host = Host,
            Port = Port,
            Database = Database,
            Timeout = ConnectTimeoutSeconds,
            CommandTimeout = commandTimeoutSeconds ?? CommandTimeoutSeconds,
            // After a command timeout Npgsql asks the server to cancel; a frozen server gets this long before the
            // connection is dropped, so the caller hears back in about command + 2 s.
            CancellationTimeout = 2000,
            // Detects a peer that vanished without closing the socket (pulled cable, frozen VM).
            KeepAlive = 10,
            MaxPoolSize = MaxPoolSize,
            ApplicationName = "sift",
            IncludeErrorDetail = false,
        };
        if (Username is not null) b.Username = Username;
        if (Password is not null) b.Password = Password;
        if (SslMode is not null)
        {
            b.SslMode = Enum.TryParse<SslMode>(SslMode.Replace("-", ""), ignoreCase: true, out var mode)
                ? mode
                : throw new SiftException($"--store: sslmode '{SslMode}' is not one of disable, allow, prefer, require, verify-ca, verify-full.");
        }
        return b.ConnectionString;
    }

    private static string ValidSchema(string value) =>
        SchemaName().IsMatch(value) ? value : throw new SiftException($"--store: schema '{value}' must be a lower-case identifier (letters, digits, _; e.g. schema=scifact).");

    private static int Seconds(string key, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0
            ? v
            : throw new SiftException($"--store: {key} must be a positive integer (got '{value}').");

    /// <summary>Any address as it may be printed: parsed and redacted, or with user:password@ masked when it does not parse.</summary>
    public static string Redact(string address)
    {
        try
        {
            return Parse(address).Redacted;
        }
        catch (SiftException)
        {
            return RedactRaw(address);
        }
    }

    /// <summary>Strips user:password@ from an address that failed to parse, so an error never echoes a secret.</summary>
    internal static string RedactRaw(string address) => Credentials().Replace(address, "://***@");

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex SchemaName();

    [GeneratedRegex("://[^/@]*@")]
    private static partial Regex Credentials();
}
