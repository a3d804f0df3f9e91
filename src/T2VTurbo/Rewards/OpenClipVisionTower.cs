using T2VTurbo.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Rewards;

/// <summary>open_clip <c>VisionTransformer</c> as in the ViT-H-14 CLIP (HPSv2 fork and open_clip 2.x agree for this
/// config: no patch dropout at eval, no attentional pooling, class-token pooling, exact GELU, no LayerScale):
/// conv1 patches → [class_embedding, patches] + positional_embedding → ln_pre → transformer (unmasked) → token 0 →
/// ln_post → @ proj. Keys (under "visual."): conv1.weight, class_embedding, positional_embedding, ln_pre.*,
/// transformer.resblocks.N.*, ln_post.*, proj.</summary>
public sealed class OpenClipVisionTower : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;                    // key: conv1.weight [W, 3, P, P] (no bias)
    private readonly Parameter class_embedding;       // key: class_embedding [W]
    private readonly Parameter positional_embedding;  // key: positional_embedding [grid² + 1, W]
    private readonly LayerNorm ln_pre;                // keys: ln_pre.*
    private readonly OpenClipTransformer transformer; // keys: transformer.resblocks.N.*
    private readonly LayerNorm ln_post;               // keys: ln_post.*
    private readonly Parameter proj;                  // key: proj [W, embed_dim]

    public OpenClipVisionConfig Config { get; }

    public OpenClipVisionTower(OpenClipVisionConfig? config = null) : base(nameof(OpenClipVisionTower))
    {
        Config = config ?? new OpenClipVisionConfig();
        Config.Validate();
        var c = Config;
        conv1 = nn.Conv2d(3, c.width, kernel_size: c.patch_size, stride: c.patch_size, bias: false);
        class_embedding = new Parameter(torch.empty(c.width));
        positional_embedding = new Parameter(torch.empty(c.Tokens, c.width));
        ln_pre = nn.LayerNorm(new long[] { c.width }, c.layer_norm_eps);
        transformer = new OpenClipTransformer(c.width, c.Heads, c.MlpWidth, c.layers, c.layer_norm_eps, causal: false);
        ln_post = nn.LayerNorm(new long[] { c.width }, c.layer_norm_eps);
        proj = new Parameter(torch.empty(c.width, c.embed_dim));
        RegisterComponents();

        // open_clip VisionTransformer.__init__: scale = width^-0.5 (real weights come from the checkpoint).
        using var _ = torch.no_grad();
        double scale = Math.Pow(c.width, -0.5);
        nn.init.normal_(class_embedding, 0, scale);
        nn.init.normal_(positional_embedding, 0, scale);
        nn.init.normal_(proj, 0, scale);
    }

    /// <summary>pixels: normalised images [N, 3, image_size, image_size] → unnormalised features [N, embed_dim].</summary>
    public override Tensor forward(Tensor pixels)
    {
        long s = Config.image_size;
        if (pixels.dim() != 4 || pixels.shape[1] != 3 || pixels.shape[2] != s || pixels.shape[3] != s)
            throw new ArgumentException($"OpenClipVisionTower: pixels must be [N, 3, {s}, {s}], got [{string.Join(", ", pixels.shape)}]");
        using var scope = torch.NewDisposeScope();
        long n = pixels.shape[0], w = Config.width;
        var x = conv1.forward(pixels);                                          // [N, W, g, g]
        x = x.flatten(2).transpose(1, 2);                                       // [N, g², W]
        var cls = class_embedding.to(x.dtype).expand(n, 1, w);                  // [N, 1, W]
        x = torch.cat(new[] { cls, x }, dim: 1) + positional_embedding.to(x.dtype); // [N, g²+1, W]
        x = ln_pre.forward(x);
        x = transformer.Run(x);                                                 // [N, g²+1, W]
        var pooled = ln_post.forward(x[.., 0]);                                 // [N, W] (class token)
        return pooled.matmul(proj).MoveToOuterDisposeScope();                  // [N, embed_dim]
    }
}
