using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.Unet;

/// <summary>lvdm SpatialTransformer: per frame, GroupNorm(32, eps 1e-6) → (h w) tokens → proj_in → transformer blocks
/// (self-attention, cross-attention to the text context, GEGLU MLP) → proj_out → + input.
/// Keys: norm, proj_in, transformer_blocks.i, proj_out.</summary>
public sealed class SpatialTransformer : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly GroupNorm32 norm;
    private readonly nn.Module<Tensor, Tensor> proj_in;
    private readonly ModuleList<BasicTransformerBlock> transformer_blocks;
    private readonly nn.Module<Tensor, Tensor> proj_out;

    public SpatialTransformer(long inChannels, long nHeads, long dHead, long depth, long contextDim, bool useLinear, double dropout,
        Device? device = null, ScalarType? dtype = null) : base(nameof(SpatialTransformer))
    {
        long inner = nHeads * dHead;
        norm = new GroupNorm32(32, inChannels, 1e-6, device, dtype);
        proj_in = PointwiseProjection.Create(inChannels, inner, useLinear, 2, device, dtype);
        transformer_blocks = nn.ModuleList(Enumerable.Range(0, (int)depth)
            .Select(_ => new BasicTransformerBlock(inner, nHeads, dHead, contextDim, dropout, device, dtype)).ToArray());
        proj_out = PointwiseProjection.Create(inner, inChannels, useLinear, 2, device, dtype);
        RegisterComponents();
    }

    /// <summary>x: [N, C, h, w] (N = B·T frames); context: [B, L, context_dim] shared by the N/B frames of each video
    /// (or already repeated to [N, L, context_dim]) → [N, C, h, w].</summary>
    public override Tensor forward(Tensor x, Tensor context)
    {
        if (x.dim() != 4) throw new ArgumentException($"SpatialTransformer expects [N, C, h, w], got [{string.Join(",", x.shape)}]");
        using var scope = torch.NewDisposeScope();
        var (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var tokens = norm.forward(x).permute(0, 2, 3, 1).reshape(n, h * w, c);          // [N, h·w, C]
        tokens = PointwiseProjection.Apply(proj_in, tokens);                           // [N, h·w, inner]
        foreach (var block in transformer_blocks) tokens = block.forward(tokens, context);
        tokens = PointwiseProjection.Apply(proj_out, tokens);                          // [N, h·w, C]
        // x first: the sum takes x's contiguous [N, C, h, w] layout.
        return (x + tokens.view(n, h, w, c).permute(0, 3, 1, 2)).MoveToOuterDisposeScope();
    }
}
