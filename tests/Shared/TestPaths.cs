namespace Sift.Testing;

/// <summary>Locates ../shared (fixtures and data) the same way CI does: SIFT_SHARED, else ../shared from the repo root.</summary>
internal static class TestPaths
{
    private static readonly Lazy<string> RepoRootLazy = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Sift.slnx")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("Could not find Sift.slnx above " + AppContext.BaseDirectory);
    });

    public static string RepoRoot => RepoRootLazy.Value;

    public static string Shared
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("SIFT_SHARED");
            var path = string.IsNullOrEmpty(env) ? Path.Combine(RepoRoot, "..", "shared") : env;
            return Path.GetFullPath(path);
        }
    }

    public static string Fixtures => Path.Combine(Shared, "models", "fixtures");
    public static string Data => Path.Combine(Shared, "data");
    public static string Fixture(string name) => Path.Combine(Fixtures, name);
}
