using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Text;

/// <summary>
/// CLIP BPE tokenizer: open_clip 2.24 <c>open_clip.tokenize</c> (VideoCrafter2's text path) or, with
/// <see cref="ClipTokenizerOptions.HuggingFace"/>, the HF <c>CLIPTokenizer</c> of the ModelScope pipeline. One prompt
/// becomes <c>[SOT] + tokens + [EOT]</c> padded to <see cref="ContextLength"/>; a longer one keeps its first
/// ContextLength-2 tokens and still ends with EOT.
/// </summary>
public sealed class ClipTokenizer
{
    public const string EmbeddedVocabularyName = "T2VTurbo.Text.bpe_simple_vocab_16e6.txt.gz";

    private static readonly string[] StartNames = ["<start_of_text>", "<|startoftext|>"];
    private static readonly string[] EndNames = ["<end_of_text>", "<|endoftext|>"];
    private static readonly Lazy<ClipTokenizer> LazyDefault = new(() => FromEmbedded(ClipTokenizerOptions.OpenClip));

    private readonly ByteLevelBpe bpe;
    private readonly string[] specialLiterals;
    private readonly Dictionary<string, long> addedTokenIds;

    public ClipTokenizerOptions Options { get; }
    public int ContextLength => Options.ContextLength;
    public long StartOfTextId { get; }
    public long EndOfTextId { get; }
    public long PadId => Options.PadId;
    public int VocabSize => bpe.Vocab.Count;

    /// <summary>open_clip's tokenizer from the vocabulary embedded in this library (no files needed).</summary>
    public static ClipTokenizer Default => LazyDefault.Value;

    private ClipTokenizer(ByteLevelBpe bpe, ClipTokenizerOptions options, string source)
    {
        if (options.ContextLength < 2) throw new ArgumentException($"context length must be at least 2 (SOT and EOT), got {options.ContextLength}");
        this.bpe = bpe;
        Options = options;
        StartOfTextId = SpecialId(StartNames, options.StartLiteral, source);
        EndOfTextId = SpecialId(EndNames, options.EndLiteral, source);
        specialLiterals = [options.StartLiteral, options.EndLiteral];
        addedTokenIds = options.AddedTokens.ToDictionary(t => t, t => AddedTokenId(t, source), StringComparer.Ordinal);
    }

    /// <summary>From the embedded copy of open_clip's bpe_simple_vocab_16e6.txt.gz.</summary>
    public static ClipTokenizer FromEmbedded(ClipTokenizerOptions? options = null)
    {
        options ??= ClipTokenizerOptions.OpenClip;
        using var stream = typeof(ClipTokenizer).Assembly.GetManifestResourceStream(EmbeddedVocabularyName)
            ?? throw new InvalidOperationException($"embedded resource {EmbeddedVocabularyName} is missing from {typeof(ClipTokenizer).Assembly.GetName().Name}");
        return new ClipTokenizer(ByteLevelBpe.FromBpeGz(stream, EmbeddedVocabularyName, VocabSpecials(options)), options, EmbeddedVocabularyName);
    }

    /// <summary>From open_clip's vocabulary file (bpe_simple_vocab_16e6.txt.gz).</summary>
    public static ClipTokenizer FromBpeGz(string path, ClipTokenizerOptions? options = null)
    {
        options ??= ClipTokenizerOptions.OpenClip;
        return new ClipTokenizer(ByteLevelBpe.FromBpeGz(path, VocabSpecials(options)), options, path);
    }

    /// <summary>From HF-style vocab.json + merges.txt.</summary>
    public static ClipTokenizer FromFiles(string vocabJsonPath, string mergesTxtPath, ClipTokenizerOptions? options = null)
    {
        options ??= ClipTokenizerOptions.OpenClip;
        return new ClipTokenizer(ByteLevelBpe.FromVocabAndMerges(vocabJsonPath, mergesTxtPath), options, vocabJsonPath);
    }

