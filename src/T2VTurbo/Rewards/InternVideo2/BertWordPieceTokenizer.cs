using System.Globalization;
using System.IO.Compression;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Rewards.InternVideo2;

/// <summary>The slow HF <c>BertTokenizer</c> as InternVideo2's <c>tokenization_bert.py</c> runs it for the reward:
/// uncased BasicTokenizer (clean, CJK split, lower case, strip accents, punctuation split) → greedy longest-match
/// WordPiece (<c>##</c> continuations, [UNK] for unsplittable words or words over 100 characters) → <c>[CLS]</c>
/// prepended and — InternVideo2's quirk — <b>no</b> <c>[SEP]</c>; truncated to max_length − 1 word pieces and padded
/// with [PAD] to max_length. Special-token literals in the text ("[SEP]", …) are kept whole, as the slow tokenizer's
/// added-token split does.</summary>
public sealed class BertWordPieceTokenizer
{
    public const string EmbeddedVocabularyName = "T2VTurbo.Rewards.InternVideo2.bert_uncased_vocab.txt.gz";
    private const int MaxInputCharsPerWord = 100;
    private static readonly string[] SpecialTokens = { "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]" };

    /// <summary>What Python's str.split() still splits on after cleaning: spaces and the line/paragraph separators.</summary>
    private static readonly char[] WordSeparators = { ' ', '\u2028', '\u2029' };

    private readonly Dictionary<string, long> vocab;

    public long PadId { get; }
    public long UnkId { get; }
    public long ClsId { get; }
    public int VocabSize => vocab.Count;

    /// <summary>vocab.txt lines: token i is on line i (a later duplicate line wins, as <c>load_vocab</c> does).</summary>
    public BertWordPieceTokenizer(IEnumerable<string> vocabLines, string source = "vocab")
    {
        vocab = new Dictionary<string, long>(StringComparer.Ordinal);
        long index = 0;
        foreach (var line in vocabLines) vocab[line.TrimEnd('\n', '\r')] = index++;
        long Id(string token) => vocab.TryGetValue(token, out var id) ? id
            : throw new ArgumentException($"BertWordPieceTokenizer: {source} has no {token} token");
        PadId = Id("[PAD]");
        UnkId = Id("[UNK]");
        ClsId = Id("[CLS]");
    }

    /// <summary>From a vocab.txt file (one token a line).</summary>
    public static BertWordPieceTokenizer FromVocabFile(string path) => new(ReadLines(File.OpenRead(path), gzip: path.EndsWith(".gz", StringComparison.Ordinal)), path);

    /// <summary>The embedded bert-base/large-uncased vocab.txt (30522 tokens; md5 64800d5d8528ce344256daf115d4965e).</summary>
    public static BertWordPieceTokenizer FromEmbedded()
    {
        var stream = typeof(BertWordPieceTokenizer).Assembly.GetManifestResourceStream(EmbeddedVocabularyName)
            ?? throw new InvalidOperationException($"embedded resource {EmbeddedVocabularyName} is missing");
        return new BertWordPieceTokenizer(ReadLines(stream, gzip: true), EmbeddedVocabularyName);
    }

    private static List<string> ReadLines(Stream stream, bool gzip)
    {
        using var s = gzip ? new GZipStream(stream, CompressionMode.Decompress) : stream;
        using var reader = new StreamReader(s, new UTF8Encoding(false));
        var lines = new List<string>();
        while (reader.ReadLine() is string line) lines.Add(line);
        return lines;
    }

    /// <summary>Word pieces of one text (no special tokens added).</summary>
    public List<string> Tokenize(string text)
    {
        var pieces = new List<string>();
        foreach (var (chunk, special) in SplitOnSpecialTokens(text))
        {
            if (special) { pieces.Add(chunk); continue; }
            foreach (var word in BasicTokenize(chunk)) WordPiece(word, pieces);
        }
        return pieces;
    }

    public long TokenToId(string token) => vocab.TryGetValue(token, out var id) ? id : UnkId;

