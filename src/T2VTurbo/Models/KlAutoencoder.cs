using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models;

/// <summary>VideoCrafter2's first stage, lvdm <c>AutoencoderKL</c> (a 2-D image VAE applied per video frame).
/// Keys (prefix "first_stage_model." in model.ckpt): encoder.*, decoder.*, quant_conv.*, post_quant_conv.*.
/// Images are [N, 3, H, W] in [−1, 1]; latents z are [N, embed_dim, H/f, W/f]; the UNet sees scale_factor·z.</summary>
public sealed class KlAutoencoder : nn.Module<Tensor, Tensor>
{
    private readonly VaeEncoder encoder;        // keys: encoder.*
    private readonly VaeDecoder decoder;        // keys: decoder.*
    private readonly Conv2d quant_conv;         // keys: quant_conv.* (2·z_channels → 2·embed_dim, 1×1)
    private readonly Conv2d post_quant_conv;    // keys: post_quant_conv.* (embed_dim → z_channels, 1×1)

    public AutoencoderConfig Config { get; }
    public double ScaleFactor => Config.scale_factor;

    public KlAutoencoder(AutoencoderConfig? config = null) : base(nameof(KlAutoencoder))
    {
        Config = config ?? new AutoencoderConfig();
        Config.Validate();
        if (!Config.double_z) throw new ArgumentException("KlAutoencoder: double_z must be true (the encoder emits mean and log-variance)");
        encoder = new VaeEncoder(Config);
        decoder = new VaeDecoder(Config);
        quant_conv = nn.Conv2d(2 * Config.z_channels, 2 * Config.embed_dim, 1);
        post_quant_conv = nn.Conv2d(Config.embed_dim, Config.z_channels, 1);
        RegisterComponents();
    }

    public VaeEncoder Encoder => encoder;
    public VaeDecoder Decoder => decoder;
    public Conv2d QuantConv => quant_conv;
    public Conv2d PostQuantConv => post_quant_conv;

    /// <summary>image [N, in_channels, H, W] → posterior over z [N, embed_dim, H/f, W/f].</summary>
    public DiagonalGaussianDistribution Encode(Tensor image)
    {
        CheckShape(image, 4, Config.in_channels, "Encode", "image [N, C, H, W]");
        using var scope = torch.NewDisposeScope();
        var moments = quant_conv.forward(encoder.forward(image));   // [N, 2·E, h, w]
        return new DiagonalGaussianDistribution(moments).MoveToOuterDisposeScope();
    }

    /// <summary>z [N, embed_dim, h, w] (unscaled) → image [N, out_ch, h·f, w·f]; no clamp.</summary>
    public Tensor Decode(Tensor z)
    {
        CheckShape(z, 4, Config.embed_dim, "Decode", "z [N, C, h, w]");
        using var scope = torch.NewDisposeScope();
        return decoder.forward(post_quant_conv.forward(z)).MoveToOuterDisposeScope();
    }

    /// <summary>Reconstruction through the posterior mean (deterministic; lvdm's forward samples instead).</summary>
    public override Tensor forward(Tensor image)
    {
        using var scope = torch.NewDisposeScope();
        using var posterior = Encode(image);
        return Decode(posterior.Mean).MoveToOuterDisposeScope();
    }

    /// <summary>LatentDiffusion.decode_first_stage for video: UNet latents [B, embed_dim, T, h, w] are multiplied by
    /// 1/scale_factor and decoded frame by frame as one 2-D batch of B·T frames, at most <paramref name="frameChunk"/>
    /// frames per decoder call (null: all at once). Returns [B, out_ch, T, H, W], no clamp.</summary>
    public Tensor DecodeVideo(Tensor latent, int? frameChunk = null)
    {
        CheckShape(latent, 5, Config.embed_dim, "DecodeVideo", "latent [B, C, T, h, w]");
        using var scope = torch.NewDisposeScope();
        var (b, t) = (latent.shape[0], latent.shape[2]);
        var z = FoldFrames(latent * (1.0 / Config.scale_factor));                  // [B·T, C, h, w]
        var frames = MapChunks(z, frameChunk, (chunk, _) => Decode(chunk));        // [B·T, 3, H, W]
        return UnfoldFrames(frames, b, t).MoveToOuterDisposeScope();              // [B, 3, T, H, W]
    }

