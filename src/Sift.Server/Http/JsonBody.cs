using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Sift.Server.Http;

/// <summary>
/// Reads a request body under the payload limit and pulls typed fields out of it, turning every problem into an
/// <see cref="ApiException"/> that names the field: malformed JSON is 400, a missing or mistyped field 422, too big 413.
/// Parsing by hand (not model binding) is what lets each error say exactly what was wrong.
/// </summary>
internal static class JsonBody
{
    public static async Task<JsonDocument> ReadAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength is { } declared && declared > maxBytes)
        {
            throw PayloadTooLarge(maxBytes);
        }
        var buffer = new ArrayBufferWriter<byte>(request.ContentLength is { } n and > 0 ? (int)Math.Min(n, maxBytes) : 4096);
        try
        {
            while (true)
            {
                var span = buffer.GetMemory(8192);
                var read = await request.Body.ReadAsync(span, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }
                buffer.Advance(read);
                if (buffer.WrittenCount > maxBytes)
                {
                    throw PayloadTooLarge(maxBytes);
                }
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw PayloadTooLarge(maxBytes);
        }
        if (buffer.WrittenCount == 0)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "empty_body", "request body is empty; send a JSON object");
        }
        try
        {
            return JsonDocument.Parse(buffer.WrittenMemory, new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (JsonException ex)
        {
            throw ApiException.MalformedJson(ex.Message);
        }
    }

    private static ApiException PayloadTooLarge(long maxBytes) =>
        ApiException.TooLarge("payload_too_large", $"request body is larger than the server's limit of {maxBytes} bytes (--max-payload-bytes)");

    public static JsonElement RequireObject(JsonDocument doc)
    {
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw new ApiException(StatusCodes.Status422UnprocessableEntity, "invalid_type", "request body must be a JSON object");
        }
        return doc.RootElement;
    }

    public static string RequireString(JsonElement obj, string field)
    {
        if (!obj.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            throw ApiException.Missing(field);
        }
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw ApiException.WrongType(field, "a string");
    }

    public static string? OptionalString(JsonElement obj, string field)
    {
        if (!obj.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw ApiException.WrongType(field, "a string");
    }

    public static bool OptionalBool(JsonElement obj, string field, bool fallback)
    {
        if (!obj.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return fallback;
        }
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiException.WrongType(field, "a boolean (true or false)"),
        };
    }

    public static int? OptionalInt(JsonElement obj, string field, int min = int.MinValue)
    {
        if (!obj.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var n))
        {
            throw ApiException.WrongType(field, "an integer");
        }
        if (n < min)
        {
            throw ApiException.Invalid(field, $"'{field}' must be at least {min} (got {n})");
        }
        return n;
    }

    public static float? OptionalFloat(JsonElement obj, string field)
    {
        if (!obj.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetSingle(out var f) || !float.IsFinite(f))
        {
            throw ApiException.WrongType(field, "a finite number");
        }
        return f;
    }

    /// <summary>An array of strings (TEI's <c>texts</c>).</summary>
    public static List<string> RequireStringArray(JsonElement obj, string field, int maxCount)
    {
        var arr = RequireArray(obj, field, maxCount);
        var list = new List<string>(arr.GetArrayLength());
        var i = 0;
        foreach (var e in arr.EnumerateArray())
        {
            list.Add(e.ValueKind == JsonValueKind.String ? e.GetString()! : throw ApiException.WrongType($"{field}[{i}]", "a string"));
            i++;
        }
        return list;
    }

    /// <summary>Cohere/Jina documents: strings or objects with a string <c>text</c>.</summary>
    public static List<string> RequireDocuments(JsonElement obj, string field, int maxCount)
    {
        var arr = RequireArray(obj, field, maxCount);
        var list = new List<string>(arr.GetArrayLength());
        var i = 0;
        foreach (var e in arr.EnumerateArray())
        {
            var name = $"{field}[{i}]";
            if (e.ValueKind == JsonValueKind.String)
            {
                list.Add(e.GetString()!);
            }
            else if (e.ValueKind == JsonValueKind.Object)
            {
                if (!e.TryGetProperty("text", out var t) || t.ValueKind == JsonValueKind.Null)
                {
                    throw ApiException.Missing(name + ".text");
                }
                list.Add(t.ValueKind == JsonValueKind.String ? t.GetString()! : throw ApiException.WrongType(name + ".text", "a string"));
            }
            else
            {
                throw ApiException.WrongType(name, "a string or an object with a \"text\" string");
            }
            i++;
        }
        return list;
    }

    /// <summary>The length of an array field, checked before any element is read (so a too-big batch is a cheap 413).</summary>
    public static JsonElement RequireArray(JsonElement obj, string field, int maxCount)
    {
        if (!obj.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            throw ApiException.Missing(field);
        }
        if (v.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.WrongType(field, "an array");
        }
        var count = v.GetArrayLength();
        if (count == 0)
        {
            throw ApiException.Invalid(field, $"'{field}' cannot be empty");
        }
        if (count > maxCount)
        {
            throw ApiException.TooLarge("too_many_documents",
                $"'{field}' has {count} entries, more than the server's limit of {maxCount} (--max-client-batch-size)", field);
        }
        return v;
    }
}
