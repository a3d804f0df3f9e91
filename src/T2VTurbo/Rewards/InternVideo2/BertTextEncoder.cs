using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Rewards.InternVideo2;

/// <summary>xbert <c>BertEncoder</c>: the numbered layers (keys: layer.{i}.*).</summary>
public sealed class BertEncoder : nn.Module
{
    private readonly ModuleList<BertLayer> layer;

    public BertEncoder(InternVideo2TextConfig cfg) : base(nameof(BertEncoder))
    {
        layer = new ModuleList<BertLayer>(Enumerable.Range(0, cfg.num_hidden_layers).Select(i => new BertLayer(cfg, i)).ToArray());
        RegisterComponents();
    }

    public ModuleList<BertLayer> Layers => layer;
}

/// <summary>xbert <c>BertModel</c> (add_pooling_layer = False) run in "text" mode as InternVideo2's <c>encode_text</c>
/// does: embeddings → layers 0 … fusion_layer − 1 with the additive (1 − mask)·(−10000) padding mask. Checkpoint
/// prefix "text_encoder.bert.".</summary>
public sealed class BertTextEncoder : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly BertEmbeddings embeddings;   // keys: embeddings.*
    private readonly BertEncoder encoder;         // keys: encoder.layer.{i}.*

    public InternVideo2TextConfig Config { get; }

    public BertTextEncoder(InternVideo2TextConfig? config = null) : base(nameof(BertTextEncoder))
    {
        Config = config ?? new InternVideo2TextConfig();
        Config.Validate();
        embeddings = new BertEmbeddings(Config);
        encoder = new BertEncoder(Config);
        RegisterComponents();
    }

    /// <summary>Embedding output [B, N, H] for input ids [B, N].</summary>
    public Tensor Embed(Tensor inputIds)
    {
        CheckIds(inputIds);
        return embeddings.forward(inputIds);
    }

    /// <summary>Last hidden state after the text-mode layers, [B, N, H]; <paramref name="layerOutputs"/> (when given)
    /// receives the state after every layer run.</summary>
    public Tensor Hidden(Tensor inputIds, Tensor attentionMask, IList<Tensor>? layerOutputs = null)
    {
        CheckIds(inputIds);
        if (!attentionMask.shape.SequenceEqual(inputIds.shape))
            throw new ArgumentException($"BertTextEncoder: attention mask [{string.Join(", ", attentionMask.shape)}] must match the ids [{string.Join(", ", inputIds.shape)}]");
        using var scope = torch.NewDisposeScope();
        var x = embeddings.forward(inputIds);
        // get_extended_attention_mask: [B, 1, 1, N], (1 − mask)·(−10000) in the model dtype.
        var additive = ((1.0 - attentionMask.to(x.dtype)) * -10000.0).unsqueeze(1).unsqueeze(1);
        for (int i = 0; i < Config.fusion_layer; i++)
        {
            x = encoder.Layers[i].forward(x, additive);
            if (layerOutputs != null) layerOutputs.Add(x.alias().MoveToOuterDisposeScope());
        }
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>The [CLS] row of the text-mode last hidden state, [B, H].</summary>
    public override Tensor forward(Tensor inputIds, Tensor attentionMask)
    {
        using var scope = torch.NewDisposeScope();
        return Hidden(inputIds, attentionMask).select(1, 0).MoveToOuterDisposeScope();
    }

    private void CheckIds(Tensor ids)
    {
        if (ids.dim() != 2 || ids.shape[1] > Config.max_position_embeddings)
            throw new ArgumentException($"BertTextEncoder: input ids must be [B, N ≤ {Config.max_position_embeddings}], got [{string.Join(", ", ids.shape)}]");
        if (ids.dtype != ScalarType.Int64)
            throw new ArgumentException($"BertTextEncoder: input ids must be int64, got {ids.dtype}");
        if (ids.numel() == 0 || ids.device_type == DeviceType.META) return;
        long lo = ids.min().item<long>(), hi = ids.max().item<long>();
        if (lo < 0 || hi >= Config.vocab_size)
            throw new ArgumentException($"BertTextEncoder: token ids must be in [0, {Config.vocab_size}), got range [{lo}, {hi}]");
    }
}
