using System.Text;
using System.Text.RegularExpressions;

namespace T2VTurbo.Text;

/// <summary>
/// The parts of <c>ftfy.fix_text</c> (ftfy 6.x defaults) that change CLIP prompts, reimplemented: the text is fixed
/// line by line ("\n" ends a segment); each segment repeats, until nothing changes, HTML-entity unescaping (only while
/// no segment so far contained '&lt;'), mojibake repair, C1-control repair, Latin ligatures and full-width forms to
/// their plain letters, curly quotes to straight ones, line-break unification, lone-surrogate replacement, terminal
/// escape and control-character removal, then NFC.
/// Mojibake repair is a heuristic of our own (ftfy scores the whole text with its "badness" patterns): runs of
/// characters that spell valid multi-byte UTF-8 in Windows-1252/Latin-1 are decoded (e.g. "cafÃ©" -> "café",
/// "â€™" -> "’"), except a 2-byte spelling that ends in typographic punctuation after a capital letter other than
/// Â/Ã ("CAFÉ”" stays).
/// </summary>
public static class FtfyLite
{
    private static readonly Regex TerminalEscape = new(@"\u001b\[((?:\d|;)*)([a-zA-Z])", RegexOptions.CultureInvariant);
    private const string Typographic = "‘’‚“”„•–—…‹›«»";

    public static string FixText(string text, bool unescapeHtml = true)
    {
        var output = new StringBuilder(text.Length);
        int pos = 0;
        while (pos < text.Length)
        {
            int lineEnd = text.IndexOf('\n', pos);
            int end = lineEnd < 0 ? text.Length : lineEnd + 1;
            var segment = text[pos..end];
            // ftfy's "auto" mode: once a segment holds '<' (markup?), entities are left alone from there on.
            if (segment.Contains('<')) unescapeHtml = false;
            output.Append(FixSegment(segment, unescapeHtml));
            pos = end;
        }
        return output.ToString();
    }

    public static string FixSegment(string text, bool unescapeHtml)
    {
        while (true)
        {
            var original = text;
            if (unescapeHtml) text = HtmlEntities.FtfyUnescape(text);
            text = FixMojibake(text);
            text = FixC1Controls(text);
            text = FixLatinLigatures(text);
            text = FixCharacterWidth(text);
            text = UncurlQuotes(text);
            text = FixLineBreaks(text);
            text = FixSurrogates(text);
            text = TerminalEscape.Replace(text, "");
            text = RemoveControlChars(text);
            text = text.Normalize(NormalizationForm.FormC);
            if (text == original) return text;
        }
    }

    /// <summary>Decodes runs of Windows-1252/Latin-1 characters that spell valid multi-byte UTF-8 (see the class notes).</summary>
    public static string FixMojibake(string text)
    {
        if (text.All(char.IsAscii)) return text;
        StringBuilder? sb = null;
        int copied = 0;
        for (int i = 0; i < text.Length; i++)
        {
            int n = SequenceLengthAt(text, i, out var decoded);
            if (n == 0) continue;
            sb ??= new StringBuilder(text.Length);
            sb.Append(text, copied, i - copied).Append(decoded);
            i += n - 1;
            copied = i + 1;
        }
        return sb == null ? text : sb.Append(text, copied, text.Length - copied).ToString();
    }

    private static int SequenceLengthAt(string text, int i, out string decoded)
    {
        decoded = "";
        if (!SloppyWindows1252.TryEncode(text[i], out var lead)) return 0;
        int n = lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
        if (n == 0 || i + n > text.Length) return 0;
        var bytes = new byte[n];
        bytes[0] = lead;
        for (int k = 1; k < n; k++)
        {
            if (!SloppyWindows1252.TryEncode(text[i + k], out bytes[k]) || bytes[k] < 0x80 || bytes[k] > 0xBF) return 0;
        }
        // Strict decoding rejects overlong forms and surrogates.
        if (Rune.DecodeFromUtf8(bytes, out var rune, out int used) != System.Buffers.OperationStatus.Done || used != n) return 0;
        if (n == 2 && lead >= 0xC4 && Typographic.Contains(text[i + 1])) return 0;
        decoded = rune.ToString();
        return n;
    }

