using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Models;

/// <summary>The <c>mid</c> of the lvdm VAE encoder and decoder: block_1 → attn_1 → block_2. The attention block is
/// always there, whatever attn_resolutions says.</summary>
public sealed class VaeMidBlock : nn.Module<Tensor, Tensor>
{
    private readonly VaeResnetBlock block_1, block_2;   // keys: block_1.*, block_2.*
    private readonly VaeAttnBlock attn_1;               // keys: attn_1.*

    public VaeMidBlock(int channels, AutoencoderConfig cfg) : base(nameof(VaeMidBlock))
    {
        block_1 = new VaeResnetBlock(channels, channels, cfg);
        attn_1 = new VaeAttnBlock(channels, cfg);
        block_2 = new VaeResnetBlock(channels, channels, cfg);
        RegisterComponents();
    }

    public VaeResnetBlock Block1 => block_1;
    public VaeAttnBlock Attn1 => attn_1;
    public VaeResnetBlock Block2 => block_2;

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return block_2.forward(attn_1.forward(block_1.forward(x))).MoveToOuterDisposeScope();
    }
}
