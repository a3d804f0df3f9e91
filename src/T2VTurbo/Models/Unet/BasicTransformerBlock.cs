using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.Unet;

/// <summary>lvdm BasicTransformerBlock: x += attn1(norm1 x) [self]; x += attn2(norm2 x, context); x += ff(norm3 x).
/// The fields are declared attn1, ff, attn2, norm1..3 — the reference's registration order, which fixes the
/// state-dict and LoRA module order although the forward runs attn1 → attn2 → ff.</summary>
public sealed class BasicTransformerBlock : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly CrossAttention attn1;
    private readonly FeedForward ff;
    private readonly CrossAttention attn2;
    private readonly LayerNorm norm1, norm2, norm3;

    /// <param name="contextDim">width of attn2's context; null makes attn2 a second self-attention (temporal
    /// transformers with temporal_selfatt_only: to_k/to_v are inner x inner).</param>
    public BasicTransformerBlock(long dim, long nHeads, long dHead, long? contextDim, double dropout,
        Device? device = null, ScalarType? dtype = null) : base(nameof(BasicTransformerBlock))
    {
        attn1 = new CrossAttention(dim, null, nHeads, dHead, dropout, device, dtype);
        ff = new FeedForward(dim, dropout, device: device, dtype: dtype);
        attn2 = new CrossAttention(dim, contextDim, nHeads, dHead, dropout, device, dtype);
        norm1 = nn.LayerNorm([dim], 1e-5, device: device, dtype: dtype);
        norm2 = nn.LayerNorm([dim], 1e-5, device: device, dtype: dtype);
        norm3 = nn.LayerNorm([dim], 1e-5, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>x: [N, L, dim]; context: [Nc, Lk, context_dim] (N a multiple of Nc) or null → [N, L, dim].</summary>
    public override Tensor forward(Tensor x, Tensor? context)
    {
        using var scope = torch.NewDisposeScope();
        x = attn1.forward(norm1.forward(x), null) + x;
        x = attn2.forward(norm2.forward(x), context) + x;
        x = ff.forward(norm3.forward(x)) + x;
        return x.MoveToOuterDisposeScope();
    }
}