    /// <summary>The prompt as the tokenizer sees it after cleaning (for HF, before added tokens are cut out).</summary>
    public string Clean(string text) => Options.Cleaning == ClipCleaning.OpenClip
        ? TextCleaner.CleanOpenClip(text)
        : TextCleaner.CleanHuggingFace(text);

    /// <summary>Token ids of the prompt without SOT/EOT, not truncated.</summary>
    public List<long> EncodeTokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<long>();
        foreach (var (segment, isAdded) in SplitAddedTokens(text))
        {
            if (isAdded) { ids.Add(addedTokenIds[segment]); continue; }
            foreach (var piece in ClipPreTokenizer.Split(Clean(segment), specialLiterals))
            {
                if (piece == Options.StartLiteral) ids.Add(StartOfTextId);
                else if (piece == Options.EndLiteral) ids.Add(EndOfTextId);
                else foreach (var id in bpe.EncodePiece(piece)) ids.Add(id);
            }
        }
        return ids;
    }

    /// <summary>The <see cref="ContextLength"/> ids of one prompt: SOT, tokens, EOT, padding.</summary>
    public long[] Encode(string text)
    {
        var tokens = EncodeTokens(text);
        var row = new long[ContextLength];
        Array.Fill(row, PadId);
        int kept = Math.Min(tokens.Count, ContextLength - 2);
        row[0] = StartOfTextId;
        tokens.CopyTo(0, row, 1, kept);
        row[kept + 1] = EndOfTextId;
        return row;
    }

    /// <summary>open_clip's <c>decode</c>: the tokens' bytes as UTF-8 (invalid sequences become U+FFFD), each
    /// end-of-word marker a space. Special and padding ids are decoded like any other id, so strip them first.</summary>
    public string Decode(IEnumerable<long> ids)
    {
        var byteChars = string.Concat(ids.Select(id => bpe.TokenOf(checked((int)id))));
        return System.Text.Encoding.UTF8.GetString(ByteLevelBpe.FromByteChars(byteChars)).Replace(ByteLevelBpe.EndOfWord, " ");
    }

    /// <summary>int64 [N, ContextLength] ids of the prompts.</summary>
    public Tensor Tokenize(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var flat = new long[texts.Count * ContextLength];
        for (int i = 0; i < texts.Count; i++) Encode(texts[i]).CopyTo(flat, i * ContextLength);
        return torch.tensor(flat, [texts.Count, ContextLength], ScalarType.Int64);
    }

    // HF PreTrainedTokenizer.tokenize: added tokens are matched exactly (longest at the earliest position) in the raw
    // text; empty pieces between them are dropped.
    private IEnumerable<(string Text, bool IsAdded)> SplitAddedTokens(string text)
    {
        if (addedTokenIds.Count == 0) { yield return (text, false); yield break; }
        int start = 0;
        for (int i = 0; i < text.Length;)
        {
            string? hit = null;
            foreach (var t in addedTokenIds.Keys)
                if (i + t.Length <= text.Length && string.CompareOrdinal(text, i, t, 0, t.Length) == 0 && (hit == null || t.Length > hit.Length)) hit = t;
            if (hit == null) { i++; continue; }
            if (i > start) yield return (text[start..i], false);
            yield return (hit, true);
            i += hit.Length;
            start = i;
        }
        if (start < text.Length) yield return (text[start..], false);
    }

    private static string[] VocabSpecials(ClipTokenizerOptions options) => [options.StartLiteral, options.EndLiteral];

    private long SpecialId(string[] names, string preferred, string source)
    {
        foreach (var name in names.Prepend(preferred))
            if (bpe.IdOf(name) is { } id) return id;
        throw new InvalidDataException($"{source}: the vocabulary has no special token {string.Join(" or ", names.Prepend(preferred).Distinct())}");
    }

    private long AddedTokenId(string token, string source)
    {
        if (token == Options.StartLiteral || StartNames.Contains(token)) return StartOfTextId;
        if (token == Options.EndLiteral || EndNames.Contains(token)) return EndOfTextId;
        return bpe.IdOf(ByteLevelBpe.ToByteChars(token)) ?? throw new InvalidDataException($"{source}: added token '{token}' is not in the vocabulary");
    }
}
