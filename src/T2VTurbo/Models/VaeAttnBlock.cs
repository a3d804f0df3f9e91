using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Models;

/// <summary>lvdm ae_modules AttnBlock ("vanilla"): single-head self-attention over the H·W positions with 1×1-conv
/// q, k, v, proj_out, softmax(qᵀk·C^-0.5), residual. (diffusers' VAE attention is the same math with Linear [C, C]
/// weights: a key map reshapes them to [C, C, 1, 1].)</summary>
public sealed class VaeAttnBlock : nn.Module<Tensor, Tensor>
{
    private readonly GroupNorm norm;                 // keys: norm.*
    private readonly Conv2d q, k, v, proj_out;       // keys: q.*, k.*, v.*, proj_out.*

    public VaeAttnBlock(int channels, AutoencoderConfig cfg) : base(nameof(VaeAttnBlock))
    {
        norm = VaeNormalize.Create(cfg, channels);
        q = nn.Conv2d(channels, channels, 1);
        k = nn.Conv2d(channels, channels, 1);
        v = nn.Conv2d(channels, channels, 1);
        proj_out = nn.Conv2d(channels, channels, 1);
        RegisterComponents();
    }

    /// <summary>x: [N, C, H, W] → [N, C, H, W].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var hn = norm.forward(x);
        Tensor Tokens(Conv2d proj) => proj.forward(hn).reshape(n, 1, c, h * w).transpose(2, 3);   // [N, 1, H·W, C]
        // One head of dim C: SDPA's default scale 1/sqrt(C) is the reference's int(c)**(-0.5).
        var y = F.scaled_dot_product_attention(Tokens(q), Tokens(k), Tokens(v));                  // [N, 1, H·W, C]
        y = y.transpose(2, 3).reshape(n, c, h, w);                                                 // [N, C, H, W]
        return (x + proj_out.forward(y)).MoveToOuterDisposeScope();
    }
}
