using Sift.Tokenizers.Text;

namespace Sift.Tokenizers.Tests;

/// <summary>The hand-written normalization (InvariantGlobalization makes string.Normalize a no-op for non-ASCII).</summary>
public sealed class UnicodeNormTests
{
    private static string Norm(string s, bool compat, bool compose) =>
        UnicodeNorm.Normalize(NormalizedString.FromOriginal(s, 0, s.Length), compat, compose).ToString();

    [Theory]
    [InlineData("e\u0301", false, true, "\u00E9")]
    [InlineData("\u00E9", false, false, "e\u0301")]
    [InlineData("\uFB01", true, true, "fi")]
    [InlineData("\u2460\uFF21", true, true, "1A")]
    [InlineData("\uD55C", false, false, "\u1112\u1161\u11AB")]
    [InlineData("\u1112\u1161\u11AB", false, true, "\uD55C")]
    [InlineData("a\u0323\u0302", false, true, "\u1EAD")] // canonical reordering then composition
    [InlineData("\u212B", false, true, "\u00C5")]       // singleton decomposition (Angstrom sign)
    public void Forms_MatchUnicode(string input, bool compat, bool compose, string expected) =>
        Assert.Equal(expected, Norm(input, compat, compose));

    [Fact]
    public void Alignments_PointBackToTheSourceChar()
    {
        var n = UnicodeNorm.Normalize(NormalizedString.FromOriginal("x\uFB01y", 0, 3), compat: true, compose: true);
        Assert.Equal("xfiy", n.ToString());
        Assert.Equal((1, 2), n.OriginalSpan(1, 3));
    }
}
