using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.Unet;

/// <summary>Multi-head attention of lvdm (CrossAttention): q/k/v Linear without bias, to_out = [Linear, Dropout],
/// softmax(q·kᵀ·d_head^-0.5)·v — exactly scaled_dot_product_attention's default scale. Without a context it is
/// self-attention (k, v from x). Keys: to_q, to_k, to_v, to_out.0.</summary>
public sealed class CrossAttention : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly Linear to_q, to_k, to_v;
    private readonly Sequential to_out;
    private readonly long heads, dim_head;

    /// <param name="contextDim">width of the context tokens; null = self-attention (k/v read the query width).</param>
    public CrossAttention(long queryDim, long? contextDim, long heads, long dimHead, double dropout,
        Device? device = null, ScalarType? dtype = null) : base(nameof(CrossAttention))
    {
        this.heads = heads;
        dim_head = dimHead;
        long inner = heads * dimHead;
        long kv = contextDim ?? queryDim;
        to_q = nn.Linear(queryDim, inner, hasBias: false, device: device, dtype: dtype);
        to_k = nn.Linear(kv, inner, hasBias: false, device: device, dtype: dtype);
        to_v = nn.Linear(kv, inner, hasBias: false, device: device, dtype: dtype);
        to_out = nn.Sequential(nn.Linear(inner, queryDim, device: device, dtype: dtype), nn.Dropout(dropout));
        RegisterComponents();
    }

    /// <summary>x: [N, Lq, query_dim]; context: [Nc, Lk, context_dim] or null. N may be a multiple of Nc: then each
    /// run of N/Nc consecutive items shares one context row (the UNet's frames of one video, layout (b t)), which
    /// equals the reference's repeat_interleave of the context without computing k/v T times. → [N, Lq, query_dim].</summary>
    public override Tensor forward(Tensor x, Tensor? context)
    {
        if (x.dim() != 3) throw new ArgumentException($"attention input must be [N, L, C], got [{string.Join(",", x.shape)}]");
        using var scope = torch.NewDisposeScope();
        var (n, lq) = (x.shape[0], x.shape[1]);
        long inner = heads * dim_head;
        var q = to_q.call(x);                                                       // [N, Lq, inner]
        var src = context ?? x;
        if (context is not null)
        {
            if (context.dim() != 3 || n % context.shape[0] != 0)
                throw new ArgumentException($"attention context must be [Nc, L, C] with N={n} a multiple of Nc, got [{string.Join(",", context.shape)}]");
            // Rows are independent queries, so the N/Nc items that share a context become one longer query sequence.
            q = q.view(context.shape[0], n / context.shape[0] * lq, inner);            // [Nc, (N/Nc)·Lq, inner]
        }
        var k = to_k.call(src);                                                     // [Nc, Lk, inner]
        var v = to_v.call(src);
        var o = nn.functional.scaled_dot_product_attention(SplitHeads(q), SplitHeads(k), SplitHeads(v)); // [Nc, heads, Lq', d]
        o = o.transpose(1, 2).reshape(n, lq, inner);                                   // [N, Lq, inner]
        return to_out.call(o).MoveToOuterDisposeScope();
    }

    private Tensor SplitHeads(Tensor t) => t.view(t.shape[0], t.shape[1], heads, dim_head).transpose(1, 2); // [N, heads, L, d]
}
