using T2VTurbo.Models.Unet;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.ModelScope;

/// <summary>diffusers BasicTransformerBlock (norm_type layer_norm, GEGLU feed-forward, no bias on q/k/v):
/// x += attn1(norm1 x); x += attn2(norm2 x, context); x += ff(norm3 x). Same math as lvdm's block, but diffusers
/// registers norm1, attn1, norm2, attn2, norm3, ff — the state-dict and LoRA order (lvdm: attn1, ff, attn2).
/// The attention and feed-forward modules are the VC2 ones: their keys (to_q, to_k, to_v, to_out.0, net.0.proj,
/// net.2) are diffusers' too.</summary>
public sealed class DiffusersTransformerBlock : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly LayerNorm norm1;
    private readonly CrossAttention attn1;
    private readonly LayerNorm norm2;
    private readonly CrossAttention attn2;
    private readonly LayerNorm norm3;
    private readonly FeedForward ff;

    /// <param name="crossAttentionDim">width of attn2's context; null = double_self_attention (TransformerTemporalModel):
    /// attn2 is a second self-attention with inner×inner to_k/to_v.</param>
    public DiffusersTransformerBlock(long dim, long heads, long headDim, long? crossAttentionDim, Device? device = null, ScalarType? dtype = null)
        : base(nameof(DiffusersTransformerBlock))
    {
        norm1 = nn.LayerNorm([dim], 1e-5, device: device, dtype: dtype);
        attn1 = new CrossAttention(dim, null, heads, headDim, 0.0, device, dtype);
        norm2 = nn.LayerNorm([dim], 1e-5, device: device, dtype: dtype);
        attn2 = new CrossAttention(dim, crossAttentionDim, heads, headDim, 0.0, device, dtype);
        norm3 = nn.LayerNorm([dim], 1e-5, device: device, dtype: dtype);
        ff = new FeedForward(dim, 0.0, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>x: [N, L, dim]; context: [Nc, Lk, cross_attention_dim] with N a multiple of Nc (consecutive runs of
    /// N/Nc items share a context row, = the reference's repeat_interleave), or null for self-attention → [N, L, dim].</summary>
    public override Tensor forward(Tensor x, Tensor? context)
    {
        using var scope = torch.NewDisposeScope();
        x = attn1.call(norm1.call(x), null) + x;
        x = attn2.call(norm2.call(x), context) + x;
        x = ff.call(norm3.call(x)) + x;
        return x.MoveToOuterDisposeScope();
    }
}
