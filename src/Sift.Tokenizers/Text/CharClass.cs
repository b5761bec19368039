using System.Globalization;
using System.Runtime.CompilerServices;

namespace Sift.Tokenizers.Text;

/// <summary>Character classes with the exact definitions the Rust `tokenizers` crate uses (code point based).</summary>
internal static class CharClass
{
    /// <summary>Rust <c>char::is_whitespace</c> (Unicode White_Space property).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsWhitespace(int c)
    {
        if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
        return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029
            || c == 0x202F || c == 0x205F || c == 0x3000;
    }

    public static UnicodeCategory Category(int c) =>
        c < 0x10000 ? CharUnicodeInfo.GetUnicodeCategory((char)c) : CharUnicodeInfo.GetUnicodeCategory(c);

    /// <summary>unicode_categories <c>is_other</c>: Cc, Cf, Cs, Co, Cn.</summary>
    public static bool IsOther(int c)
    {
        if (c < 0x80) return c < 0x20 || c == 0x7F;
        var cat = Category(c);
        return cat is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    public static bool IsMarkNonSpacing(int c) => c >= 0x300 && Category(c) == UnicodeCategory.NonSpacingMark;

    public static bool IsMark(int c)
    {
        if (c < 0x300) return false;
        var cat = Category(c);
        return cat is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark;
    }

    /// <summary>Rust <c>char::is_ascii_punctuation() || is_punctuation()</c> (BERT punctuation).</summary>
    public static bool IsBertPunctuation(int c)
    {
        if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
        var cat = Category(c);
        return cat is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
            or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation
            or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>The BERT "Chinese character" blocks (tokenizers normalizers/bert.rs).</summary>
    public static bool IsChineseChar(int c) =>
        (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF)
        || (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF)
        || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);

    public static bool IsLetter(int c)
    {
        if (c < 0x80) return (uint)((c | 0x20) - 'a') <= 'z' - 'a';
        var cat = Category(c);
        return cat <= UnicodeCategory.OtherLetter; // Lu, Ll, Lt, Lm, Lo
    }

    /// <summary>\p{N}: Nd, Nl, No (also Rust <c>char::is_numeric</c>).</summary>
    public static bool IsNumber(int c)
    {
        if (c < 0x80) return (uint)(c - '0') <= 9;
        var cat = Category(c);
        return cat is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;
    }

    /// <summary>Regex \w (Unicode): Alphabetic, marks, decimal digits, connector punctuation, join controls.</summary>
    public static bool IsWordChar(int c)
    {
        if (c < 0x80) return (uint)((c | 0x20) - 'a') <= 'z' - 'a' || (uint)(c - '0') <= 9 || c == '_';
        if (c == 0x200C || c == 0x200D) return true;
        var cat = Category(c);
        return cat <= UnicodeCategory.OtherLetter || cat is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark
            or UnicodeCategory.EnclosingMark or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber
            or UnicodeCategory.ConnectorPunctuation;
    }

    /// <summary>Rust <c>char::is_alphanumeric</c>.</summary>
    public static bool IsAlphanumeric(int c) => IsLetter(c) || IsNumber(c);

    /// <summary>Reads one code point; a lone surrogate reads as U+FFFD (input is sanitized, so this is defensive).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ReadCodePoint(ReadOnlySpan<char> s, int i, out int len)
    {
        char c = s[i];
        if (!char.IsSurrogate(c)) { len = 1; return c; }
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            len = 2;
            return char.ConvertToUtf32(c, s[i + 1]);
        }
        len = 1;
        return 0xFFFD;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Utf8Length(int cp) => cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;

    /// <summary>Number of code points (a surrogate pair counts once).</summary>
    public static int CountCodePoints(ReadOnlySpan<char> s)
    {
        int n = 0;
        for (int i = 0; i < s.Length; i++)
        {
            if (!(char.IsLowSurrogate(s[i]) && i > 0 && char.IsHighSurrogate(s[i - 1]))) n++;
        }
        return n;
    }
}
