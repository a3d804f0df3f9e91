using T2VTurbo.Models.Unet;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.ModelScope;

/// <summary>diffusers TransformerTemporalModel (one layer, double_self_attention): GroupNorm(groups, eps 1e-6) over
/// each video's [C, T, h, w] jointly, then per pixel the T frames form a token sequence: proj_in Linear → block whose
/// attn1 and attn2 are both self-attention over frames (no positional encoding, no mask) → proj_out Linear → + input.
/// Used for transformer_in (8 heads, inner 8·head_dim ≠ channels) and every temp_attention (channels/head_dim heads).
/// Keys: norm, proj_in, transformer_blocks.0, proj_out.</summary>
public sealed class TransformerTemporalModel : nn.Module<Tensor, long, Tensor>
{
    private readonly GroupNorm32 norm;
    private readonly Linear proj_in;
    private readonly ModuleList<DiffusersTransformerBlock> transformer_blocks;
    private readonly Linear proj_out;

    public TransformerTemporalModel(long heads, long headDim, long inChannels, long normGroups, Device? device = null, ScalarType? dtype = null)
        : base(nameof(TransformerTemporalModel))
    {
        long inner = heads * headDim;
        norm = new GroupNorm32(normGroups, inChannels, 1e-6, device, dtype);
        proj_in = nn.Linear(inChannels, inner, device: device, dtype: dtype);
        transformer_blocks = nn.ModuleList(new DiffusersTransformerBlock(inner, heads, headDim, null, device, dtype));
        proj_out = nn.Linear(inner, inChannels, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>x: [(B·T), C, h, w], frame fastest; numFrames T → [(B·T), C, h, w].</summary>
    public override Tensor forward(Tensor x, long numFrames)
    {
        if (x.dim() != 4 || numFrames <= 0 || x.shape[0] % numFrames != 0)
            throw new ArgumentException($"TransformerTemporalModel expects [(B·T), C, h, w] with T={numFrames}, got [{string.Join(",", x.shape)}]");
        using var scope = torch.NewDisposeScope();
        var (bt, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        long b = bt / numFrames;
        var frames = x.view(b, numFrames, c, h, w);                                    // [B, T, C, h, w]
        var normed = norm.call(frames.permute(0, 2, 1, 3, 4));                          // [B, C, T, h, w]: statistics over (C/G, T, h, w)
        var tokens = normed.permute(0, 3, 4, 2, 1).reshape(b * h * w, numFrames, c);  // [(B·h·w), T, C]
        tokens = proj_in.call(tokens);                                                 // [(B·h·w), T, inner]
        foreach (var block in transformer_blocks) tokens = block.call(tokens, null);
        tokens = proj_out.call(tokens);                                                // [(B·h·w), T, C]
        var y = tokens.view(b, h, w, numFrames, c).permute(0, 3, 4, 1, 2);              // [B, T, C, h, w]
        return (frames + y).reshape(bt, c, h, w).MoveToOuterDisposeScope();
    }
}
