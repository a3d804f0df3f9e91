using T2VTurbo.Models.Unet;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.ModelScope;

/// <summary>diffusers Transformer2DModel as the ModelScope blocks build it (use_linear_projection, one layer): per
/// frame GroupNorm(groups, eps 1e-6) → (h w) tokens → proj_in Linear → block (self-attention, cross-attention to the
/// text, GEGLU) → proj_out Linear → + input. Keys: norm, proj_in, transformer_blocks.0, proj_out.</summary>
public sealed class Transformer2DModel : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly GroupNorm32 norm;
    private readonly Linear proj_in;
    private readonly ModuleList<DiffusersTransformerBlock> transformer_blocks;
    private readonly Linear proj_out;

    public Transformer2DModel(long heads, long headDim, long inChannels, long crossAttentionDim, long normGroups,
        Device? device = null, ScalarType? dtype = null) : base(nameof(Transformer2DModel))
    {
        long inner = heads * headDim;
        norm = new GroupNorm32(normGroups, inChannels, 1e-6, device, dtype);
        proj_in = nn.Linear(inChannels, inner, device: device, dtype: dtype);
        transformer_blocks = nn.ModuleList(new DiffusersTransformerBlock(inner, heads, headDim, crossAttentionDim, device, dtype));
        proj_out = nn.Linear(inner, inChannels, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>x: [N, C, h, w] (N = B·T frames, frame fastest); context: [B, L, cross_attention_dim], shared by the
    /// N/B frames of each video (or already repeated to [N, L, D]) → [N, C, h, w].</summary>
    public override Tensor forward(Tensor x, Tensor context)
    {
        if (x.dim() != 4) throw new ArgumentException($"Transformer2DModel expects [N, C, h, w], got [{string.Join(",", x.shape)}]");
        using var scope = torch.NewDisposeScope();
        var (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var tokens = norm.call(x).permute(0, 2, 3, 1).reshape(n, h * w, c);            // [N, h·w, C]
        tokens = proj_in.call(tokens);                                                 // [N, h·w, inner]
        foreach (var block in transformer_blocks) tokens = block.call(tokens, context);
        tokens = proj_out.call(tokens);                                                // [N, h·w, C]
        return (x + tokens.view(n, h, w, c).permute(0, 3, 1, 2)).MoveToOuterDisposeScope();
    }
}
