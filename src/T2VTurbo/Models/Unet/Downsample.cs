using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.Unet;

/// <summary>lvdm Downsample with conv_resample: Conv2d 3x3, stride 2, padding 1 (symmetric, unlike the VAE's).
/// Key: op.</summary>
public sealed class Downsample : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d op;
    private readonly long channels;

    public Downsample(long channels, long outChannels, Device? device = null, ScalarType? dtype = null) : base(nameof(Downsample))
    {
        this.channels = channels;
        op = nn.Conv2d(channels, outChannels, 3, stride: 2, padding: 1, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>x: [N, C, h, w] → [N, C_out, ⌈h/2⌉, ⌈w/2⌉].</summary>
    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != channels)
            throw new ArgumentException($"Downsample expects [N, {channels}, h, w], got [{string.Join(",", x.shape)}]");
        return op.call(x);
    }
}
