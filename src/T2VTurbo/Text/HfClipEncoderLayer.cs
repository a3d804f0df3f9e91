using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Text;

/// <summary>transformers <c>CLIPAttention</c> as the text model runs it: separate q/k/v/out projections with bias,
/// heads of dim D/H, scale head_dim^-0.5, causal mask only (the MS pipeline passes no attention_mask).</summary>
public sealed class HfClipAttention : nn.Module<Tensor, Tensor>
{
    private readonly Linear k_proj, v_proj, q_proj, out_proj;   // keys: {k,v,q,out}_proj.*
    private readonly int heads;

    public HfClipAttention(HfClipTextConfig cfg) : base(nameof(HfClipAttention))
    {
        heads = cfg.num_attention_heads;
        // Registration order as in transformers (k, v, q, out), so state_dict() lists keys like the checkpoint.
        k_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size);
        v_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size);
        q_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size);
        out_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size);
        RegisterComponents();
    }

    /// <summary>x: [B, L, D] → [B, L, D], position i attends to positions ≤ i.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var (b, l, d) = (x.shape[0], x.shape[1], x.shape[2]);
        Tensor Heads(Linear proj) => proj.forward(x).reshape(b, l, heads, d / heads).transpose(1, 2);   // [B, H, L, d]
        // SDPA's default scale is head_dim^-0.5 and is_casual masks j > i, like CLIP's additive float-min causal mask.
        var y = F.scaled_dot_product_attention(Heads(q_proj), Heads(k_proj), Heads(v_proj), is_casual: true); // [B, H, L, d]
        y = y.transpose(1, 2).reshape(b, l, d);                                                             // [B, L, D]
        return out_proj.forward(y).MoveToOuterDisposeScope();
    }
}

/// <summary>transformers <c>CLIPMLP</c>: fc1 → activation (config hidden_act) → fc2.</summary>
public sealed class HfClipMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1, fc2;   // keys: fc1.*, fc2.*
    private readonly string act;

    public HfClipMlp(HfClipTextConfig cfg) : base(nameof(HfClipMlp))
    {
        act = cfg.hidden_act;
        fc1 = nn.Linear(cfg.hidden_size, cfg.intermediate_size);
        fc2 = nn.Linear(cfg.intermediate_size, cfg.hidden_size);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return fc2.forward(Activation(fc1.forward(x), act)).MoveToOuterDisposeScope();
    }

    /// <summary>transformers ACT2FN: "gelu" = exact erf GELU; "quick_gelu" = x·σ(1.702x);
    /// "gelu_new" / "gelu_pytorch_tanh" = 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).</summary>
    public static Tensor Activation(Tensor x, string name) => name switch
    {
        "gelu" => F.gelu(x),
        "quick_gelu" => x * torch.sigmoid(1.702 * x),
        "gelu_new" or "gelu_pytorch_tanh" => 0.5 * x * (1.0 + torch.tanh(Math.Sqrt(2.0 / Math.PI) * (x + 0.044715 * x.pow(3)))),
        _ => throw new NotSupportedException($"HfClipMlp: hidden_act \"{name}\" is not supported"),
    };
}

/// <summary>transformers <c>CLIPEncoderLayer</c> (pre-LN): x += self_attn(layer_norm1(x)); x += mlp(layer_norm2(x)).</summary>
public sealed class HfClipEncoderLayer : nn.Module<Tensor, Tensor>
{
    private readonly HfClipAttention self_attn;      // keys: self_attn.*
    private readonly LayerNorm layer_norm1;          // keys: layer_norm1.*
    private readonly HfClipMlp mlp;                  // keys: mlp.*
    private readonly LayerNorm layer_norm2;          // keys: layer_norm2.*

    public HfClipEncoderLayer(HfClipTextConfig cfg) : base(nameof(HfClipEncoderLayer))
    {
        self_attn = new HfClipAttention(cfg);
        layer_norm1 = nn.LayerNorm(new long[] { cfg.hidden_size }, cfg.layer_norm_eps);
        mlp = new HfClipMlp(cfg);
        layer_norm2 = nn.LayerNorm(new long[] { cfg.hidden_size }, cfg.layer_norm_eps);
        RegisterComponents();
    }

    /// <summary>x: [B, L, D] → [B, L, D].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = x + self_attn.forward(layer_norm1.forward(x));
        h = h + mlp.forward(layer_norm2.forward(h));
        return h.MoveToOuterDisposeScope();
    }
}