    /// <summary>C1 controls (U+0080..U+009F) are Windows-1252 bytes decoded as Latin-1.</summary>
    public static string FixC1Controls(string text)
    {
        if (!text.Any(c => c >= '\u0080' && c <= '\u009F')) return text;
        return string.Concat(text.Select(c => c >= '\u0080' && c <= '\u009F' ? SloppyWindows1252.Decode((byte)c) : c));
    }

    /// <summary>Latin ligature letters to their letter sequences (their Unicode compatibility decompositions).</summary>
    public static string FixLatinLigatures(string text)
    {
        if (!text.Any(IsLatinLigature)) return text;
        var sb = new StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            if (!IsLatinLigature(c)) sb.Append(c);
            else if (c == '\uFB05') sb.Append("ſt");            // compatibility decomposition: LONG S + T
            else sb.Append(c.ToString().Normalize(NormalizationForm.FormKC));
        }
        return sb.ToString();
    }

    private static bool IsLatinLigature(char c) =>
        c is 'Ĳ' or 'ĳ' or 'ŉ' || (c >= '\u01C4' && c <= '\u01CC') || (c >= '\u01F1' && c <= '\u01F3') || (c >= '\uFB00' && c <= '\uFB06');

    /// <summary>Full-width and half-width forms (U+FF01..U+FFEF) and the ideographic space to their NFKC equivalents.</summary>
    public static string FixCharacterWidth(string text)
    {
        if (!text.Any(c => c == '\u3000' || (c >= '\uFF01' && c <= '\uFFEF'))) return text;
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (c == '\u3000') sb.Append(' ');
            else if (c >= '\uFF01' && c <= '\uFFEF') sb.Append(c.ToString().Normalize(NormalizationForm.FormKC));
            else sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>‘ ’ ‚ ‛ ʼ to ' and “ ” „ ‟ to ".</summary>
    public static string UncurlQuotes(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (c == '\u02BC' || (c >= '\u2018' && c <= '\u201B')) sb.Append('\'');
            else if (c >= '\u201C' && c <= '\u201F') sb.Append('"');
            else sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>CRLF, CR, LINE SEPARATOR, PARAGRAPH SEPARATOR and NEXT LINE to "\n".</summary>
    public static string FixLineBreaks(string text) =>
        text.Replace("\r\n", "\n").Replace('\r', '\n').Replace('\u2028', '\n').Replace('\u2029', '\n').Replace('\u0085', '\n');

    /// <summary>Unpaired UTF-16 surrogates become U+FFFD.</summary>
    public static string FixSurrogates(string text)
    {
        StringBuilder? sb = null;
        for (int i = 0; i < text.Length; i++)
        {
            var c = text[i];
            bool paired = char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]);
            if (paired) { sb?.Append(c).Append(text[i + 1]); i++; continue; }
            if (char.IsSurrogate(c)) { sb ??= new StringBuilder(text[..i]); sb.Append('\uFFFD'); continue; }
            sb?.Append(c);
        }
        return sb?.ToString() ?? text;
    }

    /// <summary>Removes C0 controls other than \t \n \f \r, DEL, the deprecated format controls U+206A..U+206F, the BOM
    /// and the interlinear annotation / object replacement controls U+FFF9..U+FFFC.</summary>
    public static string RemoveControlChars(string text)
    {
        if (!text.Any(IsRemovableControl)) return text;
        return string.Concat(text.Where(c => !IsRemovableControl(c)));
    }

    private static bool IsRemovableControl(char c) =>
        c <= '\u0008' || c == '\u000B' || (c >= '\u000E' && c <= '\u001F') || c == '\u007F'
        || (c >= '\u206A' && c <= '\u206F') || c == '\uFEFF' || (c >= '\uFFF9' && c <= '\uFFFC');
}
