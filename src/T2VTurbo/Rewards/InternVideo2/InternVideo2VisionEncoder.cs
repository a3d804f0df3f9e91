using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Rewards.InternVideo2;

/// <summary>InternVideo2 <c>PatchEmbed</c>: Conv3d(C, D, kernel = stride = (tubelet, p, p), with bias).</summary>
public sealed class VideoPatchEmbed : nn.Module<Tensor, Tensor>
{
    private readonly Conv3d proj;   // keys: proj.weight [D, C, 1, p, p], proj.bias [D]

    public VideoPatchEmbed(InternVideo2VisionConfig cfg) : base(nameof(VideoPatchEmbed))
    {
        var kernel = ((long)cfg.tubelet_size, (long)cfg.patch_size, (long)cfg.patch_size);
        proj = nn.Conv3d(cfg.in_chans, cfg.embed_dim, kernel, stride: kernel);
        RegisterComponents();
    }

    /// <summary>x: [B, C, T, S, S] → [B, T, h·w, D] (patches row-major inside a frame).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var y = proj.forward(x);                              // [B, D, T, h, w]
        return y.flatten(3).permute(0, 2, 3, 1).MoveToOuterDisposeScope();   // [B, T, h·w, D]
    }
}

/// <summary><c>PretrainInternVideo2</c> (<c>pretrain_internvideo2_1b_patch14_224</c>) as the vi_clip2 reward uses it:
/// patch embedding → [cls] + frame-major patch tokens + position embedding → <c>depth</c> pre-norm blocks (no final
/// norm) → <c>clip_projector</c> attention pooling. Holds every checkpoint key under "vision_encoder." (the position
/// embeddings at the checkpoint's <c>checkpoint_num_frames</c>; the reference loader's linear temporal interpolation to
/// the clip's frame count is applied in <see cref="PositionEmbedding"/>, with identical values).</summary>
public sealed class InternVideo2VisionEncoder : nn.Module<Tensor, Tensor>
{
    private readonly Parameter cls_token;              // key: cls_token [1, 1, D]
    private readonly Parameter pos_embed;              // key: pos_embed [1, 1 + Tc·L, D] (Tc = checkpoint frames)
    private readonly Parameter img_pos_embed;          // key: img_pos_embed [1, 1 + L, D] (T == 1 only)
    private readonly Parameter clip_pos_embed;         // key: clip_pos_embed (distillation only, unused)
    private readonly Parameter clip_img_pos_embed;     // key: clip_img_pos_embed (distillation only, unused)
    private readonly VideoPatchEmbed patch_embed;      // keys: patch_embed.proj.*
    private readonly ModuleList<VisionBlock> blocks;   // keys: blocks.{i}.*
    private readonly AttentionPoolingBlock clip_projector;   // keys: clip_projector.*
    private readonly ModuleList<LinearDecoder> clip_decoder;  // keys: clip_decoder.{i}.* (unused)
    private readonly LinearDecoder? final_clip_decoder;       // keys: final_clip_decoder.* (unused)

    public InternVideo2VisionConfig Config { get; }

    public InternVideo2VisionEncoder(InternVideo2VisionConfig? config = null) : base(nameof(InternVideo2VisionEncoder))
    {
        Config = config ?? new InternVideo2VisionConfig();
        Config.Validate();
        var c = Config;
        long d = c.embed_dim, l = c.PatchesPerFrame;
        cls_token = new Parameter(torch.zeros(1, 1, d));
        pos_embed = new Parameter(torch.zeros(1, 1 + c.checkpoint_num_frames * l, d));
        img_pos_embed = new Parameter(torch.zeros(1, 1 + l, d));
        clip_pos_embed = new Parameter(torch.zeros(1, 1 + c.checkpoint_num_frames * l, d));
        clip_img_pos_embed = new Parameter(torch.zeros(1, 1 + l, d));
        patch_embed = new VideoPatchEmbed(c);
        blocks = new ModuleList<VisionBlock>(Enumerable.Range(0, c.depth).Select(_ => new VisionBlock(c)).ToArray());
        clip_projector = new AttentionPoolingBlock(c);
        clip_decoder = new ModuleList<LinearDecoder>(Enumerable.Range(0, c.clip_return_layer)
            .Select(_ => new LinearDecoder(d, c.clip_teacher_embed_dim, c.pool_norm_eps)).ToArray());
        final_clip_decoder = c.clip_teacher_final_dim > 0 ? new LinearDecoder(c.clip_embed_dim, c.clip_teacher_final_dim, c.pool_norm_eps) : null;
        RegisterComponents();
    }