    /// <summary><c>tokenizer(texts, padding="max_length", truncation=True, max_length)</c>: input ids and attention
    /// mask, both [N, maxLength] int64: [CLS] + up to maxLength − 1 word pieces, then [PAD] (mask 0).</summary>
    public (Tensor InputIds, Tensor AttentionMask) Encode(IReadOnlyList<string> texts, int maxLength)
    {
        if (texts.Count == 0) throw new ArgumentException("BertWordPieceTokenizer: no texts to encode");
        if (maxLength < 1) throw new ArgumentException($"BertWordPieceTokenizer: max_length must be at least 1, got {maxLength}");
        var ids = new long[texts.Count * maxLength];
        var mask = new long[texts.Count * maxLength];
        for (int n = 0; n < texts.Count; n++)
        {
            var row = new List<long> { ClsId };
            row.AddRange(Tokenize(texts[n] ?? throw new ArgumentException($"BertWordPieceTokenizer: text {n} is null"))
                .Take(maxLength - 1).Select(TokenToId));
            for (int i = 0; i < maxLength; i++)
            {
                ids[n * maxLength + i] = i < row.Count ? row[i] : PadId;
                mask[n * maxLength + i] = i < row.Count ? 1 : 0;
            }
        }
        return (torch.tensor(ids, new long[] { texts.Count, maxLength }), torch.tensor(mask, new long[] { texts.Count, maxLength }));
    }

    /// <summary>Added-token split: exact special-token literals become their own chunks.</summary>
    private static IEnumerable<(string Chunk, bool Special)> SplitOnSpecialTokens(string text)
    {
        int start = 0;
        while (start < text.Length)
        {
            int best = -1; string? hit = null;
            foreach (var t in SpecialTokens)
            {
                int at = text.IndexOf(t, start, StringComparison.Ordinal);
                if (at >= 0 && (best < 0 || at < best)) { best = at; hit = t; }
            }
            if (hit is null) { yield return (text[start..], false); yield break; }
            if (best > start) yield return (text[start..best], false);
            yield return (hit, true);
            start = best + hit.Length;
        }
    }

    /// <summary>BasicTokenizer(do_lower_case=True, tokenize_chinese_chars=True): the words and punctuation marks.</summary>
    public static List<string> BasicTokenize(string text)
    {
        var cleaned = new StringBuilder(text.Length);
        foreach (var r in text.EnumerateRunes())
        {
            if (r.Value == 0 || r.Value == 0xFFFD || IsControl(r)) continue;
            if (IsWhitespace(r)) cleaned.Append(' ');
            else if (IsChineseChar(r.Value)) cleaned.Append(' ').Append(r.ToString()).Append(' ');
            else cleaned.Append(r.ToString());
        }
        var words = new List<string>();
        foreach (var token in cleaned.ToString().Split(WordSeparators, StringSplitOptions.RemoveEmptyEntries))
        {
            var lowered = StripAccents(token.ToLowerInvariant());
            var current = new StringBuilder();
            foreach (var r in lowered.EnumerateRunes())
            {
                if (IsPunctuation(r))
                {
                    if (current.Length > 0) { words.Add(current.ToString()); current.Clear(); }
                    words.Add(r.ToString());
                }
                else current.Append(r.ToString());
            }
            if (current.Length > 0) words.Add(current.ToString());
        }
        return words;
    }

    /// <summary>Greedy longest-match-first WordPiece of one word (code points, not UTF-16 units).</summary>
    private void WordPiece(string word, List<string> output)
    {
        var chars = word.EnumerateRunes().Select(r => r.ToString()).ToArray();
        if (chars.Length > MaxInputCharsPerWord) { output.Add("[UNK]"); return; }
        var subTokens = new List<string>();
        int start = 0;
        while (start < chars.Length)
        {
            string? found = null;
            int end = chars.Length;
            for (; end > start; end--)
            {
                var piece = string.Concat(chars[start..end]);
                if (start > 0) piece = "##" + piece;
                if (vocab.ContainsKey(piece)) { found = piece; break; }
            }
            if (found is null) { output.Add("[UNK]"); return; }
            subTokens.Add(found);
            start = end;
        }
        output.AddRange(subTokens);
    }

    private static string StripAccents(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var r in text.Normalize(NormalizationForm.FormD).EnumerateRunes())
            if (Rune.GetUnicodeCategory(r) != UnicodeCategory.NonSpacingMark) sb.Append(r.ToString());
        return sb.ToString();
    }

    private static bool IsWhitespace(Rune r) =>
        r.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator;

    /// <summary>Unicode categories C* (Cc, Cf, Cs, Co, Cn), except tab / newline / carriage return.</summary>
    private static bool IsControl(Rune r)
    {
        if (r.Value is '\t' or '\n' or '\r') return false;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    /// <summary>ASCII non-alphanumerics (33–47, 58–64, 91–96, 123–126) and Unicode categories P*.</summary>
    private static bool IsPunctuation(Rune r)
    {
        int cp = r.Value;
        if (cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126) return true;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>The CJK Unified Ideograph blocks BERT splits into single characters.</summary>
    private static bool IsChineseChar(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
