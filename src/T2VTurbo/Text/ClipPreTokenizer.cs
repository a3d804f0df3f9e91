using System.Globalization;
using System.Text;

namespace T2VTurbo.Text;

/// <summary>
/// The CLIP pre-tokenizer regex, written out so that it works on code points (the .NET regex sees UTF-16 units, so
/// astral letters/digits would fall into the wrong class):
/// <c>SPECIALS|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>, case-insensitive, scanned like
/// <c>regex.findall</c>: at each position the first alternative that matches wins, unmatched characters (whitespace)
/// are skipped.
/// </summary>
public static class ClipPreTokenizer
{
    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

    public static List<string> Split(string text, IReadOnlyList<string> specialLiterals)
    {
        var pieces = new List<string>();
        int i = 0;
        while (i < text.Length)
        {
            var match = MatchAt(text, i, specialLiterals);
            if (match == 0) { i += RuneLength(text, i); continue; }
            pieces.Add(text.Substring(i, match));
            i += match;
        }
        return pieces;
    }

    /// <summary>Length of the match starting at <paramref name="i"/>, 0 when none of the alternatives matches.</summary>
    private static int MatchAt(string text, int i, IReadOnlyList<string> specialLiterals)
    {
        foreach (var s in specialLiterals)
            if (i + s.Length <= text.Length && string.Compare(text, i, s, 0, s.Length, StringComparison.OrdinalIgnoreCase) == 0) return s.Length;
        foreach (var c in Contractions)
            if (i + c.Length <= text.Length && string.Compare(text, i, c, 0, c.Length, StringComparison.OrdinalIgnoreCase) == 0) return c.Length;

        var kind = KindAt(text, i);
        if (kind == CharKind.Space) return 0;
        if (kind == CharKind.Number) return RuneLength(text, i);
        int end = i;
        while (end < text.Length && KindAt(text, end) == kind) end += RuneLength(text, end);
        return end - i;
    }

    private enum CharKind { Letter, Number, Space, Other }

    private static CharKind KindAt(string text, int i)
    {
        var rune = RuneAt(text, i);
        if (TextCleaner.IsPythonWhitespace(rune)) return CharKind.Space;
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharKind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharKind.Number,
            _ => CharKind.Other,
        };
    }

    private static Rune RuneAt(string text, int i) =>
        Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out _) == System.Buffers.OperationStatus.Done ? rune : Rune.ReplacementChar;

    private static int RuneLength(string text, int i) =>
        char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
}
