using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Sift.Server.Observability;
using Sift.Server.Scoring;

namespace Sift.Server.Http;

/// <summary>
/// Outermost middleware: turns every failure into the JSON error body (never a stack trace), and records
/// request counts by endpoint and status and end-to-end latency.
/// </summary>
internal sealed class ErrorHandlingMiddleware(RequestDelegate next, ServerMetrics metrics, ILogger<ErrorHandlingMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (ApiException ex)
        {
            await ErrorBody.WriteAsync(context, ex.Status, ex.Code, ex.Message, ex.Field, ex.RetryAfterSeconds).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody reads a response. Count it as nginx does.
            context.Response.StatusCode = StatusCodesExt.ClientClosedRequest;
        }
        catch (BadHttpRequestException ex)
        {
            var code = ex.StatusCode == StatusCodes.Status413PayloadTooLarge ? "payload_too_large" : "bad_request";
            await ErrorBody.WriteAsync(context, ex.StatusCode, code, ex.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? "request body is larger than the server's limit (--max-payload-bytes)"
                : "bad request").ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            // The shared store (PostgreSQL) is down or timed out: a temporary condition, so 503 and a retry hint
            // (nginx's proxy_next_upstream can try another replica). The message names the store without credentials.
            logger.LogWarning("Store unavailable on {Method} {Path}: {Message}", context.Request.Method, context.Request.Path, ex.Message);
            await ErrorBody.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "store_unavailable", ex.Message, null, 1).ConfigureAwait(false);
        }
        catch (SiftException ex)
        {
            // User-facing engine errors (e.g. an activation the model cannot use): the message is written for people.
            await ErrorBody.WriteAsync(context, StatusCodes.Status422UnprocessableEntity, "invalid_request", ex.Message).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
            await ErrorBody.WriteAsync(context, StatusCodes.Status500InternalServerError, "internal_error",
                "internal server error; the server log has the details").ConfigureAwait(false);
        }
        finally
        {
            var endpoint = EndpointLabel(context);
            metrics.Requests.WithLabels(endpoint, context.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
            metrics.RequestDuration.WithLabels(endpoint).Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }

    /// <summary>The route pattern (bounded label cardinality); "unmatched" for 404s.</summary>
    private static string EndpointLabel(HttpContext context) =>
        (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText is { } pattern
            ? (pattern.StartsWith('/') ? pattern : "/" + pattern)
            : "unmatched";
}

/// <summary>
/// <c>Authorization: Bearer KEY</c> on every endpoint but /health, compared in constant time
/// (<see cref="CryptographicOperations.FixedTimeEquals"/> over SHA-256 digests, so the length leaks nothing either).
/// </summary>
internal sealed class ApiKeyMiddleware
{
    private readonly RequestDelegate _next;
    private readonly byte[]? _expected;

    public ApiKeyMiddleware(RequestDelegate next, ServerOptions options)
    {
        _next = next;
        _expected = options.ApiKey is { } key ? SHA256.HashData(Encoding.UTF8.GetBytes(key)) : null;
    }

    public Task InvokeAsync(HttpContext context)
    {
        if (_expected is null || context.Request.Path.StartsWithSegments("/health", StringComparison.OrdinalIgnoreCase))
        {
            return _next(context);
        }
        var header = context.Request.Headers.Authorization.ToString();
        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            throw new ApiException(StatusCodes.Status401Unauthorized, "unauthorized", "missing API key: send 'Authorization: Bearer KEY'");
        }
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header[prefix.Length..].Trim()));
        if (!CryptographicOperations.FixedTimeEquals(given, _expected))
        {
            throw new ApiException(StatusCodes.Status401Unauthorized, "unauthorized", "invalid API key");
        }
        return _next(context);
    }
}

/// <summary>
/// Bounds inference requests in flight (--max-concurrent-requests); one more is answered 429 with Retry-After
/// instead of queueing without bound.
/// </summary>
public sealed class ConcurrencyLimiter(ServerOptions options, ServerMetrics metrics)
{
    private readonly ServerMetrics _metrics = metrics;
    private int _inFlight;

    public int InFlight => Volatile.Read(ref _inFlight);

    public Lease Enter()
    {
        var now = Interlocked.Increment(ref _inFlight);
        if (now > options.MaxConcurrentRequests)
        {
            Interlocked.Decrement(ref _inFlight);
            _metrics.Rejected.Inc();
            throw new ApiException(StatusCodes.Status429TooManyRequests, "overloaded",
                $"the server is busy ({options.MaxConcurrentRequests} requests in flight, --max-concurrent-requests); retry later")
            {
                RetryAfterSeconds = options.RetryAfterSeconds,
            };
        }
        _metrics.InFlight.Set(now);
        return new Lease(this);
    }

    public readonly struct Lease(ConcurrencyLimiter owner) : IDisposable
    {
        public void Dispose() => owner._metrics.InFlight.Set(Interlocked.Decrement(ref owner._inFlight));
    }
}
