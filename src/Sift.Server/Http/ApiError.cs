using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Sift.Server.Http;

/// <summary>
/// An error answered to the client as <c>{"error": {"code", "message", "field"?}}</c> with an HTTP status.
/// Thrown anywhere in request handling; <see cref="ErrorHandlingMiddleware"/> writes it.
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

    public static ApiException MalformedJson(string detail) => new(StatusCodes.Status400BadRequest, "malformed_json", $"request body is not valid JSON: {detail}");
    public static ApiException Missing(string field) => new(StatusCodes.Status422UnprocessableEntity, "missing_field", $"'{field}' is required", field);
    public static ApiException WrongType(string field, string expected) => new(StatusCodes.Status422UnprocessableEntity, "invalid_type", $"'{field}' must be {expected}", field);
    public static ApiException Invalid(string field, string message) => new(StatusCodes.Status422UnprocessableEntity, "invalid_value", message, field);
    public static ApiException TooLarge(string code, string message, string? field = null) => new(StatusCodes.Status413PayloadTooLarge, code, message, field);
}

/// <summary>The JSON error body every failure uses.</summary>
internal static class ErrorBody
{
    public static async Task WriteAsync(HttpContext context, int status, string code, string message, string? field = null, int? retryAfter = null)
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
        if (status == StatusCodes.Status401Unauthorized)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
        }
        await using var writer = new Utf8JsonWriter(context.Response.Body, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        writer.WriteStartObject();
        writer.WriteStartObject("error");
        writer.WriteString("code", code);
        writer.WriteString("message", message);
        if (field is not null)
        {
            writer.WriteString("field", field);
        }
        writer.WriteEndObject();
        // TEI clients read a top-level error_type; keep it for them.
        writer.WriteString("error_type", code);
        writer.WriteEndObject();
        await writer.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }
}
