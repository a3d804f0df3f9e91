using T2VTurbo.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Rewards.ViClip;

/// <summary>ViCLIP's <c>Transformer</c> (both towers): pre-LN residual blocks with torch <c>nn.MultiheadAttention</c>
/// and a QuickGELU MLP (4× wide), key <c>resblocks.N.*</c>. The reference runs them sequence-first; this runs them
/// batch-first (same math). Causal for the text tower, unmasked for the vision tower.</summary>
public sealed class ViClipTransformer : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<OpenClipResidualBlock> resblocks;

    public ViClipTransformer(int width, int layers, int heads, double layerNormEps, bool causal) : base(nameof(ViClipTransformer))
    {
        resblocks = new ModuleList<OpenClipResidualBlock>(Enumerable.Range(0, layers)
            .Select(_ => new OpenClipResidualBlock(width, heads, 4 * width, layers, layerNormEps, causal, quickGelu: true)).ToArray());
        RegisterComponents();
    }

    public ModuleList<OpenClipResidualBlock> Blocks => resblocks;

    /// <summary>x: [B, L, W] → [B, L, W].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        foreach (var block in resblocks) x = block.forward(x);
        return x.MoveToOuterDisposeScope();
    }
}
