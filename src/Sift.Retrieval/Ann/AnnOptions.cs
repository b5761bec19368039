namespace Sift.Retrieval;

/// <summary>
/// Settings of the approximate (HNSW) dense index a <see cref="SiftIndex"/> can keep beside its exact vectors
/// (see <see cref="SiftIndex.BuildAnnAsync"/>). Defaults are USearch's.
/// </summary>
public sealed record AnnOptions
{
    /// <summary>M: neighbours each node links to. More: better recall, more memory (≈ 2·M·4 bytes a vector on the base layer), slower build.</summary>
    public int Connectivity { get; init; } = 16;

    /// <summary>ef at build time: candidates considered when linking a new vector. More: a better graph, slower build.</summary>
    public int ExpansionAdd { get; init; } = 128;

    /// <summary>ef at search time (the default for searches; each search may override it). More: higher recall, slower queries.</summary>
    public int ExpansionSearch { get; init; } = 64;

    /// <summary>How the graph stores vectors: f32 (exact), f16 (half the bytes) or i8 (a quarter). Scores Sift returns
    /// are always recomputed from the exact float32 vectors; the scalar kind only affects which neighbours are found.</summary>
    public AnnScalar Scalar { get; init; } = AnnScalar.F32;

    /// <summary>Throws a <see cref="SiftException"/> naming the bad setting and its valid range.</summary>
    public void Validate()
    {
        if (Connectivity is < 2 or > 256)
        {
            throw new SiftException($"HNSW connectivity (--ann-connectivity) must be between 2 and 256 (got {Connectivity}); 16 is a good default, 32 for higher recall");
        }
        if (ExpansionAdd is < 1 or > 4096)
        {
            throw new SiftException($"HNSW build expansion (--ann-expansion-add) must be between 1 and 4096 (got {ExpansionAdd}); 128 is a good default");
        }
        ValidateExpansionSearch(ExpansionSearch);
    }

    /// <summary>Throws a <see cref="SiftException"/> when <paramref name="ef"/> is out of range.</summary>
    public static void ValidateExpansionSearch(int ef)
    {
        if (ef is < 1 or > 65536)
        {
            throw new SiftException($"HNSW search expansion (--ann-expansion-search) must be between 1 and 65536 (got {ef}); 64 is a good default, raise it for recall");
        }
    }

    /// <summary>Parses f32, f16 or i8 (also float32, float16, half, int8), with an error naming the choices.</summary>
    public static AnnScalar ParseScalar(string text) => text.Trim().ToLowerInvariant() switch
    {
        "f32" or "float32" or "fp32" => AnnScalar.F32,
        "f16" or "float16" or "fp16" or "half" => AnnScalar.F16,
        "i8" or "int8" => AnnScalar.I8,
        _ => throw new SiftException($"unknown HNSW scalar kind '{text}': use f32, f16 or i8 (--ann-scalar)"),
    };

    /// <summary>The short name (f32, f16, i8).</summary>
    public static string ScalarName(AnnScalar scalar) => scalar.ToString().ToLowerInvariant();
}

/// <summary>Which dense search a retriever runs.</summary>
public enum DenseSearchKind
{
    /// <summary>HNSW when the index has one, exact otherwise.</summary>
    Auto,
    /// <summary>Brute force over every vector (the reference; <see cref="VectorStore"/>).</summary>
    Exact,
    /// <summary>The index's HNSW graph; an error when it has none.</summary>
    Hnsw,
}

/// <summary>Dense search settings of a <see cref="DenseRetriever"/>.</summary>
public sealed record DenseSearchOptions
{
    public static readonly DenseSearchOptions Default = new();

    public DenseSearchKind Kind { get; init; } = DenseSearchKind.Auto;

    /// <summary>HNSW ef for this retriever's searches (null: the value the index was built with).</summary>
    public int? ExpansionSearch { get; init; }

    /// <summary>Parses auto, exact or hnsw (the <c>--ann</c> option).</summary>
    public static DenseSearchKind ParseKind(string text) => text.Trim().ToLowerInvariant() switch
    {
        "auto" => DenseSearchKind.Auto,
        "exact" or "none" or "flat" => DenseSearchKind.Exact,
        "hnsw" => DenseSearchKind.Hnsw,
        _ => throw new SiftException($"unknown --ann '{text}': use hnsw (approximate, USearch), exact (brute force) or auto (hnsw when the index has one)"),
    };
}

/// <summary>What <see cref="SiftIndex.BuildAnnAsync"/> did.</summary>
/// <param name="Vectors">Vectors in the graph.</param>
/// <param name="Elapsed">Wall time of the build (graph only, not saving).</param>
/// <param name="FileBytes">Size of the graph file on disk.</param>
public sealed record AnnBuildResult(long Vectors, TimeSpan Elapsed, long FileBytes);

/// <summary>HNSW build progress: vectors linked into the graph so far, of <paramref name="Total"/>.</summary>
public sealed record AnnProgress(long Done, long Total, TimeSpan Elapsed);

/// <summary>The HNSW graph of an index's latest commit.</summary>
/// <param name="Name">Generation (files NAME.usearch, NAME.ids).</param>
/// <param name="Count">Vectors in the graph.</param>
/// <param name="Options">Settings it was built with.</param>
public sealed record AnnInfo(string Name, long Count, AnnOptions Options);

/// <summary>What <see cref="SiftIndex.Check"/> found in the latest commit.</summary>
/// <param name="Documents">Documents (Lucene).</param>
/// <param name="Vectors">Exact vectors (null: no dense vectors).</param>
/// <param name="DocumentsWithoutVector">Documents the exact store has no vector for.</param>
/// <param name="AnnVectors">Vectors in the HNSW graph (null: no graph).</param>
/// <param name="DocumentsWithoutAnn">Documents missing from the graph.</param>
/// <param name="AnnWithoutDocument">Graph entries whose document is not in the commit.</param>
public sealed record IndexCheck(long Documents, long? Vectors, long DocumentsWithoutVector, long? AnnVectors, long DocumentsWithoutAnn, long AnnWithoutDocument)
{
    /// <summary>Every document has a vector and a graph entry (where the index keeps them), and the graph has nothing else.</summary>
    public bool Consistent => (Vectors is null || DocumentsWithoutVector == 0) && (AnnVectors is null || (DocumentsWithoutAnn == 0 && AnnWithoutDocument == 0));
}
