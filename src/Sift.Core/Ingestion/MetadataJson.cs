using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Sift;

/// <summary>
/// Converts <see cref="Document.Metadata"/> to and from JSON with one fixed mapping, so metadata read
/// from a corpus, stored in an index and returned by a server all look the same: JSON strings become
/// <see cref="string"/>, integral numbers <see cref="long"/>, other numbers <see cref="double"/>,
/// booleans <see cref="bool"/>, null null, and objects/arrays a detached <see cref="JsonElement"/>.
/// </summary>
public static class MetadataJson
{
    /// <summary>Converts one JSON value with the mapping above.</summary>
    public static object? ToValue(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number => element.TryGetInt64(out var l) ? (object)l : element.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        _ => element.Clone(),
    };

    /// <summary>Reads a JSON object into a metadata dictionary (null for an empty object).</summary>
    public static IReadOnlyDictionary<string, object?>? FromObject(JsonElement obj)
    {
        if (obj.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        Dictionary<string, object?>? result = null;
        foreach (var p in obj.EnumerateObject())
        {
            (result ??= new Dictionary<string, object?>(StringComparer.Ordinal))[p.Name] = ToValue(p.Value);
        }
        return result;
    }

    /// <summary>Parses a JSON object string written by <see cref="Serialize"/>.</summary>
    public static IReadOnlyDictionary<string, object?>? Deserialize(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return null;
        }
        using var doc = JsonDocument.Parse(json);
        return FromObject(doc.RootElement);
    }

    /// <summary>Serializes metadata to a compact JSON object (null for null/empty metadata).</summary>
    public static string? Serialize(IReadOnlyDictionary<string, object?>? metadata)
    {
        if (metadata is null || metadata.Count == 0)
        {
            return null;
        }
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            WriteObject(writer, metadata);
        }
        return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }

    /// <summary>Writes metadata as a JSON object.</summary>
    public static void WriteObject(Utf8JsonWriter writer, IReadOnlyDictionary<string, object?> metadata)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(metadata);
        writer.WriteStartObject();
        foreach (var (key, value) in metadata)
        {
            writer.WritePropertyName(key);
            WriteValue(writer, value);
        }
        writer.WriteEndObject();
    }

    /// <summary>Writes one metadata value; unknown types are written as their invariant string form.</summary>
    public static void WriteValue(Utf8JsonWriter writer, object? value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        switch (value)
        {
            case null: writer.WriteNullValue(); break;
            case string s: writer.WriteStringValue(s); break;
            case bool b: writer.WriteBooleanValue(b); break;
            case int i: writer.WriteNumberValue(i); break;
            case long l: writer.WriteNumberValue(l); break;
            case float f when float.IsFinite(f): writer.WriteNumberValue(f); break;
            case double d when double.IsFinite(d): writer.WriteNumberValue(d); break;
            case decimal m: writer.WriteNumberValue(m); break;
            case JsonElement e: e.WriteTo(writer); break;
            case IReadOnlyDictionary<string, object?> dict: WriteObject(writer, dict); break;
            case System.Collections.IEnumerable seq:
                writer.WriteStartArray();
                foreach (var item in seq)
                {
                    WriteValue(writer, item);
                }
                writer.WriteEndArray();
                break;
            case IFormattable fmt: writer.WriteStringValue(fmt.ToString(null, CultureInfo.InvariantCulture)); break;
            default: writer.WriteStringValue(value.ToString()); break;
        }
    }
}
