using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Rewards.ViClip;

/// <summary>ViCLIP's text encoder (<c>CLIP_TEXT</c> in viclip/viclip_text.py): token + positional embedding, causal
/// pre-LN QuickGELU blocks, <c>ln_final</c>, the row of the end-of-text token (the largest id, <c>argmax</c>) times
/// <c>text_projection</c>. Checkpoint prefix: <c>text_encoder.</c>.</summary>
public sealed class ViClipTextEncoder : nn.Module<Tensor, Tensor>
{
    private readonly Embedding token_embedding;          // key: token_embedding.weight [V, W]
    private readonly Parameter positional_embedding;     // key: positional_embedding [context_length, W]
    private readonly ViClipTransformer transformer;      // keys: transformer.resblocks.N.*
    private readonly LayerNorm ln_final;                 // keys: ln_final.*
    private readonly Parameter text_projection;          // key: text_projection [W, embed_dim]

    public ViClipTextConfig Config { get; }

    public ViClipTextEncoder(ViClipTextConfig? config = null) : base(nameof(ViClipTextEncoder))
    {
        Config = config ?? new ViClipTextConfig();
        Config.Validate();
        var c = Config;
        token_embedding = nn.Embedding(c.vocab_size, c.transformer_width);
        positional_embedding = new Parameter(torch.empty(c.context_length, c.transformer_width));
        transformer = new ViClipTransformer(c.transformer_width, c.transformer_layers, c.transformer_heads, c.layer_norm_eps, causal: true);
        ln_final = nn.LayerNorm(new long[] { c.transformer_width }, c.layer_norm_eps);
        text_projection = new Parameter(torch.empty(c.transformer_width, c.embed_dim));
        RegisterComponents();

        // OpenAI CLIP's initialisation (the real weights always come from the checkpoint).
        using var _ = torch.no_grad();
        nn.init.normal_(token_embedding.weight!, 0, 0.02);
        nn.init.normal_(positional_embedding, 0, 0.01);
        nn.init.normal_(text_projection, 0, Math.Pow(c.transformer_width, -0.5));
    }

    /// <summary>tokens [N, context_length] integer ids (SOT … EOT, zero padded) → raw text features [N, embed_dim].</summary>
    public override Tensor forward(Tensor tokens)
    {
        CheckTokens(tokens);
        using var scope = torch.NewDisposeScope();
        var ids = tokens.to(ScalarType.Int64);
        var x = token_embedding.forward(ids) + positional_embedding;           // [N, L, W]
        x = ln_final.forward(transformer.forward(x));                          // [N, L, W]
        var eot = ids.argmax(-1);                                              // [N]: EOT has the largest id
        var pooled = x[torch.arange(x.shape[0], device: x.device), eot];       // [N, W]
        return pooled.matmul(text_projection).MoveToOuterDisposeScope();       // [N, embed_dim]
    }

    private void CheckTokens(Tensor tokens)
    {
        if (tokens.dim() != 2 || tokens.shape[1] != Config.context_length)
            throw new ArgumentException($"ViClipTextEncoder: tokens must be [N, {Config.context_length}], got [{string.Join(", ", tokens.shape)}]");
        if (tokens.is_floating_point() || tokens.is_complex() || tokens.dtype == ScalarType.Bool)
            throw new ArgumentException($"ViClipTextEncoder: tokens must be integer ids, got {tokens.dtype}");
        if (tokens.numel() == 0 || tokens.device_type == DeviceType.META) return;
        long lo = tokens.min().item<long>(), hi = tokens.max().item<long>();
        if (lo < 0 || hi >= Config.vocab_size)
            throw new ArgumentException($"ViClipTextEncoder: token ids must be in [0, {Config.vocab_size}), got range [{lo}, {hi}]");
    }
}
