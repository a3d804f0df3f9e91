using System.Globalization;
using System.Text;

namespace T2VTurbo.Text;

/// <summary>
/// Prompt cleaning as the two CLIP tokenizers do it, with Python's string semantics:
/// open_clip <c>_clean_lower</c> = <c>whitespace_clean(basic_clean(x)).lower()</c> where <c>basic_clean</c> is
/// <c>ftfy.fix_text</c>, <c>html.unescape</c> twice, <c>strip()</c>; HF <c>CLIPTokenizer._tokenize</c> =
/// <c>whitespace_clean(ftfy.fix_text(x)).lower()</c> (ftfy's own entity pass only).
/// </summary>
public static class TextCleaner
{
    public static string CleanOpenClip(string text)
    {
        text = FtfyLite.FixText(text);
        text = HtmlEntities.PythonUnescape(HtmlEntities.PythonUnescape(text));
        return PythonLower(WhitespaceClean(PythonStrip(text)));
    }

    public static string CleanHuggingFace(string text) => PythonLower(WhitespaceClean(FtfyLite.FixText(text)));

    /// <summary><c>re.sub(r'\s+', ' ', text).strip()</c>.</summary>
    public static string WhitespaceClean(string text)
    {
        var sb = new StringBuilder(text.Length);
        bool inSpace = false;
        foreach (var rune in text.EnumerateRunes())
        {
            if (IsPythonWhitespace(rune)) { inSpace = true; continue; }
            if (inSpace && sb.Length > 0) sb.Append(' ');
            inSpace = false;
            sb.Append(rune.ToString());
        }
        return sb.ToString();
    }

    /// <summary><c>str.strip()</c>: removes leading and trailing Python whitespace.</summary>
    public static string PythonStrip(string text)
    {
        int start = 0, end = text.Length;
        while (start < end && IsPythonWhitespace(text[start])) start++;
        while (end > start && IsPythonWhitespace(text[end - 1])) end--;
        return text[start..end];
    }

    public static bool IsPythonWhitespace(char c) => !char.IsSurrogate(c) && IsPythonWhitespace(new Rune(c));

    /// <summary>Python's <c>str.isspace</c> (also what <c>\s</c> matches): Unicode separators, the C0 separators
    /// \t \n \v \f \r and U+001C..U+001F, and NEXT LINE (checked against CPython 3.11 over all code points).</summary>
    public static bool IsPythonWhitespace(Rune r)
    {
        int c = r.Value;
        if (c is (>= 0x09 and <= 0x0D) or (>= 0x1C and <= 0x20) or 0x85) return true;
        if (c < 0x80) return false;
        var cat = Rune.GetUnicodeCategory(r);
        return cat is UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;
    }

    /// <summary>Python's <c>str.lower()</c>: full lower-case mapping (İ -> "i̇") and the Final_Sigma rule for Σ, which
    /// .NET's per-character lower-casing does not apply.</summary>
    public static string PythonLower(string text)
    {
        var runes = text.EnumerateRunes().ToArray();
        var sb = new StringBuilder(text.Length);
        for (int i = 0; i < runes.Length; i++)
        {
            var r = runes[i];
            if (r.Value == 0x130) sb.Append("i\u0307");
            else if (r.Value == 0x3A3) sb.Append(IsFinalSigma(runes, i) ? 'ς' : 'σ');
            else sb.Append(Rune.ToLowerInvariant(r).ToString());
        }
        return sb.ToString();
    }

    // Final_Sigma: a cased letter before (skipping case-ignorables) and no cased letter after (skipping case-ignorables).
    private static bool IsFinalSigma(Rune[] runes, int i)
    {
        int j = i - 1;
        while (j >= 0 && IsCaseIgnorable(runes[j])) j--;
        if (j < 0 || !IsCased(runes[j])) return false;
        j = i + 1;
        while (j < runes.Length && IsCaseIgnorable(runes[j])) j++;
        return j == runes.Length || !IsCased(runes[j]);
    }

    private static bool IsCased(Rune r) =>
        Rune.GetUnicodeCategory(r) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;

    private static bool IsCaseIgnorable(Rune r) =>
        Rune.GetUnicodeCategory(r) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
            or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol
        || r.Value is '\'' or '.' or ':' or 0xB7 or 0x2018 or 0x2019 or 0x2024 or 0x2027 or 0xFE13 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A;
}
