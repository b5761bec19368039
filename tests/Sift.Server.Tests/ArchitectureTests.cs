using System.Reflection;
using Sift.Onnx;
using Sift.Testing;

namespace Sift.Server.Tests;

/// <summary>Issue 15's architecture, checked so it stays: HTTP in Http/, one scoring path, a small public surface.</summary>
public sealed class ArchitectureTests
{
    [Fact]
    public void Only_the_http_layer_knows_ApiException()
    {
        var root = Path.Combine(TestPaths.RepoRoot, "src", "Sift.Server");
        var http = Path.Combine(root, "Http") + Path.DirectorySeparatorChar;
        var offenders = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Where(f => !f.StartsWith(http, StringComparison.Ordinal) && File.ReadAllText(f).Contains("ApiException", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(root, f)).ToList();
        Assert.Empty(offenders);
        Assert.False(Directory.Exists(Path.Combine(root, "Hosting")), "the server's folder must not share Sift.Hosting's name");
        Assert.False(Directory.Exists(Path.Combine(root, "Scoring")), "the server has no scoring of its own");
    }

    [Fact]
    public void The_scoring_internals_and_diagnostics_are_not_public()
    {
        var encoder = typeof(CrossEncoder);
        foreach (var name in new[] { "Plan", "Combine", "PredictEncoded", "EndProfiling" })
        {
            Assert.DoesNotContain(encoder.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static), m => m.Name == name);
        }
        var exported = encoder.Assembly.GetExportedTypes().Select(t => t.Name).ToHashSet();
        foreach (var name in new[] { "RerankBenchmark", "QualityChecks", "OperatorProfile", "ScoringStats", "ScoringPlan", "BenchReport" })
        {
            Assert.DoesNotContain(name, exported);
        }
        Assert.Contains(nameof(IInferenceRunner), exported);
    }

    [Fact]
    public void The_tokenizer_keeps_five_public_types_and_none_is_named_Encoding()
    {
        var types = typeof(Sift.Tokenizers.HfTokenizer).Assembly.GetExportedTypes().Select(t => t.Name).Order().ToArray();
        Assert.Equal(["EncodedText", "HfTokenizer", "TokenizedText", "TokenizerException", "TruncationStrategy"], types);
        Assert.DoesNotContain(typeof(Sift.Tokenizers.HfTokenizer).Assembly.GetReferencedAssemblies(), a => a.Name!.StartsWith("Sift", StringComparison.Ordinal));
    }

    [Fact]
    public void Core_has_no_engine_dependency()
    {
        var references = typeof(SiftException).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.DoesNotContain(references, r => r.StartsWith("Microsoft.ML", StringComparison.Ordinal) || r.StartsWith("Lucene", StringComparison.Ordinal) || (r.StartsWith("Sift.", StringComparison.Ordinal)));
    }
}
