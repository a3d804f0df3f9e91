using T2VTurbo.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Text;

/// <summary>transformers <c>CLIPTextEmbeddings</c>: token_embedding(ids) + position_embedding(0..L−1).</summary>
public sealed class HfClipTextEmbeddings : nn.Module<Tensor, Tensor>
{
    private readonly Embedding token_embedding;      // key: token_embedding.weight [V, D]
    private readonly Embedding position_embedding;   // key: position_embedding.weight [P, D] (an Embedding, not open_clip's bare parameter)

    public HfClipTextEmbeddings(HfClipTextConfig cfg) : base(nameof(HfClipTextEmbeddings))
    {
        token_embedding = nn.Embedding(cfg.vocab_size, cfg.hidden_size);
        position_embedding = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size);
        RegisterComponents();
    }

    /// <summary>ids: [B, L] int64 → [B, L, D].</summary>
    public override Tensor forward(Tensor ids)
    {
        using var scope = torch.NewDisposeScope();
        var positions = position_embedding.weight!.narrow(0, 0, ids.shape[1]);   // [L, D] = position_embedding(arange(L))
        return (token_embedding.forward(ids) + positions).MoveToOuterDisposeScope();
    }
}

/// <summary>transformers <c>CLIPEncoder</c>: the numbered layers (keys: layers.N.*).</summary>
public sealed class HfClipEncoder : nn.Module
{
    private readonly ModuleList<HfClipEncoderLayer> layers;

    public HfClipEncoder(HfClipTextConfig cfg) : base(nameof(HfClipEncoder))
    {
        layers = new ModuleList<HfClipEncoderLayer>(Enumerable.Range(0, cfg.num_hidden_layers).Select(_ => new HfClipEncoderLayer(cfg)).ToArray());
        RegisterComponents();
    }

    public ModuleList<HfClipEncoderLayer> Layers => layers;
}

/// <summary>transformers <c>CLIPTextTransformer</c> (keys: embeddings.*, encoder.layers.N.*, final_layer_norm.*).</summary>
public sealed class HfClipTextTransformer : nn.Module
{
    private readonly HfClipTextEmbeddings embeddings;
    private readonly HfClipEncoder encoder;
    private readonly LayerNorm final_layer_norm;

    public HfClipTextTransformer(HfClipTextConfig cfg) : base(nameof(HfClipTextTransformer))
    {
        embeddings = new HfClipTextEmbeddings(cfg);
        encoder = new HfClipEncoder(cfg);
        final_layer_norm = nn.LayerNorm(new long[] { cfg.hidden_size }, cfg.layer_norm_eps);
        RegisterComponents();
    }

    public HfClipTextEmbeddings Embeddings => embeddings;
    public ModuleList<HfClipEncoderLayer> Layers => encoder.Layers;
    public LayerNorm FinalLayerNorm => final_layer_norm;
}

/// <summary>
/// transformers <c>CLIPTextModel</c>, the ModelScope text encoder: <c>text_encoder(input_ids)[0]</c> =
/// <c>last_hidden_state</c> [B, L, D] after <c>final_layer_norm</c>, all L rows (what the MS UNet receives), causal
/// mask only. Keys as in <c>text_encoder/pytorch_model.bin</c>: <c>text_model.*</c>; the checkpoint's
/// <c>text_model.embeddings.position_ids</c> buffer (arange, transformers ≤ 4.30) is accepted and ignored.
/// </summary>
public sealed class HfClipTextModel : nn.Module<Tensor, Tensor>
{
    /// <summary>Checkpoint keys that are known and not weights (loaded with <see cref="LoadOptions.IgnoreUnexpected"/>).</summary>
    public static readonly IReadOnlyCollection<string> IgnoredCheckpointKeys = ["text_model.embeddings.position_ids"];

    private readonly HfClipTextTransformer text_model;   // keys: text_model.*

    public HfClipTextConfig Config { get; }

