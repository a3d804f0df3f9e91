namespace T2VTurbo.Text;

/// <summary>Which cleaning a <see cref="ClipTokenizer"/> applies (see <see cref="TextCleaner"/>).</summary>
public enum ClipCleaning
{
    /// <summary>open_clip <c>_clean_lower</c>: ftfy, html.unescape twice, strip, whitespace collapse, lower-case.</summary>
    OpenClip,
    /// <summary>HF <c>CLIPTokenizer._tokenize</c>: ftfy (its own entity pass only), whitespace collapse, lower-case.</summary>
    HuggingFace,
}

/// <summary>
/// What differs between the CLIP tokenizers that share one BPE: open_clip 2.24 <c>SimpleTokenizer</c> (VideoCrafter2)
/// and the HF slow <c>CLIPTokenizer</c> with the ModelScope tokenizer files (pad token "!").
/// </summary>
public sealed record ClipTokenizerOptions
{
    /// <summary>Ids per prompt: SOT + up to ContextLength-2 tokens + EOT, then padding.</summary>
    public int ContextLength { get; init; } = 77;

    /// <summary>Padding id after EOT (open_clip pads with 0; HF pads with the id of "!", also 0).</summary>
    public long PadId { get; init; } = 0;

    /// <summary>Text that the pre-tokenizer regex maps to the start-of-text id (first alternative of the pattern).</summary>
    public string StartLiteral { get; init; } = "<start_of_text>";

    /// <summary>Text that the pre-tokenizer regex maps to the end-of-text id.</summary>
    public string EndLiteral { get; init; } = "<end_of_text>";

    /// <summary>Strings cut out of the raw prompt before cleaning and encoded as single ids, with the text between them
    /// cleaned and tokenized separately (HF added/special tokens; "!" is the MS pad token, so "!" is never merged).</summary>
    public IReadOnlyList<string> AddedTokens { get; init; } = [];

    public ClipCleaning Cleaning { get; init; } = ClipCleaning.OpenClip;

    /// <summary>open_clip 2.24 <c>open_clip.tokenize</c> as VideoCrafter2's FrozenOpenCLIPEmbedder calls it.</summary>
    public static ClipTokenizerOptions OpenClip { get; } = new();

    /// <summary>HF <c>CLIPTokenizer</c> with ali-vilab/text-to-video-ms-1.7b's tokenizer files (pad "!", ftfy installed).</summary>
    public static ClipTokenizerOptions HuggingFace { get; } = new()
    {
        StartLiteral = "<|startoftext|>",
        EndLiteral = "<|endoftext|>",
        AddedTokens = ["<|startoftext|>", "<|endoftext|>", "!"],
        Cleaning = ClipCleaning.HuggingFace,
    };
}
