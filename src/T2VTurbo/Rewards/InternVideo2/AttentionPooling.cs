using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Rewards.InternVideo2;

/// <summary>InternVideo2 <c>CrossAttention</c>: separate bias-free q/k/v Linear(D, D) with separate <c>q_bias</c> /
/// <c>k_bias</c> / <c>v_bias</c> parameters, q scaled by hd^-0.5, softmax, <c>proj</c> Linear(D, out_dim) with bias.</summary>
public sealed class PoolingCrossAttention : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly Linear q, k, v, proj;                  // keys: q.weight, k.weight, v.weight, proj.*
    private readonly Parameter q_bias, k_bias, v_bias;      // keys: q_bias, k_bias, v_bias [D]
    private readonly int heads;

    public PoolingCrossAttention(long dim, int heads, long outDim) : base(nameof(PoolingCrossAttention))
    {
        this.heads = heads;
        q = nn.Linear(dim, dim, hasBias: false);
        k = nn.Linear(dim, dim, hasBias: false);
        v = nn.Linear(dim, dim, hasBias: false);
        q_bias = new Parameter(torch.zeros(dim));
        k_bias = new Parameter(torch.zeros(dim));
        v_bias = new Parameter(torch.zeros(dim));
        proj = nn.Linear(dim, outDim);
        RegisterComponents();
    }

    /// <summary>xq: [B, Nq, D], xk / xv: [B, Nk, D] → [B, Nq, out_dim].</summary>
    public override Tensor forward(Tensor xq, Tensor xk, Tensor xv)
    {
        using var scope = torch.NewDisposeScope();
        var (b, nq, d) = (xq.shape[0], xq.shape[1], xq.shape[2]);
        long nk = xk.shape[1], hd = d / heads;
        var qh = F.linear(xq, q.weight!, q_bias).reshape(b, nq, heads, hd).transpose(1, 2);   // [B, H, Nq, hd]
        var kh = F.linear(xk, k.weight!, k_bias).reshape(b, nk, heads, hd).transpose(1, 2);   // [B, H, Nk, hd]
        var vh = F.linear(xv, v.weight!, v_bias).reshape(b, nk, heads, hd).transpose(1, 2);   // [B, H, Nk, hd]
        var attn = torch.matmul(qh * Math.Pow(hd, -0.5), kh.transpose(-2, -1)).softmax(-1);  // [B, H, Nq, Nk]
        var y = torch.matmul(attn, vh).transpose(1, 2).reshape(b, nq, d);                    // [B, Nq, D]
        return proj.forward(y).MoveToOuterDisposeScope();
    }
}

/// <summary><c>AttentionPoolingBlock</c> (the <c>clip_projector</c>): query = mean over all tokens (cls included),
/// LayerNorms <c>norm1_q</c> / <c>norm1_k</c> / <c>norm1_v</c>, one cross-attention → [B, clip_embed_dim].</summary>
public sealed class AttentionPoolingBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm norm1_q, norm1_k, norm1_v;   // keys: norm1_{q,k,v}.{weight,bias}
    private readonly PoolingCrossAttention cross_attn;      // keys: cross_attn.*

    public AttentionPoolingBlock(InternVideo2VisionConfig cfg) : base(nameof(AttentionPoolingBlock))
    {
        norm1_q = nn.LayerNorm(new long[] { cfg.embed_dim }, cfg.pool_norm_eps);
        norm1_k = nn.LayerNorm(new long[] { cfg.embed_dim }, cfg.pool_norm_eps);
        norm1_v = nn.LayerNorm(new long[] { cfg.embed_dim }, cfg.pool_norm_eps);
        cross_attn = new PoolingCrossAttention(cfg.embed_dim, cfg.attn_pool_num_heads, cfg.clip_embed_dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)   // x: [B, N, D] → [B, clip_embed_dim]
    {
        using var scope = torch.NewDisposeScope();
        var query = x.mean(new long[] { 1 }, keepdim: true);                                 // [B, 1, D]
        var y = cross_attn.forward(norm1_q.forward(query), norm1_k.forward(x), norm1_v.forward(x)); // [B, 1, E]
        return y.squeeze(1).MoveToOuterDisposeScope();
    }
}

/// <summary><c>Linear_Decoder</c> (head → LayerNorm): the distillation heads <c>clip_decoder.{i}</c> and
/// <c>final_clip_decoder</c>. They are checkpoint keys, but the reward discards their outputs, so there is no forward.</summary>
public sealed class LinearDecoder : nn.Module
{
    private readonly Linear head;       // keys: head.*
    private readonly LayerNorm norm;    // keys: norm.*

    public LinearDecoder(long inChannels, long outChannels, double eps) : base(nameof(LinearDecoder))
    {
        head = nn.Linear(inChannels, outChannels);
        norm = nn.LayerNorm(new long[] { outChannels }, eps);
        RegisterComponents();
    }
}