    /// <summary>LatentDiffusion.encode_first_stage + get_first_stage_encoding: video [B, in_channels, T, H, W] in [−1, 1]
    /// → scale_factor·z [B, embed_dim, T, h, w], with z = mean + std·<paramref name="noise"/> (noise [B, embed_dim, T, h, w],
    /// as posterior.sample() in training) or z = mean when noise is null. At most <paramref name="frameChunk"/> frames
    /// go through the encoder per call.</summary>
    public Tensor EncodeVideo(Tensor video, Tensor? noise = null, int? frameChunk = null)
    {
        CheckShape(video, 5, Config.in_channels, "EncodeVideo", "video [B, C, T, H, W]");
        using var scope = torch.NewDisposeScope();
        var (b, t) = (video.shape[0], video.shape[2]);
        if (noise is not null && (noise.dim() != 5 || noise.shape[0] != b || noise.shape[1] != Config.embed_dim || noise.shape[2] != t))
            throw new ArgumentException($"KlAutoencoder.EncodeVideo: noise must be [{b}, {Config.embed_dim}, {t}, h, w], got [{string.Join(", ", noise.shape)}]");
        var frames = FoldFrames(video);                                            // [B·T, 3, H, W]
        var foldedNoise = noise is null ? null : FoldFrames(noise);                // [B·T, E, h, w]
        var z = MapChunks(frames, frameChunk, (chunk, start) =>
        {
            using var posterior = Encode(chunk);
            return foldedNoise is null ? posterior.Mean.alias() : posterior.Sample(foldedNoise.narrow(0, start, chunk.shape[0]));
        });                                                                        // [B·T, E, h, w]
        return (Config.scale_factor * UnfoldFrames(z, b, t)).MoveToOuterDisposeScope();   // [B, E, T, h, w]
    }

    /// <summary>[B, C, T, H, W] → [B·T, C, H, W] (rearrange "b c t h w -> (b t) c h w").</summary>
    public static Tensor FoldFrames(Tensor x)
    {
        var (b, c, t, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4]);
        return x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w);
    }

    /// <summary>[B·T, C, H, W] → [B, C, T, H, W] (rearrange "(b t) c h w -> b c t h w").</summary>
    public static Tensor UnfoldFrames(Tensor x, long b, long t)
    {
        if (x.shape[0] != b * t) throw new ArgumentException($"UnfoldFrames: {x.shape[0]} frames is not B·T = {b}·{t}");
        return x.reshape(b, t, x.shape[1], x.shape[2], x.shape[3]).permute(0, 2, 1, 3, 4).contiguous();
    }

    /// <summary>Applies <paramref name="map"/>(chunk, first frame index) to consecutive chunks of at most
    /// <paramref name="frameChunk"/> frames along dim 0 and concatenates the results.</summary>
    private static Tensor MapChunks(Tensor frames, int? frameChunk, Func<Tensor, long, Tensor> map)
    {
        long n = frames.shape[0];
        if (frameChunk is { } c && c <= 0) throw new ArgumentException($"KlAutoencoder: frameChunk must be positive, got {c}");
        long step = frameChunk is { } k ? Math.Min(k, Math.Max(n, 1)) : Math.Max(n, 1);
        if (n <= step) return map(frames, 0);
        var parts = new List<Tensor>();
        for (long start = 0; start < n; start += step) parts.Add(map(frames.narrow(0, start, Math.Min(step, n - start)), start));
        return torch.cat(parts, 0);
    }

    private void CheckShape(Tensor x, int dims, int channels, string method, string expected)
    {
        if (x.dim() != dims || x.shape[1] != channels)
            throw new ArgumentException($"KlAutoencoder.{method}: expected {expected} with C = {channels}, got [{string.Join(", ", x.shape)}]");
        if (!x.is_floating_point())
            throw new ArgumentException($"KlAutoencoder.{method}: expected a floating tensor, got {x.dtype}");
    }
}
