using System.Collections.Concurrent;
using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace T2VTurbo.Text;

/// <summary>
/// CLIP's byte-level BPE (open_clip SimpleTokenizer.bpe / HF CLIPTokenizer.bpe): a word is spelled in GPT-2 byte
/// characters, its last character carries "&lt;/w&gt;", and the adjacent pair with the lowest merge rank is merged
/// everywhere (left to right, non-overlapping) until no ranked pair is left. Results are cached per word.
/// </summary>
public sealed class ByteLevelBpe
{
    public const string EndOfWord = "</w>";

    /// <summary>open_clip keeps merges[1 : 49152-256-2+1] of its vocabulary file.</summary>
    public const int OpenClipMergeCount = 49152 - 256 - 2;

    private readonly Dictionary<string, int> vocab;
    private readonly Dictionary<(string, string), int> ranks;
    private readonly ConcurrentDictionary<string, int[]> cache = new(StringComparer.Ordinal);
    private int cachedWords;

    /// <summary>The word cache is emptied when it grows past this many entries (long training runs see endless words).</summary>
    public const int MaxCachedWords = 200_000;

    /// <summary>GPT-2 bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100 onwards
    /// (in byte order). Index = byte value.</summary>
    public static IReadOnlyList<string> ByteChars { get; } = BuildByteChars();

    /// <summary>The order in which the 256 byte characters enter the vocabulary (ids 0..255): printable ranges first.</summary>
    public static IReadOnlyList<string> ByteCharsInVocabOrder { get; } = BuildByteCharsInVocabOrder();

    public IReadOnlyDictionary<string, int> Vocab => vocab;
    public int MergeCount => ranks.Count;

    private ByteLevelBpe(Dictionary<string, int> vocab, Dictionary<(string, string), int> ranks)
    {
        this.vocab = vocab;
        this.ranks = ranks;
    }

    private string[]? tokensById;

