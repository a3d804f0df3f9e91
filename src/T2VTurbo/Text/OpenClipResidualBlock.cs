using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Text;

/// <summary>torch <c>nn.MultiheadAttention</c> as open_clip uses it (self-attention; causal for text, unmasked for the
/// vision tower): one packed input projection <c>in_proj_weight</c> [3W, W] = [q; k; v] rows, <c>in_proj_bias</c> [3W],
/// then <c>out_proj</c>.</summary>
public sealed class OpenClipSelfAttention : nn.Module<Tensor, Tensor>
{
    private readonly Parameter in_proj_weight;   // key: in_proj_weight [3W, W]
    private readonly Parameter in_proj_bias;     // key: in_proj_bias [3W]
    private readonly Linear out_proj;            // keys: out_proj.weight, out_proj.bias
    private readonly int heads;
    private readonly bool causal;

    public OpenClipSelfAttention(int width, int heads, bool causal = true) : base(nameof(OpenClipSelfAttention))
    {
        this.heads = heads;
        this.causal = causal;
        in_proj_weight = new Parameter(torch.empty(3L * width, width));
        in_proj_bias = new Parameter(torch.zeros(3L * width));
        out_proj = nn.Linear(width, width);
        RegisterComponents();
        // nn.MultiheadAttention._reset_parameters (torch.empty alone would leave uninitialised memory in a fresh model).
        using var _ = torch.no_grad();
        nn.init.xavier_uniform_(in_proj_weight);
        out_proj.bias!.zero_();
    }

    /// <summary>x: [B, L, W] (batch-first), causal over L unless built with <c>causal: false</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var (b, l, w) = (x.shape[0], x.shape[1], x.shape[2]);
        long d = w / heads;
        var qkv = F.linear(x, in_proj_weight, in_proj_bias);                        // [B, L, 3W]
        var parts = qkv.reshape(b, l, 3, heads, d).permute(2, 0, 3, 1, 4);          // [3, B, H, L, d]
        // SDPA scales q·kᵀ by 1/sqrt(d) and applies the same causal mask as open_clip's additive -inf attn_mask.
        var y = F.scaled_dot_product_attention(parts[0], parts[1], parts[2], is_casual: causal); // [B, H, L, d]
        y = y.transpose(1, 2).reshape(b, l, w);                                      // [B, L, W]
        return out_proj.forward(y).MoveToOuterDisposeScope();
    }

    /// <summary>open_clip CLIP.init_parameters: attn weights N(0, W^-0.5), out_proj N(0, W^-0.5·(2·layers)^-0.5), biases 0.</summary>
    internal void ResetParameters(int layers)
    {
        using var _ = torch.no_grad();
        long w = in_proj_weight.shape[1];
        nn.init.normal_(in_proj_weight, 0, Math.Pow(w, -0.5));
        nn.init.zeros_(in_proj_bias);
        nn.init.normal_(out_proj.weight, 0, Math.Pow(w, -0.5) * Math.Pow(2.0 * layers, -0.5));
        nn.init.zeros_(out_proj.bias!);
    }
}

/// <summary>open_clip MLP: <c>c_fc</c> → exact (erf) GELU → <c>c_proj</c>; with <c>quickGelu: true</c> the OpenAI-CLIP
/// activation <c>x·σ(1.702·x)</c> (QuickGELU, used by ViCLIP's towers) instead.</summary>
public sealed class OpenClipMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear c_fc, c_proj;   // keys: c_fc.*, c_proj.*
    private readonly bool quickGelu;

    public OpenClipMlp(int width, int hidden, bool quickGelu = false) : base(nameof(OpenClipMlp))
    {
        this.quickGelu = quickGelu;
        c_fc = nn.Linear(width, hidden);
        c_proj = nn.Linear(hidden, width);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = c_fc.forward(x);
        h = quickGelu ? h * torch.sigmoid(1.702 * h) : F.gelu(h);
        return c_proj.forward(h).MoveToOuterDisposeScope();
    }

    internal void ResetParameters(int layers)
    {
        using var _ = torch.no_grad();
        long w = c_fc.weight.shape[1];
        nn.init.normal_(c_fc.weight, 0, Math.Pow(2.0 * w, -0.5));
        nn.init.normal_(c_proj.weight, 0, Math.Pow(w, -0.5) * Math.Pow(2.0 * layers, -0.5));
    }
}

/// <summary>open_clip ResidualAttentionBlock (pre-LN): x += attn(ln_1(x)); x += mlp(ln_2(x)). The text tower's blocks
/// are causal; the vision tower's (<see cref="OpenClipResidualBlock(int, int, int, int, double, bool, bool)"/> with
/// <c>causal: false</c>) attend to all tokens. ViCLIP's blocks use QuickGELU (<c>quickGelu: true</c>).</summary>
public sealed class OpenClipResidualBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm ln_1, ln_2;        // keys: ln_1.*, ln_2.*
    private readonly OpenClipSelfAttention attn;  // keys: attn.in_proj_weight, attn.in_proj_bias, attn.out_proj.*
    private readonly OpenClipMlp mlp;             // keys: mlp.c_fc.*, mlp.c_proj.*

    public OpenClipResidualBlock(OpenClipTextConfig cfg)
        : this(cfg.width, cfg.heads, cfg.MlpWidth, cfg.layers, cfg.layer_norm_eps, causal: true) { }

    /// <param name="layers">depth of the whole transformer (scales the initial out_proj/c_proj weights)</param>
    /// <param name="quickGelu">OpenAI-CLIP / ViCLIP activation x·σ(1.702·x) instead of the exact GELU</param>
    public OpenClipResidualBlock(int width, int heads, int mlpWidth, int layers, double layerNormEps, bool causal,
        bool quickGelu = false) : base(nameof(OpenClipResidualBlock))
    {
        ln_1 = nn.LayerNorm(new long[] { width }, layerNormEps);
        attn = new OpenClipSelfAttention(width, heads, causal);
        ln_2 = nn.LayerNorm(new long[] { width }, layerNormEps);
        mlp = new OpenClipMlp(width, mlpWidth, quickGelu);
        RegisterComponents();
        attn.ResetParameters(layers);
        mlp.ResetParameters(layers);
    }

    /// <summary>x: [B, L, W] → [B, L, W].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = x + attn.forward(ln_1.forward(x));
        h = h + mlp.forward(ln_2.forward(h));
        return h.MoveToOuterDisposeScope();
    }
}
