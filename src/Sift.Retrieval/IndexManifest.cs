using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sift.Retrieval;

/// <summary>
/// <c>index.json</c>: what an index directory holds, so tools (e.g. <c>sift search</c>) can tell whether dense search
/// is available and how the corpus was chunked without opening Lucene. Written after every write; the document count
/// is as of the last write (<see cref="SiftIndex.Count"/> is authoritative).
/// </summary>
public sealed record IndexManifest
{
    public const string FileName = "index.json";
    public const int CurrentVersion = 1;

    public string Format { get; init; } = "sift-index";
    public int Version { get; init; } = CurrentVersion;
    public DateTimeOffset Created { get; init; }
    public DateTimeOffset Updated { get; init; }
    public long DocumentCount { get; init; }

    /// <summary>Lucene analyzer of the BM25 field ("english": Porter stemming + English stopwords).</summary>
    public string Analyzer { get; init; } = "english";
    public float Bm25K1 { get; init; } = 0.9f;
    public float Bm25B { get; init; } = 0.4f;

    /// <summary>Dense vectors, when the index was built with an embedding model; null otherwise.</summary>
    public DenseManifest? Dense { get; init; }

    /// <summary>The HNSW graph kept beside the vectors (null: exact dense search only). Informational: the Lucene
    /// commit names the graph generation that searches use.</summary>
    public AnnManifest? Ann { get; init; }

    /// <summary>How documents were split into passages (null: whole documents). Informational, recorded for re-ingestion.</summary>
    public PassageChunking? Chunking { get; init; }

    /// <summary>Where the corpus came from (informational).</summary>
    public string? Corpus { get; init; }

    internal static IndexManifest Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(path), ManifestJsonContext.Default.IndexManifest)
                ?? throw new SiftException($"{path} is empty; re-create the index with `sift index --corpus PATH --index DIR`");
        }
        catch (JsonException e)
        {
            throw new SiftException($"{path} is not a valid Sift manifest ({e.Message}); re-create the index with `sift index --corpus PATH --index DIR`", e);
        }
    }

    internal void Write(string path)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(this, ManifestJsonContext.Default.IndexManifest));
        File.Move(tmp, path, overwrite: true);
    }
}

/// <summary>Dense part of the manifest.</summary>
/// <param name="Model">Name or path of the embedding model; queries must be embedded with the same one.</param>
/// <param name="Dimension">Vector dimension.</param>
/// <param name="Count">Vectors stored.</param>
/// <param name="File">Vector file name inside the index directory.</param>
public sealed record DenseManifest(string Model, int Dimension, long Count, string File = SiftIndex.VectorsFileName);

/// <summary>HNSW part of the manifest.</summary>
/// <param name="Kind">Always "hnsw".</param>
/// <param name="Connectivity">M.</param>
/// <param name="ExpansionAdd">ef at build time.</param>
/// <param name="ExpansionSearch">Default ef at search time.</param>
/// <param name="Scalar">f32, f16 or i8.</param>
/// <param name="Count">Vectors in the graph.</param>
/// <param name="Name">Generation: files NAME.usearch and NAME.ids in the index directory.</param>
/// <param name="Library">The USearch build that wrote it.</param>
public sealed record AnnManifest(string Kind, int Connectivity, int ExpansionAdd, int ExpansionSearch, string Scalar, long Count, string Name, string Library);

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(IndexManifest))]
internal sealed partial class ManifestJsonContext : JsonSerializerContext;
