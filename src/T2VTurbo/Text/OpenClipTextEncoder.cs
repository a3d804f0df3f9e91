using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Text;

/// <summary>open_clip <c>Transformer</c>: only the numbered residual blocks (key: resblocks.N.*).</summary>
public sealed class OpenClipTransformer : nn.Module
{
    private readonly ModuleList<OpenClipResidualBlock> resblocks;

    public OpenClipTransformer(OpenClipTextConfig cfg)
        : this(cfg.width, cfg.heads, cfg.MlpWidth, cfg.layers, cfg.layer_norm_eps, causal: true) { }

    /// <summary>A stack of <paramref name="layers"/> blocks; the vision tower uses <c>causal: false</c>.</summary>
    public OpenClipTransformer(int width, int heads, int mlpWidth, int layers, double layerNormEps, bool causal)
        : base(nameof(OpenClipTransformer))
    {
        resblocks = new ModuleList<OpenClipResidualBlock>(Enumerable.Range(0, layers)
            .Select(_ => new OpenClipResidualBlock(width, heads, mlpWidth, layers, layerNormEps, causal)).ToArray());
        RegisterComponents();
    }

    /// <summary>Runs every block in order: x [B, L, W] → [B, L, W].</summary>
    public Tensor Run(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        x = x.alias();   // the caller keeps its own handle even if there are no blocks
        foreach (var block in resblocks) x = block.forward(x);
        return x.MoveToOuterDisposeScope();
    }

    public ModuleList<OpenClipResidualBlock> Blocks => resblocks;
}

/// <summary>The text half of an open_clip <c>CLIP</c> (the visual tower is deleted by FrozenOpenCLIPEmbedder, so the
/// checkpoint holds only these keys). <c>text_projection</c> and <c>logit_scale</c> are checkpoint keys that the
/// VideoCrafter2 conditioning never uses.</summary>
public sealed class OpenClipTextModel : nn.Module
{
    private readonly Embedding token_embedding;           // key: token_embedding.weight [V, W]
    private readonly Parameter positional_embedding;      // key: positional_embedding [77, W] (bare parameter)
    private readonly OpenClipTransformer transformer;     // keys: transformer.resblocks.N.*
    private readonly LayerNorm ln_final;                  // keys: ln_final.*
    private readonly Parameter text_projection;           // key: text_projection [W, embed_dim]
    private readonly Parameter logit_scale;               // key: logit_scale [] (scalar)

    public OpenClipTextModel(OpenClipTextConfig cfg) : base(nameof(OpenClipTextModel))
    {
        token_embedding = nn.Embedding(cfg.vocab_size, cfg.width);
        positional_embedding = new Parameter(torch.empty(cfg.context_length, cfg.width));
        transformer = new OpenClipTransformer(cfg);
        ln_final = nn.LayerNorm(new long[] { cfg.width }, cfg.layer_norm_eps);
        text_projection = new Parameter(torch.empty(cfg.width, cfg.embed_dim));
        logit_scale = new Parameter(torch.empty(Array.Empty<long>()));
        RegisterComponents();

        // open_clip CLIP.init_parameters (the real weights always come from the checkpoint).
        using var _ = torch.no_grad();
        nn.init.normal_(token_embedding.weight!, 0, 0.02);
        nn.init.normal_(positional_embedding, 0, 0.01);
        nn.init.normal_(text_projection, 0, Math.Pow(cfg.width, -0.5));
        logit_scale.fill_(Math.Log(1 / 0.07));
    }

    public Embedding TokenEmbedding => token_embedding;
    public Parameter PositionalEmbedding => positional_embedding;
    public ModuleList<OpenClipResidualBlock> Blocks => transformer.Blocks;
    public LayerNorm LnFinal => ln_final;
}

/// <summary>VideoCrafter2's <c>FrozenOpenCLIPEmbedder</c> (lvdm/modules/encoders/condition.py) from token ids:
/// token + positional embedding → the first <c>layers − layer_idx</c> residual blocks (causal) → <c>ln_final</c>.
/// All 77 rows are returned (no pooling, no projection, no padding mask). Checkpoint prefix: "cond_stage_model.".</summary>
public sealed class OpenClipTextEncoder : nn.Module<Tensor, Tensor>
{
    private readonly OpenClipTextModel model;   // keys: model.*

    public OpenClipTextConfig Config { get; }

    public OpenClipTextEncoder(OpenClipTextConfig? config = null) : base(nameof(OpenClipTextEncoder))
    {
        Config = config ?? new OpenClipTextConfig();
        Config.Validate();
        model = new OpenClipTextModel(Config);
        RegisterComponents();
    }

    public OpenClipTextModel Model => model;

    /// <summary>Number of residual blocks actually run ("penultimate": all but the last).</summary>
    public int BlocksUsed => Config.layers - Config.LayerIdx;

    /// <summary>token_embedding(tokens) + positional_embedding: [B, 77] int64 → [B, 77, W].</summary>
    public Tensor Embed(Tensor tokens)
    {
        CheckTokens(tokens);
        using var scope = torch.NewDisposeScope();
        var x = model.TokenEmbedding.forward(tokens.to(ScalarType.Int64)) + model.PositionalEmbedding;  // [B, 77, W]
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>tokens: [B, context_length] int64 ids → context [B, context_length, width].</summary>
    public override Tensor forward(Tensor tokens)
    {
        using var scope = torch.NewDisposeScope();
        var x = Embed(tokens);
        var blocks = model.Blocks;
        for (int i = 0; i < BlocksUsed; i++) x = blocks[i].forward(x);
        return model.LnFinal.forward(x).MoveToOuterDisposeScope();
    }

    private void CheckTokens(Tensor tokens)
    {
        if (tokens.dim() != 2 || tokens.shape[1] != Config.context_length)
            throw new ArgumentException($"OpenClipTextEncoder: tokens must be [B, {Config.context_length}], got [{string.Join(", ", tokens.shape)}]");
        if (tokens.is_floating_point() || tokens.is_complex() || tokens.dtype == ScalarType.Bool)
            throw new ArgumentException($"OpenClipTextEncoder: tokens must be integer ids, got {tokens.dtype}");
        if (tokens.numel() == 0 || tokens.device_type == DeviceType.META) return;
        long lo = tokens.min().item<long>(), hi = tokens.max().item<long>();
        if (lo < 0 || hi >= Config.vocab_size)
            throw new ArgumentException($"OpenClipTextEncoder: token ids must be in [0, {Config.vocab_size}), got range [{lo}, {hi}]");
    }
}
