using T2VTurbo.Text;

namespace T2VTurbo.Rewards.ViClip;

/// <summary>ViCLIP's tokenizer (viclip/simple_tokenizer.py + <c>CLIP_TEXT.tokenize(texts, context_length=32)</c>): the
/// OpenAI CLIP BPE (<c>bpe_simple_vocab_16e6.txt.gz</c>, the same vocabulary and cleaning as open_clip's: ftfy,
/// html-unescape twice, whitespace collapse, lower-case), special tokens spelled <c>&lt;|startoftext|&gt;</c> /
/// <c>&lt;|endoftext|&gt;</c> (ids 49406 / 49407), zero padding; a long caption keeps its first
/// context_length − 2 tokens and ends with EOT (<c>truncate=True</c>).</summary>
public static class ViClipTokenizer
{
    public static ClipTokenizerOptions Options(int contextLength) => ClipTokenizerOptions.OpenClip with
    {
        ContextLength = contextLength,
        StartLiteral = "<|startoftext|>",
        EndLiteral = "<|endoftext|>",
    };

    /// <summary>The tokenizer from the vocabulary embedded in the library.</summary>
    public static ClipTokenizer Create(int contextLength = 32) => ClipTokenizer.FromEmbedded(Options(contextLength));
}
