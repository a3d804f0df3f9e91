using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Rewards.ViClip;

/// <summary>Top-left corner of the one crop window shared by every frame of a batch.</summary>
public readonly record struct CropOffset(long Top, long Left);

/// <summary>The video reward's pixel path (reward_fn.py <c>ResizeCropMinSize(224)</c> then <c>ViCLIP_NORMALIZE</c>), all
/// differentiable: bicubic resize so the shorter side is <see cref="MinSize"/> (torchvision tensor <c>resize</c>:
/// <c>interpolate(bicubic, align_corners=False)</c>, antialiased as torchvision ≥ 0.17 does by default, no clamp), one
/// <see cref="MinSize"/>² crop at the same offset for all frames, then ImageNet mean/std.</summary>
public sealed record ViClipPreprocess
{
    public static readonly double[] ImageNetMean = { 0.485, 0.456, 0.406 };
    public static readonly double[] ImageNetStd = { 0.229, 0.224, 0.225 };

    /// <summary>Side of the square the encoder sees (224 in the repo = the vision <c>input_resolution</c>).</summary>
    public int MinSize { get; init; } = 224;
    /// <summary>torchvision ≥ 0.17 resizes tensors with antialias=True; older versions used False.</summary>
    public bool Antialias { get; init; } = true;
    public IReadOnlyList<double> Mean { get; init; } = ImageNetMean;
    public IReadOnlyList<double> Std { get; init; } = ImageNetStd;

    /// <summary>ResizeCropMinSize's target size: <c>round(dim · MinSize / min(H, W))</c> with Python's round (half to
    /// even) on the same doubles; unchanged when the scale is exactly 1.</summary>
    public (long Height, long Width) ResizedSize(long height, long width)
    {
        if (height <= 0 || width <= 0) throw new ArgumentException($"ViClipPreprocess: frame size {height}x{width} must be positive");
        double scale = MinSize / (double)Math.Min(height, width);
        if (scale == 1.0) return (height, width);
        return ((long)Math.Round(height * scale, MidpointRounding.ToEven), (long)Math.Round(width * scale, MidpointRounding.ToEven));
    }

    /// <summary>frames [N, 3, H, W] → [N, 3, H', W'] with the shorter side MinSize (no-op when it already is).</summary>
    public Tensor Resize(Tensor frames)
    {
        CheckFrames(frames);
        var (h, w) = ResizedSize(frames.shape[2], frames.shape[3]);
        if (h == frames.shape[2] && w == frames.shape[3]) return frames.alias();
        return F.interpolate(frames, size: new[] { h, w }, mode: InterpolationMode.Bicubic, align_corners: false, antialias: Antialias);
    }

    /// <summary>RandomCrop((MinSize, MinSize)).get_params: top ~ U{0..H−MinSize}, left ~ U{0..W−MinSize}, drawn in that
    /// order (with torch's global generator when <paramref name="generator"/> is null). No draw when the frame is
    /// already MinSize².</summary>
    public CropOffset DrawCrop(long height, long width, Generator? generator = null)
    {
        CheckCropFits(height, width);
        if (height == MinSize && width == MinSize) return new CropOffset(0, 0);
        long top = torch.randint(0, height - MinSize + 1, new long[] { 1 }, generator: generator).item<long>();
        long left = torch.randint(0, width - MinSize + 1, new long[] { 1 }, generator: generator).item<long>();
        return new CropOffset(top, left);
    }

    /// <summary>frames [N, 3, H, W] → [N, 3, MinSize, MinSize] at <paramref name="crop"/>.</summary>
    public Tensor Crop(Tensor frames, CropOffset crop)
    {
        CheckFrames(frames);
        long h = frames.shape[2], w = frames.shape[3];
        CheckCropFits(h, w);
        if (crop.Top < 0 || crop.Left < 0 || crop.Top + MinSize > h || crop.Left + MinSize > w)
            throw new ArgumentException($"ViClipPreprocess: crop at (top {crop.Top}, left {crop.Left}) of size {MinSize} does not fit a {h}x{w} frame");
        return frames[TensorIndex.Ellipsis, TensorIndex.Slice(crop.Top, crop.Top + MinSize), TensorIndex.Slice(crop.Left, crop.Left + MinSize)];
    }

    /// <summary>(x − mean) / std per channel: [N, 3, H, W] → [N, 3, H, W].</summary>
    public Tensor Normalize(Tensor frames)
    {
        CheckFrames(frames);
        using var scope = torch.NewDisposeScope();
        var mean = torch.tensor(Mean.ToArray(), dtype: frames.dtype, device: frames.device).reshape(1, 3, 1, 1);
        var std = torch.tensor(Std.ToArray(), dtype: frames.dtype, device: frames.device).reshape(1, 3, 1, 1);
        return ((frames - mean) / std).MoveToOuterDisposeScope();
    }

    /// <summary>Resize, crop, normalise: frames [N, 3, H, W] in [0, 1] → [N, 3, MinSize, MinSize]. The crop is
    /// <paramref name="crop"/> when given, else drawn from <paramref name="generator"/> (see <see cref="DrawCrop"/>).</summary>
    public Tensor Apply(Tensor frames, CropOffset? crop = null, Generator? generator = null)
    {
        using var scope = torch.NewDisposeScope();
        var resized = Resize(frames);
        var offset = crop ?? DrawCrop(resized.shape[2], resized.shape[3], generator);
        return Normalize(Crop(resized, offset)).MoveToOuterDisposeScope();
    }

    private void CheckFrames(Tensor frames)
    {
        if (frames.dim() != 4 || frames.shape[1] != 3)
            throw new ArgumentException($"ViClipPreprocess: frames must be [N, 3, H, W], got [{string.Join(", ", frames.shape)}]");
        if (!frames.is_floating_point())
            throw new ArgumentException($"ViClipPreprocess: frames must be floating point in [0, 1], got {frames.dtype}");
    }

    // The reference crops only when it resized; after a resize the shorter side is MinSize, and a frame whose shorter
    // side already is MinSize but is not square would not fit the encoder, so a crop always applies here (a no-op
    // for MinSize² frames).
    private void CheckCropFits(long height, long width)
    {
        if (height < MinSize || width < MinSize)
            throw new ArgumentException($"ViClipPreprocess: a {height}x{width} frame is smaller than the {MinSize}x{MinSize} crop");
    }
}
