using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.ModelScope;

/// <summary>diffusers Downsample2D (use_conv, name "op" → key conv): Conv2d 3x3 stride 2 with padding 1 (symmetric);
/// with padding 0 the input is first padded by one on the right and bottom.</summary>
public sealed class Downsample2D : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly long padding;

    public Downsample2D(long channels, long outChannels, long padding, Device? device = null, ScalarType? dtype = null) : base(nameof(Downsample2D))
    {
        this.padding = padding;
        conv = nn.Conv2d(channels, outChannels, 3, stride: 2, padding: padding, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>x: [N, C, h, w] → [N, C_out, ⌈h/2⌉, ⌈w/2⌉] (padding 1).</summary>
    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4) throw new ArgumentException($"Downsample2D expects [N, C, h, w], got [{string.Join(",", x.shape)}]");
        if (padding != 0) return conv.call(x);
        using var scope = torch.NewDisposeScope();
        return conv.call(nn.functional.pad(x, [0, 1, 0, 1])).MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers Upsample2D (use_conv, key conv): nearest ×2, or nearest to an exact size when the UNet forwards
/// one (latents not divisible by 2^upsamplers), then Conv2d 3x3 padding 1.</summary>
public sealed class Upsample2D : nn.Module<Tensor, long[]?, Tensor>
{
    private readonly Conv2d conv;

    public Upsample2D(long channels, long outChannels, Device? device = null, ScalarType? dtype = null) : base(nameof(Upsample2D))
    {
        conv = nn.Conv2d(channels, outChannels, 3, padding: 1, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>x: [N, C, h, w]; outputSize: [h', w'] or null (= [2h, 2w]) → [N, C_out, h', w'].</summary>
    public override Tensor forward(Tensor x, long[]? outputSize)
    {
        if (x.dim() != 4) throw new ArgumentException($"Upsample2D expects [N, C, h, w], got [{string.Join(",", x.shape)}]");
        using var scope = torch.NewDisposeScope();
        var up = outputSize is null
            ? nn.functional.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest)
            : nn.functional.interpolate(x, size: outputSize, mode: InterpolationMode.Nearest);
        return conv.call(up).MoveToOuterDisposeScope();
    }
}
