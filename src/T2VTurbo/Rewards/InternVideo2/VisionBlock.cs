using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Rewards.InternVideo2;

/// <summary>RMSNorm with a weight only (InternVideo2 <c>RMSNorm</c> / flash-attn <c>DropoutAddRMSNorm</c>):
/// x·rsqrt(mean(x²) + eps)·w, computed in float32 and cast back to the input dtype.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;   // key: weight [D]
    private readonly double eps;

    public RmsNorm(long dim, double eps) : base(nameof(RmsNorm))
    {
        this.eps = eps;
        weight = new Parameter(torch.ones(dim));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)   // x: [..., D]
    {
        using var scope = torch.NewDisposeScope();
        var x32 = x.to(ScalarType.Float32);
        var y = x32 * torch.rsqrt(x32.pow(2).mean(new long[] { -1 }, keepdim: true) + eps) * weight.to(ScalarType.Float32);
        return y.to(x.dtype).MoveToOuterDisposeScope();
    }
}

/// <summary>LayerScale: x·gamma, evaluated in float32 (<c>force_fp32</c> in the reference).</summary>
public sealed class LayerScale : nn.Module<Tensor, Tensor>
{
    private readonly Parameter gamma;   // key: gamma [D]

    public LayerScale(long dim, double initValues) : base(nameof(LayerScale))
    {
        gamma = new Parameter(torch.full(dim, initValues));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return (x.to(ScalarType.Float32) * gamma.to(ScalarType.Float32)).to(x.dtype).MoveToOuterDisposeScope();
    }
}

/// <summary>Self-attention of a vision block: bias-free <c>qkv</c>, qk-normalisation by RMSNorms over the whole width
/// (all heads together, before the head split), softmax(q·kᵀ/√hd)·v, <c>proj</c> with bias. No mask.</summary>
public sealed class VisionAttention : nn.Module<Tensor, Tensor>
{
    private readonly Linear qkv, proj;          // keys: qkv.weight [3D, D], proj.*
    private readonly RmsNorm q_norm, k_norm;    // keys: q_norm.weight, k_norm.weight [D]
    private readonly int heads;

    public VisionAttention(InternVideo2VisionConfig cfg) : base(nameof(VisionAttention))
    {
        heads = cfg.num_heads;
        qkv = nn.Linear(cfg.embed_dim, 3L * cfg.embed_dim, hasBias: false);
        proj = nn.Linear(cfg.embed_dim, cfg.embed_dim);
        q_norm = new RmsNorm(cfg.embed_dim, cfg.norm_eps);
        k_norm = new RmsNorm(cfg.embed_dim, cfg.norm_eps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)   // x: [B, N, D]
    {
        using var scope = torch.NewDisposeScope();
        var (b, n, d) = (x.shape[0], x.shape[1], x.shape[2]);
        long hd = d / heads;
        var parts = qkv.forward(x).reshape(b, n, 3, d);                                  // [B, N, 3, D] ("b s (three h d)")
        var q = q_norm.forward(parts.select(2, 0)).reshape(b, n, heads, hd).transpose(1, 2);  // [B, H, N, hd]
        var k = k_norm.forward(parts.select(2, 1)).reshape(b, n, heads, hd).transpose(1, 2);  // [B, H, N, hd]
        var v = parts.select(2, 2).reshape(b, n, heads, hd).transpose(1, 2);                   // [B, H, N, hd]
        var y = F.scaled_dot_product_attention(q, k, v);                                  // [B, H, N, hd], scale hd^-0.5
        y = y.transpose(1, 2).reshape(b, n, d);                                           // [B, N, D]
        return proj.forward(y).MoveToOuterDisposeScope();
    }
}

/// <summary>Block MLP: <c>fc1</c> → GELU → <c>fc2</c>. The reference runs flash-attn's FusedMLP, whose activation is the
/// tanh approximation ("gelu_approx"); the plain <c>Mlp</c> path (use_fused_mlp = false) uses exact GELU.</summary>
public sealed class VisionMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1, fc2;   // keys: fc1.*, fc2.*
    private readonly bool tanhGelu;

    public VisionMlp(InternVideo2VisionConfig cfg) : base(nameof(VisionMlp))
    {
        tanhGelu = cfg.use_fused_mlp;
        fc1 = nn.Linear(cfg.embed_dim, cfg.MlpHidden);
        fc2 = nn.Linear(cfg.MlpHidden, cfg.embed_dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = fc1.forward(x);
        h = tanhGelu ? GeluTanh(h) : F.gelu(h);
        return fc2.forward(h).MoveToOuterDisposeScope();
    }

    /// <summary>0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (torch gelu approximate="tanh").</summary>
    internal static Tensor GeluTanh(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var inner = (x + x.pow(3) * 0.044715) * Math.Sqrt(2.0 / Math.PI);
        return (x * 0.5 * (torch.tanh(inner) + 1.0)).MoveToOuterDisposeScope();
    }
}

/// <summary>Pre-norm InternVideo2 block: x += ls1(attn(norm1(x))); x += ls2(mlp(norm2(x))). The fused-RMSNorm path carries
/// the residual separately; the sums are the same. drop_path is off in eval.</summary>
public sealed class VisionBlock : nn.Module<Tensor, Tensor>
{
    private readonly RmsNorm norm1, norm2;      // keys: norm1.weight, norm2.weight
    private readonly VisionAttention attn;      // keys: attn.*
    private readonly LayerScale ls1, ls2;       // keys: ls1.gamma, ls2.gamma
    private readonly VisionMlp mlp;             // keys: mlp.fc1.*, mlp.fc2.*

    public VisionBlock(InternVideo2VisionConfig cfg) : base(nameof(VisionBlock))
    {
        norm1 = new RmsNorm(cfg.embed_dim, cfg.norm_eps);
        attn = new VisionAttention(cfg);
        ls1 = new LayerScale(cfg.embed_dim, cfg.init_values);
        norm2 = new RmsNorm(cfg.embed_dim, cfg.norm_eps);
        mlp = new VisionMlp(cfg);
        ls2 = new LayerScale(cfg.embed_dim, cfg.init_values);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)   // x: [B, N, D]
    {
        using var scope = torch.NewDisposeScope();
        var h = x + ls1.forward(attn.forward(norm1.forward(x)));
        h = h + ls2.forward(mlp.forward(norm2.forward(h)));
        return h.MoveToOuterDisposeScope();
    }
}