    /// <summary>The vocabulary entry of an id (byte characters, possibly ending in &lt;/w&gt;).</summary>
    public string TokenOf(int id)
    {
        tokensById ??= BuildTokensById();
        if (id < 0 || id >= tokensById.Length || tokensById[id] == null)
            throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} is not in the vocabulary (0..{tokensById.Length - 1})");
        return tokensById[id];
    }

    private string[] BuildTokensById()
    {
        var byId = new string[vocab.Values.Max() + 1];
        foreach (var (token, id) in vocab) byId[id] = token;
        return byId;
    }

    /// <summary>Byte characters back to bytes; characters outside the byte alphabet (special token names) as UTF-8.</summary>
    public static byte[] FromByteChars(string byteChars)
    {
        var bytes = new List<byte>(byteChars.Length);
        foreach (var c in byteChars)
        {
            if (ByteOfChar.TryGetValue(c, out var b)) bytes.Add(b);
            else bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
        }
        return bytes.ToArray();
    }

    private static readonly Dictionary<char, byte> ByteOfChar =
        Enumerable.Range(0, 256).ToDictionary(b => ByteChars[b][0], b => (byte)b);

    /// <summary>Token -> id of the vocabulary, or null when absent.</summary>
    public int? IdOf(string token) => vocab.TryGetValue(token, out var id) ? id : null;

    /// <summary>Ids of one pre-tokenized piece (its UTF-8 bytes as byte characters, then BPE).</summary>
    public IReadOnlyList<int> EncodePiece(string piece)
    {
        var byteWord = ToByteChars(piece);
        if (cache.TryGetValue(byteWord, out var ids)) return ids;
        ids = MergeAndLookUp(byteWord);
        if (Interlocked.Increment(ref cachedWords) > MaxCachedWords)
        {
            cache.Clear();
            Interlocked.Exchange(ref cachedWords, 0);
        }
        cache[byteWord] = ids;
        return ids;
    }

    /// <summary>The UTF-8 bytes of <paramref name="text"/> spelled as GPT-2 byte characters.</summary>
    public static string ToByteChars(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var b in Encoding.UTF8.GetBytes(text)) sb.Append(ByteChars[b]);
        return sb.ToString();
    }

    private int[] MergeAndLookUp(string byteWord)
    {
        var symbols = Merge(byteWord);
        var ids = new int[symbols.Count];
        for (int i = 0; i < ids.Length; i++)
        {
            if (!vocab.TryGetValue(symbols[i], out ids[i]))
                throw new InvalidOperationException($"BPE produced '{symbols[i]}', which is not in the vocabulary (the merges and vocab do not belong together)");
        }
        return ids;
    }

    /// <summary>The BPE symbols of one word (already in byte characters), the last one ending in &lt;/w&gt;.</summary>
    public List<string> Merge(string byteWord)
    {
        var word = SplitChars(byteWord);
        if (word.Count == 0) return word;
        word[^1] += EndOfWord;
        while (word.Count > 1)
        {
            int bestRank = int.MaxValue;
            (string, string) best = default;
            for (int i = 0; i + 1 < word.Count; i++)
            {
                if (ranks.TryGetValue((word[i], word[i + 1]), out var r) && r < bestRank) { bestRank = r; best = (word[i], word[i + 1]); }
            }
            if (bestRank == int.MaxValue) break;
            var merged = new List<string>(word.Count);
            for (int i = 0; i < word.Count;)
            {
                if (i + 1 < word.Count && word[i] == best.Item1 && word[i + 1] == best.Item2) { merged.Add(best.Item1 + best.Item2); i += 2; }
                else { merged.Add(word[i]); i++; }
            }
            word = merged;
        }
        return word;
    }

    // Byte characters are all in the BMP, but keep surrogate pairs whole in case a caller passes other text.
    private static List<string> SplitChars(string s)
    {
        var list = new List<string>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { list.Add(s.Substring(i, 2)); i++; }
            else list.Add(s[i].ToString());
        }
        return list;
    }

    /// <summary>HF style: vocab.json (token -> id) and merges.txt ("#version" header, then "a b" per line in rank order).</summary>
    public static ByteLevelBpe FromVocabAndMerges(string vocabJsonPath, string mergesTxtPath)
    {
        RequireFile(vocabJsonPath, "vocab.json");
        RequireFile(mergesTxtPath, "merges.txt");
        Dictionary<string, int> vocab;
        try
        {
            vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(vocabJsonPath))
                    ?? throw new InvalidDataException("null");
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or NotSupportedException)
        {
            throw new InvalidDataException($"{vocabJsonPath}: not a JSON object of token -> integer id ({e.Message})", e);
        }
        if (vocab.Count == 0) throw new InvalidDataException($"{vocabJsonPath}: the vocabulary is empty");

        var lines = File.ReadAllLines(mergesTxtPath, Encoding.UTF8);
        int first = lines.Length > 0 && lines[0].StartsWith("#version", StringComparison.Ordinal) ? 1 : 0;
        var mergeLines = lines.Skip(first).TakeWhile(l => l.Length > 0).ToList();
        if (lines.Skip(first + mergeLines.Count).Any(l => l.Trim().Length > 0))
            throw new InvalidDataException($"{mergesTxtPath}: blank line {first + mergeLines.Count + 1} inside the merges");
        var ranks = ParseMerges(mergeLines, mergesTxtPath, first + 1);
        var bpe = new ByteLevelBpe(vocab, ranks);
        bpe.CheckCovers(vocabJsonPath);
        return bpe;
    }

    /// <summary>open_clip's bpe_simple_vocab_16e6.txt.gz: line 0 a header, then <paramref name="mergeCount"/> merges;
    /// the vocabulary is built from them (byte chars, byte chars + &lt;/w&gt;, merges, then <paramref name="specialTokens"/>).</summary>
    public static ByteLevelBpe FromBpeGz(string path, IReadOnlyList<string> specialTokens, int mergeCount = OpenClipMergeCount)
    {
        RequireFile(path, "bpe vocabulary (.txt.gz)");
        using var stream = File.OpenRead(path);
        return FromBpeGz(stream, path, specialTokens, mergeCount);
    }

    public static ByteLevelBpe FromBpeGz(Stream gz, string label, IReadOnlyList<string> specialTokens, int mergeCount = OpenClipMergeCount)
    {
        string text;
        try
        {
            using var unzip = new GZipStream(gz, CompressionMode.Decompress, leaveOpen: true);
            using var reader = new StreamReader(unzip, new UTF8Encoding(false, throwOnInvalidBytes: true));
            text = reader.ReadToEnd();
        }
        catch (Exception e) when (e is InvalidDataException or DecoderFallbackException)
        {
            throw new InvalidDataException($"{label}: not a gzip-compressed UTF-8 text file ({e.Message})", e);
        }
        var lines = text.Split('\n');
        if (lines.Length < mergeCount + 1)
            throw new InvalidDataException($"{label}: has {Math.Max(0, lines.Length - 1)} merge lines after the header, {mergeCount} are needed");
        var ranks = ParseMerges(lines.Skip(1).Take(mergeCount).ToList(), label, 2);

        var tokens = new List<string>(512 + mergeCount + specialTokens.Count);
        tokens.AddRange(ByteCharsInVocabOrder);
        tokens.AddRange(ByteCharsInVocabOrder.Select(c => c + EndOfWord));
        tokens.AddRange(ranks.OrderBy(kv => kv.Value).Select(kv => kv.Key.Item1 + kv.Key.Item2));
        tokens.AddRange(specialTokens);
        var vocab = new Dictionary<string, int>(tokens.Count, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Count; i++) vocab[tokens[i]] = i;   // later duplicates win, as in dict(zip(vocab, range))
        return new ByteLevelBpe(vocab, ranks);
    }

    private static Dictionary<(string, string), int> ParseMerges(List<string> lines, string label, int firstLineNumber)
    {
        if (lines.Count == 0) throw new InvalidDataException($"{label}: contains no merges");
        var ranks = new Dictionary<(string, string), int>(lines.Count);
        for (int i = 0; i < lines.Count; i++)
        {
            var parts = lines[i].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2)
                throw new InvalidDataException($"{label}: line {firstLineNumber + i} is not a merge of two symbols: '{lines[i]}'");
            ranks.TryAdd((parts[0], parts[1]), i);   // a repeated pair keeps its first (lowest) rank
        }
        return ranks;
    }

    private void CheckCovers(string vocabLabel)
    {
        foreach (var c in ByteCharsInVocabOrder)
        {
            if (!vocab.ContainsKey(c) || !vocab.ContainsKey(c + EndOfWord))
                throw new InvalidDataException($"{vocabLabel}: byte token '{c}' (or '{c}{EndOfWord}') is missing");
        }
        foreach (var (a, b) in ranks.Keys)
        {
            if (!vocab.ContainsKey(a + b))
                throw new InvalidDataException($"{vocabLabel}: merge '{a} {b}' gives '{a + b}', which is not in the vocabulary");
        }
    }

    private static void RequireFile(string path, string what)
    {
        if (string.IsNullOrEmpty(path)) throw new ArgumentException($"no path given for the {what}");
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer {what} not found: {path}", path);
    }

    private static int[] PrintableBytes() =>
        Enumerable.Range('!', '~' - '!' + 1)
            .Concat(Enumerable.Range('¡', '¬' - '¡' + 1))
            .Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToArray();

    private static string[] BuildByteChars()
    {
        var map = new string[256];
        var printable = PrintableBytes().ToHashSet();
        int next = 0;
        for (int b = 0; b < 256; b++)
            map[b] = printable.Contains(b) ? ((char)b).ToString() : ((char)(256 + next++)).ToString();
        return map;
    }

    private static string[] BuildByteCharsInVocabOrder()
    {
        var printable = PrintableBytes();
        var rest = Enumerable.Range(0, 256).Except(printable);
        return printable.Concat(rest).Select(b => ByteChars[b]).ToArray();
    }
}
