using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.Unet;

/// <summary>lvdm TemporalTransformer with only_self_att (VideoCrafter2): GroupNorm(32, eps 1e-6) over each video's
/// [C, T, h, w], then per pixel the T frames are a token sequence: proj_in → blocks whose attn1 and attn2 are both
/// self-attention over frames (no positional encoding, no mask) → proj_out → + input. proj_in/out are Linear with
/// use_linear, else Conv1d (init_attn). Keys: norm, proj_in, transformer_blocks.i, proj_out.</summary>
public sealed class TemporalTransformer : nn.Module<Tensor, Tensor>
{
    private readonly GroupNorm32 norm;
    private readonly nn.Module<Tensor, Tensor> proj_in;
    private readonly ModuleList<BasicTransformerBlock> transformer_blocks;
    private readonly nn.Module<Tensor, Tensor> proj_out;

    public TemporalTransformer(long inChannels, long nHeads, long dHead, long depth, bool useLinear, double dropout,
        Device? device = null, ScalarType? dtype = null) : base(nameof(TemporalTransformer))
    {
        long inner = nHeads * dHead;
        norm = new GroupNorm32(32, inChannels, 1e-6, device, dtype);
        proj_in = PointwiseProjection.Create(inChannels, inner, useLinear, 1, device, dtype);
        transformer_blocks = nn.ModuleList(Enumerable.Range(0, (int)depth)
            .Select(_ => new BasicTransformerBlock(inner, nHeads, dHead, null, dropout, device, dtype)).ToArray());
        proj_out = PointwiseProjection.Create(inner, inChannels, useLinear, 1, device, dtype);
        RegisterComponents();
    }

    /// <summary>The reference layout. x: [B, C, T, h, w] → [B, C, T, h, w].</summary>
    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 5) throw new ArgumentException($"TemporalTransformer expects [B, C, T, h, w], got [{string.Join(",", x.shape)}]");
        using var scope = torch.NewDisposeScope();
        var y = Attend(x);                                                             // [B, h, w, T, C]
        return (x + y.permute(0, 4, 3, 1, 2)).MoveToOuterDisposeScope();
    }

    /// <summary>The UNet's layout, without the round trip to [B, C, T, h, w]. x: [(B·T), C, h, w], frame fastest
    /// → [(B·T), C, h, w].</summary>
    public Tensor ForwardFrames(Tensor x, long batch)
    {
        if (x.dim() != 4 || batch <= 0 || x.shape[0] % batch != 0)
            throw new ArgumentException($"TemporalTransformer expects [(B·T), C, h, w] with B={batch}, got [{string.Join(",", x.shape)}]");
        using var scope = torch.NewDisposeScope();
        var (bt, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var frames = x.view(batch, bt / batch, c, h, w);                               // [B, T, C, h, w]
        var y = Attend(frames.permute(0, 2, 1, 3, 4));                                 // [B, h, w, T, C]
        return (frames + y.permute(0, 3, 4, 1, 2)).reshape(bt, c, h, w).MoveToOuterDisposeScope();
    }

    /// <summary>x: logical [B, C, T, h, w] (any strides) → the residual branch as [B, h, w, T, C].</summary>
    private Tensor Attend(Tensor x)
    {
        var (b, c, t, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4]);
        var tokens = norm.forward(x).permute(0, 3, 4, 2, 1).reshape(b * h * w, t, c);   // [(B·h·w), T, C]
        tokens = PointwiseProjection.Apply(proj_in, tokens);                           // [(B·h·w), T, inner]
        foreach (var block in transformer_blocks) tokens = block.forward(tokens, null);
        tokens = PointwiseProjection.Apply(proj_out, tokens);                          // [(B·h·w), T, C]
        return tokens.view(b, h, w, t, c);
    }
}
