using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.Unet;

/// <summary>lvdm Upsample with conv_resample: nearest-neighbour x2, then Conv2d 3x3 padding 1. Key: conv.</summary>
public sealed class Upsample : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly long channels;

    public Upsample(long channels, long outChannels, Device? device = null, ScalarType? dtype = null) : base(nameof(Upsample))
    {
        this.channels = channels;
        conv = nn.Conv2d(channels, outChannels, 3, padding: 1, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>x: [N, C, h, w] → [N, C_out, 2h, 2w].</summary>
    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != channels)
            throw new ArgumentException($"Upsample expects [N, {channels}, h, w], got [{string.Join(",", x.shape)}]");
        using var scope = torch.NewDisposeScope();
        var up = nn.functional.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest); // [N, C, 2h, 2w]
        return conv.call(up).MoveToOuterDisposeScope();
    }
}
