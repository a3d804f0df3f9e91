using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Models;

/// <summary>lvdm ae_modules Downsample (with conv): zero-pad right and bottom by one, then 3×3 conv stride 2, padding 0
/// (asymmetric, unlike the UNet's padding-1 downsample). [N, C, H, W] → [N, C, ⌊H/2⌋, ⌊W/2⌋].</summary>
public sealed class VaeDownsample : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv;   // keys: conv.*

    public VaeDownsample(int channels) : base(nameof(VaeDownsample))
    {
        conv = nn.Conv2d(channels, channels, 3, stride: 2);   // padding 0: the pad is explicit in forward
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var padded = F.pad(x, new long[] { 0, 1, 0, 1 });   // (left, right, top, bottom)
        return conv.forward(padded).MoveToOuterDisposeScope();
    }
}

/// <summary>lvdm ae_modules Upsample (with conv): nearest ×2, then 3×3 conv padding 1. [N, C, H, W] → [N, C, 2H, 2W].</summary>
public sealed class VaeUpsample : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv;   // keys: conv.*

    public VaeUpsample(int channels) : base(nameof(VaeUpsample))
    {
        conv = nn.Conv2d(channels, channels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var up = F.interpolate(x, scale_factor: new double[] { 2.0, 2.0 }, mode: InterpolationMode.Nearest);
        return conv.forward(up).MoveToOuterDisposeScope();
    }
}