    /// <summary>Patch embedding of pixel values [B, C, T, S, S] → [B, T, L, D] (in the model's dtype).</summary>
    public Tensor PatchEmbed(Tensor pixelValues)
    {
        CheckPixels(pixelValues);
        return patch_embed.forward(pixelValues.to(cls_token.dtype));
    }

    /// <summary>Position embedding for a T-frame clip, [1, 1 + T·L, D]: <c>img_pos_embed</c> for T == 1, otherwise
    /// <c>pos_embed</c> with its patch rows resized in time from Tc to T frames by linear interpolation
    /// (align_corners = False; cls row kept) as <c>interpolate_pos_embed_internvideo2</c> does at load time.</summary>
    public Tensor PositionEmbedding(long frames)
    {
        if (frames < 1) throw new ArgumentException($"InternVideo2VisionEncoder: frame count must be positive, got {frames}");
        using var scope = torch.NewDisposeScope();
        if (frames == 1) return img_pos_embed.alias().MoveToOuterDisposeScope();
        long tc = Config.checkpoint_num_frames, l = Config.PatchesPerFrame, d = Config.embed_dim;
        if (frames == tc) return pos_embed.alias().MoveToOuterDisposeScope();
        var cls = pos_embed.narrow(1, 0, 1);                                               // [1, 1, D]
        var patches = pos_embed.narrow(1, 1, tc * l).reshape(tc, l, d).permute(1, 2, 0);   // [L, D, Tc]
        var resized = F.interpolate(patches, size: new[] { frames }, mode: InterpolationMode.Linear, align_corners: false); // [L, D, T]
        var rows = resized.permute(2, 0, 1).reshape(1, frames * l, d);                      // [1, T·L, D] frame-major
        return torch.cat(new[] { cls, rows }, 1).MoveToOuterDisposeScope();
    }

    /// <summary>[cls] + patch tokens + position embedding: [B, C, T, S, S] → [B, 1 + T·L, D].</summary>
    public Tensor Tokens(Tensor pixelValues)
    {
        using var scope = torch.NewDisposeScope();
        var x = PatchEmbed(pixelValues);                                    // [B, T, L, D]
        var (b, t, l, d) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        x = x.reshape(b, t * l, d);                                         // [B, T·L, D] frame-major
        x = torch.cat(new[] { cls_token.expand(b, -1, -1), x }, 1);         // [B, 1 + T·L, D]
        return (x + PositionEmbedding(t)).MoveToOuterDisposeScope();
    }

    /// <summary>The hidden states after the last block, [B, 1 + T·L, D]; <paramref name="blockOutputs"/> (when given)
    /// receives the state after every block.</summary>
    public Tensor Hidden(Tensor pixelValues, IList<Tensor>? blockOutputs = null)
    {
        using var scope = torch.NewDisposeScope();
        var x = Tokens(pixelValues);
        foreach (var block in blocks)
        {
            x = block.forward(x);
            if (blockOutputs != null) blockOutputs.Add(x.alias().MoveToOuterDisposeScope());
        }
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Attention pooling of the hidden states [B, N, D] → [B, clip_embed_dim].</summary>
    public Tensor Pool(Tensor hidden) => clip_projector.forward(hidden);

    /// <summary>pixel values [B, C, T, S, S] (normalised) → pooled clip embedding [B, clip_embed_dim].</summary>
    public override Tensor forward(Tensor pixelValues)
    {
        using var scope = torch.NewDisposeScope();
        return Pool(Hidden(pixelValues)).MoveToOuterDisposeScope();
    }

    private void CheckPixels(Tensor x)
    {
        var c = Config;
        if (x.dim() != 5 || x.shape[1] != c.in_chans || x.shape[3] != c.img_size || x.shape[4] != c.img_size)
            throw new ArgumentException($"InternVideo2VisionEncoder: pixel values must be [B, {c.in_chans}, T, {c.img_size}, {c.img_size}], got [{string.Join(", ", x.shape)}]");
        if (!x.is_floating_point())
            throw new ArgumentException($"InternVideo2VisionEncoder: pixel values must be floating point, got {x.dtype}");
    }
}
