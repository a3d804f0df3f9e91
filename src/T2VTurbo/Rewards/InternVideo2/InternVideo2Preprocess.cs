using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Rewards.InternVideo2;

/// <summary>The vi_clip2 score function's preprocessing, differentiable w.r.t. the frames: <c>ResizeCropMinSize(S)</c>
/// (bicubic resize so the shorter side is S, then one S×S crop shared by every frame of every video — only when a resize
/// happened) and ImageNet normalisation, laid out as the vision tower's pixel values [B, 3, T, S, S].</summary>
public static class InternVideo2Preprocess
{
    /// <summary>Resized size for a frame of H×W: scale = S / min(H, W); (round(H·scale), round(W·scale)) with Python's
    /// round-half-to-even; null when scale == 1 (nothing is resized or cropped).</summary>
    public static (long H, long W)? ResizedSize(long h, long w, int minSize)
    {
        if (h <= 0 || w <= 0) throw new ArgumentException($"InternVideo2Preprocess: frame size must be positive, got {h}×{w}");
        double scale = (double)minSize / Math.Min(h, w);
        if (scale == 1.0) return null;
        return ((long)Math.Round(h * scale, MidpointRounding.ToEven), (long)Math.Round(w * scale, MidpointRounding.ToEven));
    }

    /// <summary>Bicubic resize (align_corners = False, not clamped) of frames [N, C, H, W] so the shorter side is S.
    /// <paramref name="antialias"/>: torchvision's tensor default, True from 0.17 (False in ≤ 0.16).</summary>
    public static Tensor ResizeMinSide(Tensor frames, int minSize, bool antialias)
    {
        CheckFrames(frames, 4, "frames [N, C, H, W]");
        var size = ResizedSize(frames.shape[2], frames.shape[3], minSize);
        if (size is null) return frames.alias();
        return F.interpolate(frames, size: new[] { size.Value.H, size.Value.W }, mode: InterpolationMode.Bicubic,
            align_corners: false, antialias: antialias);
    }

    /// <summary><c>RandomCrop.get_params</c>: top = randint(0, h − S + 1), then left = randint(0, w − S + 1), drawn from
    /// <paramref name="generator"/> (the reference uses torch's global RNG).</summary>
    public static (long Top, long Left) DrawCrop(long h, long w, int size, Generator? generator = null)
    {
        if (h < size || w < size) throw new ArgumentException($"InternVideo2Preprocess: cannot crop {size}×{size} from {h}×{w}");
        using var scope = torch.NewDisposeScope();
        long top = torch.randint(0, h - size + 1, new long[] { 1 }, dtype: ScalarType.Int64, generator: generator).item<long>();
        long left = torch.randint(0, w - size + 1, new long[] { 1 }, dtype: ScalarType.Int64, generator: generator).item<long>();
        return (top, left);
    }

    /// <summary>S×S crop at (top, left) of frames [N, C, H, W].</summary>
    public static Tensor Crop(Tensor frames, long top, long left, int size)
    {
        CheckFrames(frames, 4, "frames [N, C, H, W]");
        if (top < 0 || left < 0 || top + size > frames.shape[2] || left + size > frames.shape[3])
            throw new ArgumentException($"InternVideo2Preprocess: crop {size}×{size} at ({top}, {left}) does not fit in {frames.shape[2]}×{frames.shape[3]}");
        return frames.narrow(2, top, size).narrow(3, left, size);
    }

    /// <summary>(x − mean) / std per channel of frames [N, C, H, W].</summary>
    public static Tensor Normalize(Tensor frames, double[] mean, double[] std)
    {
        CheckFrames(frames, 4, "frames [N, C, H, W]");
        if (frames.shape[1] != mean.Length || frames.shape[1] != std.Length)
            throw new ArgumentException($"InternVideo2Preprocess: {frames.shape[1]} channels but {mean.Length} means / {std.Length} stds");
        using var scope = torch.NewDisposeScope();
        var m = torch.tensor(mean, dtype: frames.dtype, device: frames.device).reshape(1, -1, 1, 1);
        var s = torch.tensor(std, dtype: frames.dtype, device: frames.device).reshape(1, -1, 1, 1);
        return ((frames - m) / s).MoveToOuterDisposeScope();
    }

    /// <summary>Clips [B, T, C, H, W] in [0, 1] → pixel values [B, C, T, S, S]. The crop is at
    /// <paramref name="cropTopLeft"/> when given, otherwise drawn from <paramref name="generator"/>; neither is used
    /// when the frames need no resize (shorter side already S), as in the reference. Float16 / bfloat16 clips are
    /// processed in float32.</summary>
    public static Tensor PixelValues(Tensor clips, InternVideo2Config cfg, (long Top, long Left)? cropTopLeft = null, Generator? generator = null)
    {
        CheckFrames(clips, 5, "clips [B, T, C, H, W]");
        using var scope = torch.NewDisposeScope();
        var (b, t, c, h, w) = (clips.shape[0], clips.shape[1], clips.shape[2], clips.shape[3], clips.shape[4]);
        int s = cfg.vision.img_size;
        // Half-precision frames are preprocessed in float32 (CPU has no antialiased bicubic for them); the vision tower
        // casts the pixel values to its own dtype, as encode_vision does.
        var x = clips.dtype is ScalarType.Float16 or ScalarType.BFloat16 ? clips.to(ScalarType.Float32) : clips;
        x = x.reshape(b * t, c, h, w);                                              // [B·T, C, H, W]
        if (ResizedSize(h, w, s) is not null)
        {
            x = ResizeMinSide(x, s, cfg.antialias);                                  // [B·T, C, H', W']
            var (top, left) = cropTopLeft ?? DrawCrop(x.shape[2], x.shape[3], s, generator);
            x = Crop(x, top, left, s);                                               // [B·T, C, S, S]
        }
        x = Normalize(x, cfg.normalize_mean, cfg.normalize_std);
        x = x.reshape(b, t, c, x.shape[2], x.shape[3]).permute(0, 2, 1, 3, 4);    // [B, C, T, S, S]
        return x.MoveToOuterDisposeScope();
    }

    private static void CheckFrames(Tensor x, int dims, string what)
    {
        if (x.dim() != dims) throw new ArgumentException($"InternVideo2Preprocess: expected {what}, got [{string.Join(", ", x.shape)}]");
        if (!x.is_floating_point()) throw new ArgumentException($"InternVideo2Preprocess: {what} must be floating point, got {x.dtype}");
    }
}
