using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.Unet;

/// <summary>lvdm TemporalConvBlock (from ModelScope), the `temopral_conv` [sic] of every VC2 ResBlock: four stages
/// GroupNorm(32, eps 1e-5) → SiLU → [Dropout, stages 2-4] → Conv3d kernel (3,1,1) padding (1,0,0), plus the input.
/// It mixes each pixel's neighbouring frames. Keys: conv1.{0,2}, conv2..4.{0,3}.</summary>
public sealed class TemporalConvBlock : nn.Module<Tensor, Tensor>
{
    private readonly Sequential conv1, conv2, conv3, conv4;

    public TemporalConvBlock(long inChannels, long outChannels, double dropout, Device? device = null, ScalarType? dtype = null)
        : base(nameof(TemporalConvBlock))
    {
        conv1 = nn.Sequential(new GroupNorm32(32, inChannels, 1e-5, device, dtype), nn.SiLU(), FrameConv(inChannels, outChannels, device, dtype));
        conv2 = Stage(outChannels, inChannels, dropout, device, dtype);
        conv3 = Stage(outChannels, inChannels, dropout, device, dtype);
        conv4 = Stage(outChannels, inChannels, dropout, device, dtype);
        RegisterComponents();
    }

    private static Sequential Stage(long inCh, long outCh, double dropout, Device? device, ScalarType? dtype) =>
        nn.Sequential(new GroupNorm32(32, inCh, 1e-5, device, dtype), nn.SiLU(), nn.Dropout(dropout), FrameConv(inCh, outCh, device, dtype));

    private static Conv3d FrameConv(long inCh, long outCh, Device? device, ScalarType? dtype) =>
        nn.Conv3d(inCh, outCh, (3, 1, 1), padding: (1, 0, 0), device: device, dtype: dtype);

    /// <summary>The reference layout. x: [B, C, T, h, w] → [B, C, T, h, w].</summary>
    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 5) throw new ArgumentException($"TemporalConvBlock expects [B, C, T, h, w], got [{string.Join(",", x.shape)}]");
        using var scope = torch.NewDisposeScope();
        return (Branch(x) + x).MoveToOuterDisposeScope();
    }

    /// <summary>The UNet's layout. x: [(B·T), C, h, w], frame fastest → [(B·T), C, h, w].</summary>
    public Tensor ForwardFrames(Tensor x, long batch)
    {
        if (x.dim() != 4 || batch <= 0 || x.shape[0] % batch != 0)
            throw new ArgumentException($"TemporalConvBlock expects [(B·T), C, h, w] with B={batch}, got [{string.Join(",", x.shape)}]");
        using var scope = torch.NewDisposeScope();
        var (bt, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var frames = x.view(batch, bt / batch, c, h, w);                               // [B, T, C, h, w]
        var y = Branch(frames.permute(0, 2, 1, 3, 4).contiguous());                     // [B, C, T, h, w]
        return (frames + y.permute(0, 2, 1, 3, 4)).reshape(bt, c, h, w).MoveToOuterDisposeScope();
    }

    private Tensor Branch(Tensor x) => conv4.call(conv3.call(conv2.call(conv1.call(x))));
}
