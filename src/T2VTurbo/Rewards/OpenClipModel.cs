using T2VTurbo.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Rewards;

/// <summary>open_clip <c>CLIP</c> (both towers), keys as in open_clip's full-model state dict, which is also the layout
/// of <c>HPS_v2.1_compressed.pt['state_dict']</c> and of laion2B-s32B-b79K's open_clip_pytorch_model.bin:
/// visual.*, token_embedding.weight, positional_embedding, transformer.resblocks.N.*, ln_final.*, text_projection,
/// logit_scale. (The causal attn_mask is a non-persistent buffer in open_clip, so it is no key here either.)</summary>
public sealed class OpenClipModel : nn.Module
{
    private readonly OpenClipVisionTower visual;          // keys: visual.*
    private readonly Embedding token_embedding;           // key: token_embedding.weight [V, W]
    private readonly Parameter positional_embedding;      // key: positional_embedding [context, W]
    private readonly OpenClipTransformer transformer;     // keys: transformer.resblocks.N.* (causal)
    private readonly LayerNorm ln_final;                  // keys: ln_final.*
    private readonly Parameter text_projection;           // key: text_projection [W, embed_dim]
    private readonly Parameter logit_scale;               // key: logit_scale [] (log of the logit multiplier)

    public OpenClipModelConfig Config { get; }

    public OpenClipModel(OpenClipModelConfig? config = null) : base(nameof(OpenClipModel))
    {
        Config = config ?? new OpenClipModelConfig();
        Config.Validate();
        var t = Config.text_cfg;
        visual = new OpenClipVisionTower(Config.vision_cfg);
        token_embedding = nn.Embedding(t.vocab_size, t.width);
        positional_embedding = new Parameter(torch.empty(t.context_length, t.width));
        transformer = new OpenClipTransformer(t);
        ln_final = nn.LayerNorm(new long[] { t.width }, t.layer_norm_eps);
        text_projection = new Parameter(torch.empty(t.width, Config.embed_dim));
        logit_scale = new Parameter(torch.empty(Array.Empty<long>()));
        RegisterComponents();

        // open_clip CLIP.init_parameters (the real weights always come from the checkpoint).
        using var _ = torch.no_grad();
        nn.init.normal_(token_embedding.weight!, 0, 0.02);
        nn.init.normal_(positional_embedding, 0, 0.01);
        nn.init.normal_(text_projection, 0, Math.Pow(t.width, -0.5));
        logit_scale.fill_(Math.Log(1 / 0.07));
    }

    public OpenClipVisionTower Visual => visual;
    public Parameter LogitScale => logit_scale;

    /// <summary>open_clip <c>encode_image</c>: pixels [N, 3, S, S] (already normalised) → [N, embed_dim], L2-normalised
    /// when <paramref name="normalize"/>.</summary>
    public Tensor EncodeImage(Tensor pixels, bool normalize = true)
    {
        using var scope = torch.NewDisposeScope();
        var x = visual.forward(pixels);                                         // [N, E]
        return (normalize ? F.normalize(x, dim: -1) : x).MoveToOuterDisposeScope();
    }

    /// <summary>open_clip <c>encode_text</c>: ids [n, context] → all blocks (causal) → ln_final → the row at
    /// <c>argmax(ids)</c> (the EOT, the largest id) → @ text_projection: [n, embed_dim], L2-normalised when
    /// <paramref name="normalize"/>.</summary>
    public Tensor EncodeText(Tensor tokens, bool normalize = true)
    {
        CheckTokens(tokens);
        using var scope = torch.NewDisposeScope();
        var ids = tokens.to(ScalarType.Int64).to(token_embedding.weight!.device);
        long n = ids.shape[0], w = Config.text_cfg.width;
        var x = token_embedding.forward(ids) + positional_embedding;           // [n, L, W]
        x = ln_final.forward(transformer.Run(x));                              // [n, L, W]
        var eot = ids.argmax(-1).reshape(n, 1, 1).expand(n, 1, w);              // [n, 1, W]: first index of the max id
        var pooled = x.gather(1, eot).squeeze(1).matmul(text_projection);      // [n, E]
        return (normalize ? F.normalize(pooled, dim: -1) : pooled).MoveToOuterDisposeScope();
    }

    private void CheckTokens(Tensor tokens)
    {
        var c = Config.text_cfg;
        if (tokens.dim() != 2 || tokens.shape[1] != c.context_length)
            throw new ArgumentException($"OpenClipModel: tokens must be [n, {c.context_length}], got [{string.Join(", ", tokens.shape)}]");
        if (tokens.is_floating_point() || tokens.is_complex() || tokens.dtype == ScalarType.Bool)
            throw new ArgumentException($"OpenClipModel: tokens must be integer ids, got {tokens.dtype}");
        if (tokens.numel() == 0 || tokens.device_type == DeviceType.META) return;
        long lo = tokens.min().item<long>(), hi = tokens.max().item<long>();
        if (lo < 0 || hi >= c.vocab_size)
            throw new ArgumentException($"OpenClipModel: token ids must be in [0, {c.vocab_size}), got range [{lo}, {hi}]");
    }
}
