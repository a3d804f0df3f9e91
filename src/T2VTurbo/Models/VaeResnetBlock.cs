using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Models;

/// <summary>lvdm ae_modules ResnetBlock without time embedding: norm1 → swish → conv1 → norm2 → swish → dropout → conv2,
/// plus the input (through a 1×1 <c>nin_shortcut</c> only when the channel count changes).</summary>
public sealed class VaeResnetBlock : nn.Module<Tensor, Tensor>
{
    private readonly GroupNorm norm1, norm2;   // keys: norm1.*, norm2.*
    private readonly Conv2d conv1, conv2;      // keys: conv1.*, conv2.*
    private readonly Dropout dropout;          // no keys
    private readonly Conv2d? nin_shortcut;     // keys: nin_shortcut.* (only if in != out)

    public VaeResnetBlock(int inChannels, int outChannels, AutoencoderConfig cfg) : base(nameof(VaeResnetBlock))
    {
        norm1 = VaeNormalize.Create(cfg, inChannels);
        conv1 = nn.Conv2d(inChannels, outChannels, 3, padding: 1);
        norm2 = VaeNormalize.Create(cfg, outChannels);
        dropout = nn.Dropout(cfg.dropout);
        conv2 = nn.Conv2d(outChannels, outChannels, 3, padding: 1);
        if (inChannels != outChannels) nin_shortcut = nn.Conv2d(inChannels, outChannels, 1);
        RegisterComponents();
    }

    /// <summary>x: [N, Cin, H, W] → [N, Cout, H, W].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = conv1.forward(F.silu(norm1.forward(x)));
        h = conv2.forward(dropout.forward(F.silu(norm2.forward(h))));
        var skip = nin_shortcut is null ? x : nin_shortcut.forward(x);
        return (skip + h).MoveToOuterDisposeScope();
    }
}
