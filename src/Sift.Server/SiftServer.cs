using System.Net;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sift.Server.Runtime;
using Sift.Server.Http;
using Sift.Server.Observability;

namespace Sift.Server;

/// <summary>
/// Builds the <c>sift serve</c> web app: HTTP router (minimal APIs, <c>Http/</c>) → validation (the request records) →
/// the library's scoring path (<c>CrossEncoder.RerankWithUsageAsync</c>) → the batching queue as its runner →
/// ONNX Runtime, in the shape of Hugging Face TEI. The CLI and the tests host exactly the same app:
/// <code>
/// var builder = SiftServer.CreateBuilder(options);   // tests: builder.WebHost.UseTestServer();
/// var app = SiftServer.Build(builder);
/// await app.RunAsync();
/// </code>
/// </summary>
public static class SiftServer
{
    /// <summary>A builder with the server's services, Kestrel bound to <see cref="ServerOptions.Host"/>:<see cref="ServerOptions.Port"/>.</summary>
    /// <exception cref="SiftException">An option cannot work; the message says which.</exception>
    public static WebApplicationBuilder CreateBuilder(ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });

        var localhost = string.Equals(options.Host, "localhost", StringComparison.OrdinalIgnoreCase);
        IPAddress? ip = null;
        if (!localhost && !IPAddress.TryParse(options.Host.Trim('[', ']'), out ip))
        {
            throw new SiftException($"--host '{options.Host}' is not an IP address; pass e.g. 127.0.0.1 (loopback), ::1 or 0.0.0.0 (all interfaces).");
        }
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxPayloadBytes;
            // Kestrel answers its own line/header limits with an empty body; ErrorHandlingMiddleware enforces the real
            // (lower) ones with a JSON 414/431, so Kestrel's are raised above them.
            k.Limits.MaxRequestLineSize = ErrorHandlingMiddleware.KestrelLineAndHeaderBytes;
            k.Limits.MaxRequestHeadersTotalSize = ErrorHandlingMiddleware.KestrelLineAndHeaderBytes;
            k.Limits.MaxRequestHeaderCount = ErrorHandlingMiddleware.MaxRequestHeaderCount * 10;
            if (ip is null)
            {
                k.ListenLocalhost(options.Port);
            }
            else
            {
                k.Listen(ip, options.Port);
            }
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
        builder.Services.ConfigureHttpJsonOptions(j => Configure(j.SerializerOptions));
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddSingleton<ModelRegistry>();
        builder.Services.AddSingleton<ConcurrencyLimiter>();
        builder.Services.AddSingleton<ShutdownDrain>();
        builder.Services.AddHostedService<ModelLoaderService>();
        builder.Services.AddOpenApi(OpenApiDocument.Configure);
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        return builder;
    }

    /// <summary>Builds the app from <paramref name="builder"/> (see <see cref="CreateBuilder"/>) and maps every endpoint.</summary>
    public static WebApplication Build(WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var app = builder.Build();
        app.MapSiftEndpoints();
        return app;
    }

    /// <summary>Adds the server's middleware (errors, metrics, API key) and endpoints to an app built from <see cref="CreateBuilder"/>.</summary>
    public static WebApplication MapSiftEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var metrics = app.Services.GetRequiredService<ServerMetrics>();
        app.UseMiddleware<ErrorHandlingMiddleware>();
        app.UseMiddleware<ApiKeyMiddleware>();
        app.UseRouting();
        Endpoints.Map(app, metrics);
        return app;
    }

    /// <summary>
    /// Runs the server until SIGTERM / Ctrl+C (or <paramref name="cancellationToken"/>), then drains: Kestrel stops
    /// accepting, in-flight requests finish (up to <see cref="ServerOptions.ShutdownTimeout"/>), the batching workers
    /// finish what is queued, and the call returns. Returns 0, or 2 when a model failed to load.
    /// </summary>
    public static async Task<int> RunAsync(ServerOptions options, CancellationToken cancellationToken = default)
    {
        var builder = CreateBuilder(options with { ExitOnLoadFailure = true });
        // Signals drain (503 to new requests, in-flight ones finish) instead of closing the port at once.
        builder.Services.AddSingleton<IHostLifetime, DrainingLifetime>();
        var app = Build(builder);
        await using (app.ConfigureAwait(false))
        {
            var registry = app.Services.GetRequiredService<ModelRegistry>();
            var drain = app.Services.GetRequiredService<ShutdownDrain>();
            using var reg = cancellationToken.Register(() => _ = drain.DrainAsync());
            await app.RunAsync().ConfigureAwait(false); // disposes the app's services when it returns
            return registry.State == ServerState.Failed ? 2 : 0;
        }
    }

    /// <summary>JSON settings of every response: snake_case, nulls omitted, readable non-ASCII.</summary>
    public static void Configure(JsonSerializerOptions json)
    {
        ArgumentNullException.ThrowIfNull(json);
        json.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        json.DictionaryKeyPolicy = null;
        json.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        json.Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
        json.NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals;
    }
}
