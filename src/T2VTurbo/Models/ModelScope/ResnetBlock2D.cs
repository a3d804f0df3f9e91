using T2VTurbo.Models.Unet;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.ModelScope;

/// <summary>diffusers ResnetBlock2D (pre-norm, time_embedding_norm "default", act silu, dropout 0):
/// h = conv1(SiLU(norm1 x)) + time_emb_proj(SiLU(temb))[:, :, None, None]; h = conv2(SiLU(norm2 h));
/// out = (conv_shortcut(x) or x + h) / output_scale_factor. GroupNorm(groups, eps) per frame. Keys: norm1, conv1,
/// time_emb_proj, norm2, conv2, conv_shortcut (1x1, only when the channel count changes) — registration order.</summary>
public sealed class ResnetBlock2D : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly GroupNorm32 norm1;
    private readonly Conv2d conv1;
    private readonly Linear time_emb_proj;
    private readonly GroupNorm32 norm2;
    private readonly Conv2d conv2;
    private readonly Conv2d? conv_shortcut;
    private readonly double outputScaleFactor;

    public ResnetBlock2D(long inChannels, long outChannels, long tembChannels, long groups, double eps, double outputScaleFactor = 1.0,
        Device? device = null, ScalarType? dtype = null) : base(nameof(ResnetBlock2D))
    {
        this.outputScaleFactor = outputScaleFactor;
        norm1 = new GroupNorm32(groups, inChannels, eps, device, dtype);
        conv1 = nn.Conv2d(inChannels, outChannels, 3, padding: 1, device: device, dtype: dtype);
        time_emb_proj = nn.Linear(tembChannels, outChannels, device: device, dtype: dtype);
        norm2 = new GroupNorm32(groups, outChannels, eps, device, dtype);
        conv2 = nn.Conv2d(outChannels, outChannels, 3, padding: 1, device: device, dtype: dtype);
        if (inChannels != outChannels) conv_shortcut = nn.Conv2d(inChannels, outChannels, 1, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>x: [N, C_in, h, w]; temb: [N, E] → [N, C_out, h, w].</summary>
    public override Tensor forward(Tensor x, Tensor temb)
    {
        if (x.dim() != 4 || temb.dim() != 2 || temb.shape[0] != x.shape[0])
            throw new ArgumentException($"ResnetBlock2D expects x [N, C, h, w] and temb [N, E], got [{string.Join(",", x.shape)}] and [{string.Join(",", temb.shape)}]");
        using var scope = torch.NewDisposeScope();
        var h = conv1.call(nn.functional.silu(norm1.call(x)));                      // [N, C_out, h, w]
        var t = time_emb_proj.call(nn.functional.silu(temb));                       // [N, C_out]
        h = h + t.view(t.shape[0], t.shape[1], 1, 1);
        h = conv2.call(nn.functional.silu(norm2.call(h)));
        var y = (conv_shortcut is null ? x : conv_shortcut.call(x)) + h;
        if (outputScaleFactor != 1.0) y = y / outputScaleFactor;
        return y.MoveToOuterDisposeScope();
    }
}
