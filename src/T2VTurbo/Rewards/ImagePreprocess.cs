using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Rewards;

/// <summary>Differentiable tensor versions of the image reward models' torchvision preprocessing (spec §4.5), applied
/// to a batch of frames in [0, 1] at once (every transform here acts on each image independently, as the reference's
/// per-image loop does).</summary>
public static class ImagePreprocess
{
    /// <summary>OpenAI CLIP normalisation (open_clip OPENAI_DATASET_MEAN / _STD), used by HPSv2 and open_clip CLIP.</summary>
    public static readonly double[] OpenAiClipMean = [0.48145466, 0.4578275, 0.40821073];
    public static readonly double[] OpenAiClipStd = [0.26862954, 0.26130258, 0.27577711];

    /// <summary>torchvision <c>F.resize(img, [h, w], BICUBIC)</c> on a float tensor: <c>interpolate(mode="bicubic",
    /// align_corners=False, antialias=antialias)</c>, no clamping (only uint8 output is clamped). torchvision ≥ 0.17
    /// antialiases tensors by default; older versions did not (the fixture records both).</summary>
    public static Tensor ResizeBicubic(Tensor images, long height, long width, bool antialias = true)
    {
        CheckImages(images, nameof(ResizeBicubic));
        if (height <= 0 || width <= 0) throw new ArgumentException($"ResizeBicubic: size must be positive, got {height}×{width}");
        if (images.shape[2] == height && images.shape[3] == width) return images.alias();
        return F.interpolate(images, size: [height, width], mode: InterpolationMode.Bicubic, align_corners: false, antialias: antialias);
    }

    /// <summary>HPSv2 <c>ResizeMaxSize(size, fill=0)</c>: scale so the longer side is <paramref name="size"/>
    /// (new side = Python <c>round(side · size / max(H, W))</c>, half to even), bicubic, then zero-pad to size×size with
    /// left = pad_w // 2, top = pad_h // 2 and the rest right/bottom. images [N, 3, H, W] → [N, 3, size, size].
    /// A 320×512 frame becomes 140×224 with 42 zero rows above and below.</summary>
    /// <remarks>The reference pads only when it resizes (scale ≠ 1), so a non-square frame whose long side already equals
    /// <paramref name="size"/> would reach the model unpadded and fail there; here it is padded like any other.</remarks>
    public static Tensor Letterbox(Tensor images, int size, bool antialias = true)
    {
        CheckImages(images, nameof(Letterbox));
        if (size <= 0) throw new ArgumentException($"Letterbox: size must be positive, got {size}");
        using var scope = torch.NewDisposeScope();
        long h = images.shape[2], w = images.shape[3];
        double scale = size / (double)Math.Max(h, w);
        long newH = (long)Math.Round(h * scale, MidpointRounding.ToEven), newW = (long)Math.Round(w * scale, MidpointRounding.ToEven);
        var x = scale != 1.0 ? ResizeBicubic(images, newH, newW, antialias) : images.alias(); // [N, 3, newH, newW]
        long padH = size - x.shape[2], padW = size - x.shape[3];
        if (padH != 0 || padW != 0)
            x = F.pad(x, [padW / 2, padW - padW / 2, padH / 2, padH - padH / 2], PaddingModes.Constant, 0.0); // [N, 3, size, size]
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>torchvision <c>Resize((size, size))</c>, bicubic: the aspect ratio is not kept (open_clip CLIP and
    /// PickScore rewards in reward_fn.py). images [N, 3, H, W] → [N, 3, size, size].</summary>
    public static Tensor Squash(Tensor images, int size, bool antialias = true)
    {
        if (size <= 0) throw new ArgumentException($"Squash: size must be positive, got {size}");
        return ResizeBicubic(images, size, size, antialias);
    }

    /// <summary>torchvision <c>Normalize(mean, std)</c>: (x − mean[c]) / std[c] per channel. images [N, C, H, W].</summary>
    public static Tensor Normalize(Tensor images, IReadOnlyList<double> mean, IReadOnlyList<double> std)
    {
        CheckImages(images, nameof(Normalize));
        if (mean.Count != images.shape[1] || std.Count != images.shape[1])
            throw new ArgumentException($"Normalize: {mean.Count} means and {std.Count} stds for {images.shape[1]} channels");
        if (std.Any(s => s == 0)) throw new ArgumentException("Normalize: std must not contain 0");
        using var scope = torch.NewDisposeScope();
        // torchvision builds mean/std in the image dtype, then sub_ and div_.
        var m = torch.tensor(mean.ToArray(), dtype: images.dtype, device: images.device).reshape(1, -1, 1, 1);
        var s = torch.tensor(std.ToArray(), dtype: images.dtype, device: images.device).reshape(1, -1, 1, 1);
        return ((images - m) / s).MoveToOuterDisposeScope();
    }

    private static void CheckImages(Tensor images, string what)
    {
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"{what}: images must be [N, 3, H, W], got [{string.Join(", ", images.shape)}]");
        if (!images.is_floating_point())
            throw new ArgumentException($"{what}: images must be floating point in [0, 1], got {images.dtype}");
        if (images.shape[2] == 0 || images.shape[3] == 0)
            throw new ArgumentException($"{what}: images must not be empty, got [{string.Join(", ", images.shape)}]");
    }
}