    public HfClipTextModel(HfClipTextConfig? config = null) : base(nameof(HfClipTextModel))
    {
        Config = config ?? new HfClipTextConfig();
        Config.Validate();
        text_model = new HfClipTextTransformer(Config);
        RegisterComponents();
    }

    public HfClipTextTransformer TextModel => text_model;

    /// <summary>Strict load of <c>text_model.*</c> (under <paramref name="prefix"/>), ignoring <see cref="IgnoredCheckpointKeys"/>.</summary>
    public HfClipTextModel LoadWeights(ICheckpointSource source, string prefix = "")
    {
        StateDictLoader.Load(this, source, new LoadOptions { Prefix = prefix, Strict = true, IgnoreUnexpected = IgnoredCheckpointKeys });
        return this;
    }

    /// <summary>The <paramref name="component"/> (default text_encoder/) of a diffusers folder: config.json and
    /// model.safetensors / pytorch_model.bin (<paramref name="variant"/> as in <see cref="DiffusersFolder.WeightsPath"/>).
    /// In eval mode.</summary>
    public static HfClipTextModel FromFolder(DiffusersFolder folder, string component = "text_encoder", string? variant = null)
    {
        var model = new HfClipTextModel(HfClipTextConfig.FromJson(folder.ReadConfig(component)));
        try
        {
            using var weights = folder.OpenWeights(component, variant);
            model.LoadWeights(weights);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        model.eval();
        return model;
    }

    /// <summary>Token + position embedding: ids [B, L] → [B, L, D].</summary>
    public Tensor Embed(Tensor ids)
    {
        CheckIds(ids);
        return text_model.Embeddings.forward(ids.to(ScalarType.Int64));
    }

    /// <summary>input_ids [B, L] (L ≤ max_position_embeddings) → last_hidden_state [B, L, hidden_size].</summary>
    public override Tensor forward(Tensor ids)
    {
        using var scope = torch.NewDisposeScope();
        var x = Embed(ids);                                          // [B, L, D]
        foreach (var layer in text_model.Layers) x = layer.forward(x);
        return text_model.FinalLayerNorm.forward(x).MoveToOuterDisposeScope();
    }

    /// <summary>transformers' <c>pooler_output</c> [B, D] (unused by the MS pipeline): the row of the largest id when
    /// config eos_token_id is 2 (legacy configs: EOS 49407 is the largest id), else of the first eos_token_id.</summary>
    public Tensor Pool(Tensor lastHidden, Tensor ids)
    {
        CheckIds(ids);
        using var scope = torch.NewDisposeScope();
        var id64 = ids.to(ScalarType.Int64);
        var rows = Config.eos_token_id == 2
            ? id64.argmax(-1)                                                         // [B]
            : id64.eq(Config.eos_token_id).to(ScalarType.Int32).argmax(-1);           // first match
        var batch = torch.arange(ids.shape[0], device: lastHidden.device);
        return lastHidden.index(new TensorIndex[] { TensorIndex.Tensor(batch), TensorIndex.Tensor(rows.to(lastHidden.device)) })
            .MoveToOuterDisposeScope();                                               // [B, D]
    }

    private void CheckIds(Tensor ids)
    {
        if (ids.dim() != 2 || ids.shape[1] < 1 || ids.shape[1] > Config.max_position_embeddings)
            throw new ArgumentException($"HfClipTextModel: input_ids must be [B, L] with 1 ≤ L ≤ {Config.max_position_embeddings}, got [{string.Join(", ", ids.shape)}]");
        if (ids.is_floating_point() || ids.is_complex() || ids.dtype == ScalarType.Bool)
            throw new ArgumentException($"HfClipTextModel: input_ids must be integer ids, got {ids.dtype}");
        if (ids.numel() == 0 || ids.device_type == DeviceType.META) return;
        long lo = ids.min().item<long>(), hi = ids.max().item<long>();
        if (lo < 0 || hi >= Config.vocab_size)
            throw new ArgumentException($"HfClipTextModel: input_ids must be in [0, {Config.vocab_size}), got range [{lo}, {hi}]");
    }
}
