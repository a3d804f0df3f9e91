using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.Unet;

/// <summary>lvdm ResBlock (no up/down, no scale-shift): h = conv(SiLU(GN(x))); h += Linear(SiLU(emb)) per channel;
/// h = conv(Dropout(SiLU(GN(h)))); h = skip(x) + h; then the temporal conv block on the frames of each video.
/// GroupNorm eps 1e-5. Keys: in_layers.{0,2}, emb_layers.1, out_layers.{0,3}, skip_connection (1x1 conv when the
/// channel count changes), temopral_conv [sic].</summary>
public sealed class ResBlock : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Sequential in_layers;
    private readonly Sequential emb_layers;
    private readonly Sequential out_layers;
    private readonly nn.Module<Tensor, Tensor> skip_connection;
    private readonly TemporalConvBlock? temopral_conv;

    public ResBlock(long channels, long embChannels, double dropout, long? outChannels, bool useTemporalConv,
        Device? device = null, ScalarType? dtype = null) : base(nameof(ResBlock))
    {
        long outCh = outChannels ?? channels;
        OutChannels = outCh;
        in_layers = nn.Sequential(new GroupNorm32(32, channels, 1e-5, device, dtype), nn.SiLU(),
            nn.Conv2d(channels, outCh, 3, padding: 1, device: device, dtype: dtype));
        emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(embChannels, outCh, device: device, dtype: dtype));
        out_layers = nn.Sequential(new GroupNorm32(32, outCh, 1e-5, device, dtype), nn.SiLU(), nn.Dropout(dropout),
            nn.Conv2d(outCh, outCh, 3, padding: 1, device: device, dtype: dtype));
        skip_connection = outCh == channels ? nn.Identity() : nn.Conv2d(channels, outCh, 1, device: device, dtype: dtype);
        // The reference fixes the temporal conv's dropout at 0.1, whatever the UNet's dropout.
        temopral_conv = useTemporalConv ? new TemporalConvBlock(outCh, outCh, 0.1, device, dtype) : null;
        RegisterComponents();
    }

    public long OutChannels { get; }

    /// <summary>Without the temporal conv (no batch to regroup frames by). x: [N, C, h, w]; emb: [N, E] → [N, C_out, h, w].</summary>
    public override Tensor forward(Tensor x, Tensor emb) => Forward(x, emb, 0, null);

    /// <summary>x: [(B·T), C, h, w] frame fastest; emb: [(B·T), E]; batch B (0 skips the temporal conv, as the
    /// reference does without batch_size); observeBeforeTemporalConv sees the [B, C, T, h, w] input of the temporal conv.
    /// → [(B·T), C_out, h, w].</summary>
    public Tensor Forward(Tensor x, Tensor emb, long batch, Action<Tensor>? observeBeforeTemporalConv = null)
    {
        if (x.dim() != 4 || emb.dim() != 2 || emb.shape[0] != x.shape[0])
            throw new ArgumentException($"ResBlock expects x [N, C, h, w] and emb [N, E], got [{string.Join(",", x.shape)}] and [{string.Join(",", emb.shape)}]");
        using var scope = torch.NewDisposeScope();
        var h = in_layers.call(x);                                                  // [N, C_out, h, w]
        var embOut = emb_layers.call(emb).to(h.dtype);                              // [N, C_out]
        h = out_layers.call(h + embOut.view(embOut.shape[0], embOut.shape[1], 1, 1));
        h = skip_connection.call(x) + h;
        if (temopral_conv is not null && batch > 0)
        {
            if (observeBeforeTemporalConv is not null)
                observeBeforeTemporalConv(h.view(batch, h.shape[0] / batch, h.shape[1], h.shape[2], h.shape[3]).permute(0, 2, 1, 3, 4));
            h = temopral_conv.ForwardFrames(h, batch);
        }
        return h.MoveToOuterDisposeScope();
    }
}
