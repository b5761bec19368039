using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Sift.Server.Observability;

namespace Sift.Server.Http;

/// <summary>
/// Outermost middleware: turns every failure into the JSON error body (never a stack trace), and records
/// request counts by endpoint and status and end-to-end latency.
/// </summary>
internal sealed class ErrorHandlingMiddleware(RequestDelegate next, ServerMetrics metrics, ILogger<ErrorHandlingMiddleware> logger)
{
    /// <summary>Longest request line (method, target, version) answered normally; longer is a JSON 414.</summary>
    public const int MaxRequestLineBytes = 8 * 1024;

    /// <summary>Largest header block (names and values) answered normally; larger is a JSON 431. Kestrel's own default.</summary>
    public const int MaxRequestHeaderBytes = 32 * 1024;

    /// <summary>Most headers answered normally; more is a JSON 431. Kestrel's own default.</summary>
    public const int MaxRequestHeaderCount = 100;

    /// <summary>
    /// Kestrel's hard limits, set well above the ones above: Kestrel answers its own limits with an empty body
    /// before any middleware runs, so the real limits are enforced here, where the answer can be JSON. Only a
    /// request line or header block over these (1 MiB) still gets Kestrel's empty 414/431.
    /// </summary>
    public const int KestrelLineAndHeaderBytes = 1024 * 1024;

    public async Task InvokeAsync(HttpContext context)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            CheckRequestSize(context);
            await next(context).ConfigureAwait(false);
            if (context.Response.StatusCode >= 400 && !context.Response.HasStarted)
            {
                // An error the framework produced without a body (405 from routing, a 404 from a framework endpoint): JSON too.
                await ErrorBody.WriteAsync(context, context.Response.StatusCode, StatusCode(context.Response.StatusCode),
                    $"{context.Request.Method} {context.Request.Path}: {ReasonPhrase(context.Response.StatusCode)}").ConfigureAwait(false);
            }
        }
        catch (ApiException ex)
        {
            await ErrorBody.WriteAsync(context, ex.Status, ex.Code, ex.Message, ex.Field, ex.RetryAfterSeconds, ex.Allow).ConfigureAwait(false);
        }
        catch (Batching.QueueFullException ex)
        {
            // Only reachable past --max-concurrent-requests or while shutting down: the queue never grows without bound.
            await ErrorBody.WriteAsync(context, StatusCodes.Status429TooManyRequests, "overloaded", ex.Message, null, 1).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody reads a response. Count it as nginx does.
            context.Response.StatusCode = StatusCodesExt.ClientClosedRequest;
        }
        catch (BadHttpRequestException ex)
        {
            var (code, message) = ex.StatusCode switch
            {
                StatusCodes.Status413PayloadTooLarge => ("payload_too_large", "request body is larger than the server's limit (--max-payload-bytes)"),
                StatusCodes.Status408RequestTimeout => ("request_timeout", "the request body arrived too slowly (under Kestrel's minimum data rate of 240 bytes/s); send it at once"),
                _ => ("bad_request", "the request is not valid HTTP: " + ex.Message),
            };
            await ErrorBody.WriteAsync(context, ex.StatusCode, code, message).ConfigureAwait(false);
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
        catch (ArgumentException ex)
        {
            // Options the engine refuses (a threshold outside a bounded activation's [0, 1]): the caller's mistake, as the CLI treats it.
            await ErrorBody.WriteAsync(context, StatusCodes.Status422UnprocessableEntity, "invalid_request", ex.Message).ConfigureAwait(false);
        }
        catch (Sift.Tokenizers.TokenizerException ex)
        {
            await ErrorBody.WriteAsync(context, StatusCodes.Status422UnprocessableEntity, "tokenizer", "the tokenizer could not read the input: " + ex.Message).ConfigureAwait(false);
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

    private static void CheckRequestSize(HttpContext context)
    {
        var target = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "";
        var line = context.Request.Method.Length + 1 + target.Length + 1 + context.Request.Protocol.Length;
        if (line > MaxRequestLineBytes)
        {
            throw new ApiException(StatusCodes.Status414RequestUriTooLong, "uri_too_long",
                $"the request line is {line} bytes, more than the server's limit of {MaxRequestLineBytes}; send the data in a POST body");
        }
        long headerBytes = 0;
        foreach (var (name, values) in context.Request.Headers)
        {
            headerBytes += name.Length;
            foreach (var v in values)
            {
                headerBytes += v?.Length ?? 0;
            }
        }
        if (headerBytes > MaxRequestHeaderBytes || context.Request.Headers.Count > MaxRequestHeaderCount)
        {
            throw new ApiException(StatusCodes.Status431RequestHeaderFieldsTooLarge, "headers_too_large",
                $"the request has {context.Request.Headers.Count} headers of {headerBytes} bytes, more than the server's limit of {MaxRequestHeaderCount} headers or {MaxRequestHeaderBytes} bytes");
        }
    }

    private static string StatusCode(int status) => status switch
    {
        StatusCodes.Status404NotFound => "not_found",
        StatusCodes.Status405MethodNotAllowed => "method_not_allowed",
        StatusCodes.Status415UnsupportedMediaType => "unsupported_media_type",
        >= 500 => "internal_error",
        _ => "bad_request",
    };

    private static string ReasonPhrase(int status) => status switch
    {
        StatusCodes.Status405MethodNotAllowed => "method not allowed on this route; see /openapi/v1.json for each route's method",
        StatusCodes.Status404NotFound => "not found; see /openapi/v1.json",
        _ => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status).ToLowerInvariant(),
    };

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

internal static class StatusCodesExt
{
    public const int ClientClosedRequest = 499;
    public static bool IsSuccess(int status) => status is >= StatusCodes.Status200OK and < 300;
}
