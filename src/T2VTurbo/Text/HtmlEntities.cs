using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace T2VTurbo.Text;

/// <summary>
/// HTML character references as Python decodes them: <see cref="PythonUnescape"/> is <c>html.unescape</c> (numeric
/// references with the HTML5 replacement rules, named ones with or without ';' for the legacy Latin-1 names), and
/// <see cref="FtfyUnescape"/> is ftfy's stricter pass (only complete <c>&amp;name;</c> / <c>&amp;#n;</c>, plus upper-case
/// spellings of lower-case names). Named entities come from <see cref="WebUtility.HtmlDecode(string)"/>, i.e. the
/// HTML 4 set; the rarer HTML5-only names are left as text.
/// </summary>
public static class HtmlEntities
{
    private static readonly Regex PythonCharRef = new(@"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)", RegexOptions.CultureInvariant);
    private static readonly Regex CompleteCharRef = new(@"&#?[0-9A-Za-z]{1,24};", RegexOptions.CultureInvariant);

    /// <summary>Names HTML5 also accepts without the final ';' (the Latin-1 set plus a few upper-case aliases).</summary>
    private static readonly HashSet<string> LegacyNames = new(
        ("nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg plusmn sup2 sup3 acute " +
         "micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest Agrave Aacute Acirc Atilde Auml Aring AElig " +
         "Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times Oslash " +
         "Ugrave Uacute Ucirc Uuml Yacute THORN szlig agrave aacute acirc atilde auml aring aelig ccedil egrave eacute " +
         "ecirc euml igrave iacute icirc iuml eth ntilde ograve oacute ocirc otilde ouml divide oslash ugrave uacute ucirc " +
         "uuml yacute thorn yuml amp lt gt quot AMP LT GT QUOT COPY REG").Split(' '), StringComparer.Ordinal);

    private static readonly Dictionary<string, string> UpperAliases = new(StringComparer.Ordinal)
    {
        ["AMP"] = "amp", ["LT"] = "lt", ["GT"] = "gt", ["QUOT"] = "quot", ["COPY"] = "copy", ["REG"] = "reg",
    };

    /// <summary>Python's <c>html.unescape</c>.</summary>
    public static string PythonUnescape(string text)
    {
        if (!text.Contains('&')) return text;
        return PythonCharRef.Replace(text, m => ReplacePythonCharRef(m.Groups[1].Value));
    }

    /// <summary>ftfy's <c>unescape_html</c>: complete references only; a numeric one whose result still contains ';' stays.</summary>
    public static string FtfyUnescape(string text)
    {
        if (!text.Contains('&')) return text;
        return CompleteCharRef.Replace(text, m =>
        {
            var body = m.Value[1..^1];
            if (body.StartsWith('#'))
            {
                var decoded = PythonUnescape(m.Value);
                return decoded.Contains(';') ? m.Value : decoded;
            }
            if (Named(body) is { } value) return value;
            // An all-capitals spelling of a lower-case name decodes to the capitalised character.
            var lower = body.ToLowerInvariant();
            if (body == body.ToUpperInvariant() && lower != body && Named(lower) is { } lowerValue) return lowerValue.ToUpperInvariant();
            return m.Value;
        });
    }

    private static string ReplacePythonCharRef(string s)
    {
        if (s[0] == '#')
        {
            bool hex = s.Length > 1 && (s[1] == 'x' || s[1] == 'X');
            var digits = s[(hex ? 2 : 1)..].TrimEnd(';');
            bool ok = long.TryParse(digits, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out var num);
            if (!ok || num > 0x10FFFF) return "\uFFFD";   // too long to parse means far above the Unicode range
            if (num == 0) return "\uFFFD";
            if (num == 0x0D) return "\r";
            if (num >= 0x80 && num <= 0x9F) return SloppyWindows1252.Decode((byte)num).ToString();
            if (num >= 0xD800 && num <= 0xDFFF) return "\uFFFD";
            if (IsInvalidCodePoint((int)num)) return "";
            return char.ConvertFromUtf32((int)num);
        }
        bool semicolon = s.EndsWith(';');
        var name = semicolon ? s[..^1] : s;
        if (semicolon && Named(name) is { } value) return value;
        if (!semicolon && LegacyNames.Contains(name)) return Named(name)!;
        // The longest legacy name that prefixes the reference wins; the rest stays as text.
        for (int x = s.Length - 1; x > 1; x--)
        {
            var prefix = s[..x];
            if (LegacyNames.Contains(prefix)) return Named(prefix)! + s[x..];
        }
        return "&" + s;
    }

    private static bool IsInvalidCodePoint(int c) =>
        (c >= 0x1 && c <= 0x8) || c == 0xB || (c >= 0xE && c <= 0x1F) || (c >= 0x7F && c <= 0x9F)
        || (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE;

    /// <summary>The character(s) of a named entity (without '&amp;' and ';'), or null when unknown.</summary>
    private static string? Named(string name)
    {
        if (UpperAliases.TryGetValue(name, out var alias)) name = alias;
        if (name.Length == 0 || !name.All(char.IsAsciiLetterOrDigit)) return null;
        var entity = "&" + name + ";";
        var decoded = WebUtility.HtmlDecode(entity);
        return decoded == entity ? null : decoded;
    }
}

/// <summary>Windows-1252 with the five unassigned bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) decoding to the C1 control of the
/// same value, as ftfy's "sloppy-windows-1252" and Python's HTML charref table do. Every byte and only these 256
/// characters round-trip.</summary>
public static class SloppyWindows1252
{
    private const string HighRow = "€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008DŽ\u008F\u0090‘’“”•–—˜™š›œ\u009DžŸ";
    private static readonly Dictionary<char, byte> Encoder = BuildEncoder();

    public static char Decode(byte b) => b >= 0x80 && b <= 0x9F ? HighRow[b - 0x80] : (char)b;

    public static bool TryEncode(char c, out byte b) => Encoder.TryGetValue(c, out b);

    private static Dictionary<char, byte> BuildEncoder()
    {
        var map = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++) map[Decode((byte)b)] = (byte)b;
        return map;
    }
}
