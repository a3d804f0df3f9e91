using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Rewards.ViClip;

/// <summary>ViCLIP's video encoder (<c>VisionTransformer</c> in viclip/viclip_vision.py): a CLIP ViT whose patch tokens
/// of all frames form one sequence. Per frame: [class, patches] + spatial positional embedding; patch tokens also get
/// the temporal embedding of their frame and are ordered patch-major (patch n of frames 0..T−1, then patch n+1);
/// one class token leads. Output: the class token after <c>ln_post</c>, times <c>proj</c>. Checkpoint prefix:
/// <c>vision_encoder.</c>.</summary>
public sealed class ViClipVisionTransformer : nn.Module<Tensor, Tensor>
{
    private readonly Parameter class_embedding;                  // key: class_embedding [W]
    private readonly Parameter positional_embedding;             // key: positional_embedding [grid²+1, W]
    private readonly Parameter? temporal_positional_embedding;   // key: temporal_positional_embedding [1, num_frames, W]
    private readonly Parameter proj;                             // key: proj [W, output_dim]
    private readonly Conv3d conv1;                               // key: conv1.weight [W, 3, k, p, p] (no bias)
    private readonly LayerNorm ln_pre, ln_post;                  // keys: ln_pre.*, ln_post.*
    private readonly ViClipTransformer transformer;              // keys: transformer.resblocks.N.*

    public ViClipVisionConfig Config { get; }

    public ViClipVisionTransformer(ViClipVisionConfig? config = null) : base(nameof(ViClipVisionTransformer))
    {
        Config = config ?? new ViClipVisionConfig();
        Config.Validate();
        var c = Config;
        class_embedding = new Parameter(torch.empty(c.width));
        positional_embedding = new Parameter(torch.empty(c.SpatialTokens, c.width));
        if (c.temp_embed) temporal_positional_embedding = new Parameter(torch.zeros(1, c.num_frames, c.width));
        proj = new Parameter(torch.empty(c.width, c.output_dim));
        conv1 = nn.Conv3d(3, c.width, kernel_size: (c.kernel_size, c.patch_size, c.patch_size),
            stride: (c.kernel_size, c.patch_size, c.patch_size), bias: false);
        ln_pre = nn.LayerNorm(new long[] { c.width }, c.layer_norm_eps);
        transformer = new ViClipTransformer(c.width, c.layers, c.heads, c.layer_norm_eps, causal: false);
        ln_post = nn.LayerNorm(new long[] { c.width }, c.layer_norm_eps);
        RegisterComponents();

        // VisionTransformer.__init__ (the real weights always come from the checkpoint).
        using var _ = torch.no_grad();
        double scale = Math.Pow(c.width, -0.5);
        nn.init.normal_(class_embedding, 0, scale);
        nn.init.normal_(positional_embedding, 0, scale);
        nn.init.normal_(proj, 0, scale);
    }

    public LayerNorm LnPost => ln_post;

    /// <summary>pixels [B, 3, T, H, W] (normalised) → the token sequence before <c>ln_pre</c>
    /// [B, 1 + (H/p)(W/p)·T/k, W] (class token first, then patch-major).</summary>
    public Tensor Tokens(Tensor pixels)
    {
        CheckPixels(pixels);
        using var scope = torch.NewDisposeScope();
        var x = conv1.forward(pixels);                                       // [B, W, T', h, w]
        var (b, w, t, gh, gw) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4]);
        long n = gh * gw;
        x = x.permute(0, 2, 3, 4, 1).reshape(b * t, n, w);                   // [B·T', N, W]
        x = x + positional_embedding[TensorIndex.Slice(1)];                  // patches: spatial rows 1..N
        x = x.reshape(b, t, n, w).transpose(1, 2);                           // [B, N, T', W]
        if (temporal_positional_embedding is not null)
            // The reference adds the mean over frames for single-frame input ("unused parameter" workaround).
            x = x + (t == 1 ? temporal_positional_embedding.mean(new long[] { 1 }, keepdim: true) : temporal_positional_embedding);
        x = x.reshape(b, n * t, w);                                          // [B, N·T', W], patch-major
        // The class token is input-independent (class_embedding + positional row 0), so every video gets the same one.
        var cls = (class_embedding + positional_embedding[0]).reshape(1, 1, w).expand(b, 1, w);  // [B, 1, W]
        return torch.cat(new[] { cls, x }, 1).MoveToOuterDisposeScope();   // [B, 1 + N·T', W]
    }

    /// <summary>Tokens [B, L, W] → <c>ln_post</c> of the transformer output [B, L, W] (batch-first).</summary>
    public Tensor Encode(Tensor tokens)
    {
        using var scope = torch.NewDisposeScope();
        var x = transformer.forward(ln_pre.forward(tokens));
        return ln_post.forward(x).MoveToOuterDisposeScope();
    }

    /// <summary>pixels [B, 3, T, H, W] → raw (not normalised) video features [B, output_dim].</summary>
    public override Tensor forward(Tensor pixels)
    {
        using var scope = torch.NewDisposeScope();
        var x = Encode(Tokens(pixels));                                      // [B, L, W]
        return x[TensorIndex.Colon, 0].matmul(proj).MoveToOuterDisposeScope(); // [B, output_dim]
    }

    private void CheckPixels(Tensor pixels)
    {
        var c = Config;
        var s = pixels.shape;
        if (pixels.dim() != 5 || s[1] != 3)
            throw new ArgumentException($"ViClipVisionTransformer: pixels must be [B, 3, T, H, W], got [{string.Join(", ", s)}]");
        if (s[3] != c.input_resolution || s[4] != c.input_resolution)
            throw new ArgumentException($"ViClipVisionTransformer: frames must be {c.input_resolution}x{c.input_resolution} " +
                                        $"(the positional embedding's grid), got {s[3]}x{s[4]}");
        if (s[2] % c.kernel_size != 0)
            throw new ArgumentException($"ViClipVisionTransformer: frame count {s[2]} is not a multiple of kernel_size {c.kernel_size}");
        long t = s[2] / c.kernel_size;
        if (temporal_positional_embedding is not null && t != 1 && t != c.num_frames)
            throw new ArgumentException($"ViClipVisionTransformer: the temporal embedding covers {c.num_frames} frames " +
                                        $"(or 1), got {t} (from {s[2]} frames, kernel_size {c.kernel_size})");
    }
}
