using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Sift.Server.Http;

/// <summary>
/// An error answered to the client with an HTTP status, in the error shape of the protocol the route speaks
/// (see <see cref="ErrorBody"/>). Thrown only by the HTTP layer; <see cref="ErrorHandlingMiddleware"/> writes it.
/// </summary>
public sealed class ApiException : Exception
{
    public ApiException(int status, string code, string message, string? field = null) : base(message)
    {
        Status = status;
        Code = code;
        Field = field;
    }

    public int Status { get; }
    public string Code { get; }
    public string? Field { get; }

    /// <summary>Seconds for a Retry-After header (429/503), if any.</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>The Allow header of a 405: the methods the route takes.</summary>
    public string? Allow { get; init; }

    public static ApiException MalformedJson(string detail) => new(StatusCodes.Status400BadRequest, "malformed_json", $"request body is not valid JSON: {detail}");
    public static ApiException Missing(string field) => new(StatusCodes.Status422UnprocessableEntity, "missing_field", $"'{field}' is required", field);
    public static ApiException WrongType(string field, string expected) => new(StatusCodes.Status422UnprocessableEntity, "invalid_type", $"'{field}' must be {expected}", field);
    public static ApiException Invalid(string field, string message) => new(StatusCodes.Status422UnprocessableEntity, "invalid_value", message, field);
    public static ApiException TooLarge(string code, string message, string? field = null) => new(StatusCodes.Status413PayloadTooLarge, code, message, field);

    public static ApiException InvalidText(string field) => new(StatusCodes.Status400BadRequest, "invalid_text",
        $"'{field}' is not valid text: it holds bytes that are not UTF-8, or an unpaired UTF-16 surrogate escape (\\ud800-\\udfff); send valid UTF-8", field);
}

/// <summary>Which protocol's error body a route answers with.</summary>
internal enum ErrorShape
{
    /// <summary>Sift's own routes: <c>{"error": {"code", "message", "field"?}, "error_type"}</c>.</summary>
    Sift,

    /// <summary>Hugging Face TEI (<c>/rerank</c>, <c>/health</c>, <c>/info</c>): <c>{"error": MESSAGE, "error_type": Validation|Overloaded|Tokenizer|Backend|Unhealthy}</c>.</summary>
    Tei,

    /// <summary>Cohere and Jina (<c>/v1/rerank</c>, <c>/v2/rerank</c>): <c>{"message": MESSAGE}</c>, what their SDKs read.</summary>
    Cohere,
}

/// <summary>The JSON error body every failure uses, in the shape of the route's protocol.</summary>
internal static class ErrorBody
{
    /// <summary>
    /// The shape by path, not by endpoint: errors raised before routing (API key, request line too long) need it too.
    /// Every shape also carries Sift's <c>code</c> and <c>field</c> so a client can tell errors apart without parsing text.
    /// </summary>
    public static ErrorShape ShapeOf(PathString path)
    {
        var p = (path.Value ?? "").TrimEnd('/');
        if (p.Equals("/rerank", StringComparison.OrdinalIgnoreCase) || p.Equals("/health", StringComparison.OrdinalIgnoreCase) || p.Equals("/info", StringComparison.OrdinalIgnoreCase))
        {
            return ErrorShape.Tei;
        }
        if (p.Equals("/v1/rerank", StringComparison.OrdinalIgnoreCase) || p.Equals("/v2/rerank", StringComparison.OrdinalIgnoreCase))
        {
            return ErrorShape.Cohere;
        }
        return ErrorShape.Sift;
    }

    /// <summary>TEI's error_type for a status (TEI's <c>ErrorType</c> enum, spelled as TEI serializes it).</summary>
    public static string TeiErrorType(int status, string code) => status switch
    {
        StatusCodes.Status429TooManyRequests => "Overloaded",
        StatusCodes.Status503ServiceUnavailable => "Unhealthy",
        >= 500 => "Backend",
        _ when code == "tokenizer" => "Tokenizer",
        _ => "Validation",
    };

    public static async Task WriteAsync(HttpContext context, int status, string code, string message, string? field = null, int? retryAfter = null, string? allow = null)
    {
        if (context.Response.HasStarted)
        {
            return;
        }
        context.Response.Clear();
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        if (retryAfter is { } s)
        {
            context.Response.Headers.RetryAfter = s.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        if (allow is not null)
        {
            context.Response.Headers.Allow = allow;
        }
        if (status == StatusCodes.Status401Unauthorized)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
        }
        if (HttpMethods.IsHead(context.Request.Method))
        {
            return; // HEAD: the status and headers only
        }
        await using var writer = new Utf8JsonWriter(context.Response.Body, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        writer.WriteStartObject();
        switch (ShapeOf(context.Request.Path))
        {
            case ErrorShape.Tei:
                writer.WriteString("error", message);
                writer.WriteString("error_type", TeiErrorType(status, code));
                writer.WriteString("code", code);
                if (field is not null) writer.WriteString("field", field);
                break;
            case ErrorShape.Cohere:
                writer.WriteString("message", message);
                writer.WriteString("code", code);
                if (field is not null) writer.WriteString("field", field);
                break;
            default:
                writer.WriteStartObject("error");
                writer.WriteString("code", code);
                writer.WriteString("message", message);
                if (field is not null) writer.WriteString("field", field);
                writer.WriteEndObject();
                writer.WriteString("error_type", TeiErrorType(status, code));
                break;
        }
        writer.WriteEndObject();
        await writer.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }
}
