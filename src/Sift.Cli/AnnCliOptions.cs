using System.CommandLine;
using Sift.Retrieval;

namespace Sift.Cli;

/// <summary>The HNSW options shared by <c>sift index</c>, <c>sift search</c> and <c>sift eval</c> (see <see cref="AnnOptions"/>).</summary>
internal sealed class AnnCliOptions
{
    private static readonly AnnOptions Defaults = new();

    public Option<string?> Ann { get; }
    public Option<int> Connectivity { get; } = new("--ann-connectivity") { Description = $"HNSW M: neighbours per node (more: better recall, more memory). Default {Defaults.Connectivity}.", DefaultValueFactory = _ => Defaults.Connectivity };
    public Option<int> ExpansionAdd { get; } = new("--ann-expansion-add") { Description = $"HNSW ef at build time (more: better graph, slower build). Default {Defaults.ExpansionAdd}.", DefaultValueFactory = _ => Defaults.ExpansionAdd };
    public Option<int?> ExpansionSearch { get; } = new("--ann-expansion-search") { Description = $"HNSW ef at search time (more: higher recall, slower queries). Default: the graph's, {Defaults.ExpansionSearch} unless built otherwise." };
    public Option<string> Scalar { get; } = new("--ann-scalar") { Description = "How the graph stores vectors: f32, f16 (half the bytes) or i8 (a quarter). Scores are always exact float32.", DefaultValueFactory = _ => "f32" };

    private AnnCliOptions(string annDescription)
    {
        Ann = new Option<string?>("--ann") { Description = annDescription };
    }

    /// <summary>For commands that build a graph (index, eval).</summary>
    public static AnnCliOptions ForBuild(string annDescription) => new(annDescription);

    /// <summary>The options to add to a command; <paramref name="build"/> adds the build-time ones.</summary>
    public IEnumerable<Option> All(bool build) => build ? [Ann, Connectivity, ExpansionAdd, ExpansionSearch, Scalar] : [Ann, ExpansionSearch];

    /// <summary>The dense search kind given (auto when --ann is absent).</summary>
    public DenseSearchKind Kind(ParseResult pr) => pr.GetValue(Ann) is { } text ? DenseSearchOptions.ParseKind(text) : DenseSearchKind.Auto;

    /// <summary>Build settings when <c>--ann hnsw</c> was given, else null (build-only options given without it are an error).</summary>
    public AnnOptions? Build(ParseResult pr)
    {
        var kind = Kind(pr);
        bool Given(Option o) => pr.GetResult(o) is { Implicit: false };
        if (kind != DenseSearchKind.Hnsw)
        {
            foreach (var o in new Option[] { Connectivity, ExpansionAdd, Scalar })
            {
                if (Given(o)) throw new SiftException($"{o.Name} configures an HNSW graph: add --ann hnsw");
            }
            return null;
        }
        var options = new AnnOptions
        {
            Connectivity = pr.GetValue(Connectivity),
            ExpansionAdd = pr.GetValue(ExpansionAdd),
            ExpansionSearch = pr.GetValue(ExpansionSearch) ?? Defaults.ExpansionSearch,
            Scalar = AnnOptions.ParseScalar(pr.GetValue(Scalar)!),
        };
        options.Validate();
        return options;
    }

    /// <summary>Search-time settings.</summary>
    public DenseSearchOptions Search(ParseResult pr)
    {
        var ef = pr.GetValue(ExpansionSearch);
        if (ef is { } e) AnnOptions.ValidateExpansionSearch(e);
        var kind = Kind(pr);
        if (ef is not null && kind == DenseSearchKind.Exact) throw new SiftException("--ann-expansion-search tunes HNSW search; it has no effect with --ann exact");
        return new DenseSearchOptions { Kind = kind, ExpansionSearch = ef };
    }
}
