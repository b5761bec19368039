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

    /// <summary>
    /// <see cref="JsonElement.TryGetProperty(string, out JsonElement)"/>, which unescapes every property name it
    /// compares and throws on a name holding a lone surrogate escape: that is the client's error too.
    /// </summary>
    private static bool TryGet(JsonElement obj, string name, out JsonElement value)
    {
        try
        {
            return obj.TryGetProperty(name, out value);
        }
        catch (InvalidOperationException)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_text",
                "a property name in the request body is not valid text (an unpaired UTF-16 surrogate escape, \\ud800-\\udfff); send valid UTF-8");
        }
    }

    public static string RequireString(JsonElement obj, string field)
    {
        if (!TryGet(obj, field, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            throw ApiException.Missing(field);
        }
        return v.ValueKind == JsonValueKind.String ? Text(v, field) : throw ApiException.WrongType(field, "a string");
    }

    /// <summary>
    /// A JSON string's text. JSON can carry what .NET strings cannot hold faithfully (bytes that are not UTF-8, an
    /// escaped lone surrogate like <c>"\ud800"</c>); <see cref="JsonElement.GetString"/> throws on those, and that is
    /// the client's error (400 naming the field), not the server's.
    /// </summary>
    public static string Text(JsonElement v, string field)
    {
        try
        {
            return v.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw ApiException.InvalidText(field);
        }
    }

    public static string? OptionalString(JsonElement obj, string field)
    {
        if (!TryGet(obj, field, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return v.ValueKind == JsonValueKind.String ? Text(v, field) : throw ApiException.WrongType(field, "a string");
    }

    public static bool OptionalBool(JsonElement obj, string field, bool fallback)
    {
        if (!TryGet(obj, field, out var v) || v.ValueKind == JsonValueKind.Null)
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
        if (!TryGet(obj, field, out var v) || v.ValueKind == JsonValueKind.Null)
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
        if (!TryGet(obj, field, out var v) || v.ValueKind == JsonValueKind.Null)
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
            list.Add(e.ValueKind == JsonValueKind.String ? Text(e, $"{field}[{i}]") : throw ApiException.WrongType($"{field}[{i}]", "a string"));
            i++;
        }
        return list;
    }

    /// <summary>An optional array of strings (Cohere's <c>rank_fields</c>); null when absent.</summary>
    public static List<string>? OptionalStringArray(JsonElement obj, string field)
    {
        if (!TryGet(obj, field, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (v.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.WrongType(field, "an array of strings");
        }
        var list = new List<string>(v.GetArrayLength());
        var i = 0;
        foreach (var e in v.EnumerateArray())
        {
            list.Add(e.ValueKind == JsonValueKind.String ? Text(e, $"{field}[{i}]") : throw ApiException.WrongType($"{field}[{i}]", "a string"));
            i++;
        }
        if (list.Count == 0)
        {
            throw ApiException.Invalid(field, $"'{field}' cannot be empty; leave it out to rank by \"text\"");
        }
        return list;
    }

    /// <summary>
    /// Cohere/Jina documents: strings, or objects ranked by their <c>text</c> string, or with Cohere v1's
    /// <paramref name="rankFields"/> by those fields: one field's value as it is, several as <c>"name: value"</c> lines
    /// in the given order (the YAML-like form Cohere recommends for structured documents).
    /// </summary>
    public static List<string> RequireDocuments(JsonElement obj, string field, int maxCount, IReadOnlyList<string>? rankFields = null)
    {
        var arr = RequireArray(obj, field, maxCount);
        var list = new List<string>(arr.GetArrayLength());
        var i = 0;
        var fields = rankFields ?? ["text"];
        foreach (var e in arr.EnumerateArray())
        {
            var name = $"{field}[{i}]";
            if (e.ValueKind == JsonValueKind.String)
            {
                list.Add(Text(e, name));
            }
            else if (e.ValueKind == JsonValueKind.Object)
            {
                if (fields.Count == 1)
                {
                    list.Add(FieldText(e, name, fields[0]));
                }
                else
                {
                    list.Add(string.Join('\n', fields.Select(f => f + ": " + FieldText(e, name, f))));
                }
            }
            else
            {
                throw ApiException.WrongType(name, rankFields is null
                    ? "a string or an object with a \"text\" string"
                    : $"a string or an object with the rank_fields ({string.Join(", ", fields)})");
            }
            i++;
        }
        return list;
    }

    private static string FieldText(JsonElement doc, string name, string key)
    {
        var path = $"{name}.{key}";
        if (!TryGet(doc, key, out var t) || t.ValueKind == JsonValueKind.Null)
        {
            throw key == "text"
                ? ApiException.Missing(path)
                : new ApiException(StatusCodes.Status422UnprocessableEntity, "missing_field", $"'{path}' is required: it is named in rank_fields", path);
        }
        return t.ValueKind switch
        {
            JsonValueKind.String => Text(t, path),
            JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => t.GetRawText(),
            _ => throw ApiException.WrongType(path, "a string"),
        };
    }

    /// <summary>The length of an array field, checked before any element is read (so a too-big batch is a cheap 413).</summary>
    public static JsonElement RequireArray(JsonElement obj, string field, int maxCount)
    {
        if (!TryGet(obj, field, out var v) || v.ValueKind == JsonValueKind.Null)
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
