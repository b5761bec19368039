using Sift.Tokenizers.Text;

namespace Sift.Tokenizers;

internal sealed record AddedToken(string Content, int Id, bool SingleWord, bool LStrip, bool RStrip, bool Normalized, bool Special);

/// <summary>
/// tokenizers AddedVocabulary: added tokens are found BEFORE the model (leftmost-longest, like its Aho-Corasick
/// matcher), tokens with normalized=false in the raw text, normalized=true ones in the normalized text; a match maps
/// straight to its id. single_word / lstrip / rstrip are honored as in added_vocabulary.rs.
/// </summary>
internal sealed class AddedVocabulary
{
    private readonly Dictionary<char, AddedToken[]> _byFirstChar = new();

    public AddedVocabulary(IEnumerable<(AddedToken Token, string MatchText)> tokens)
    {
        foreach (var group in tokens.Where(t => t.MatchText.Length > 0).GroupBy(t => t.MatchText[0]))
        {
            // Longest first so the first hit at a position is the longest one; ties keep declaration order.
            _byFirstChar[group.Key] = group.OrderByDescending(t => t.MatchText.Length)
                .Select(t => t.Token with { Content = t.MatchText }).ToArray();
        }
    }

    public bool IsEmpty => _byFirstChar.Count == 0;

    /// <summary>Non-overlapping matches (Start, End, Id) in order; End/Start include stripped whitespace.</summary>
    public void FindMatches(ReadOnlySpan<char> text, List<(int Start, int End, int Id)> matches)
    {
        matches.Clear();
        if (_byFirstChar.Count == 0) return;
        int consumed = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (!_byFirstChar.TryGetValue(text[i], out var candidates)) continue;
            foreach (var tok in candidates)
            {
                if (!text[i..].StartsWith(tok.Content, StringComparison.Ordinal)) continue;
                int start = i, stop = i + tok.Content.Length;
                if (tok.SingleWord)
                {
                    bool startOk = start == 0 || !IsWordChar(text, start, before: true);
                    bool stopOk = stop == text.Length || !IsWordChar(text, stop, before: false);
                    if (!startOk || !stopOk) continue;
                }
                if (tok.LStrip) while (start > consumed && CharClass.IsWhitespace(text[start - 1])) start--;
                if (tok.RStrip) while (stop < text.Length && CharClass.IsWhitespace(text[stop])) stop++;
                matches.Add((start, stop, tok.Id));
                consumed = stop;
                i = stop - 1;
                break;
            }
        }
    }

    private static bool IsWordChar(ReadOnlySpan<char> text, int pos, bool before)
    {
        int cp;
        if (before)
        {
            int i = pos - 1;
            if (char.IsLowSurrogate(text[i]) && i > 0) i--;
            cp = CharClass.ReadCodePoint(text, i, out _);
        }
        else cp = CharClass.ReadCodePoint(text, pos, out _);
        return CharClass.IsAlphanumeric(cp) || cp == '_';
    }
}
