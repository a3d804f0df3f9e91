using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Rewards.InternVideo2;

/// <summary>xbert <c>BertEmbeddings</c>: word + token_type (all 0) + absolute position embeddings → LayerNorm.
/// <c>position_ids</c> is the checkpoint's int64 buffer arange(max_position_embeddings).</summary>
public sealed class BertEmbeddings : nn.Module<Tensor, Tensor>
{
    private readonly Embedding word_embeddings, position_embeddings, token_type_embeddings;
    private readonly LayerNorm LayerNorm;   // key: LayerNorm.* (reference spelling)
    private readonly Tensor position_ids;   // key: position_ids [1, max_position_embeddings] int64 (buffer)

    public BertEmbeddings(InternVideo2TextConfig cfg) : base(nameof(BertEmbeddings))
    {
        word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx: cfg.pad_token_id);
        position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size);
        token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size);
        LayerNorm = nn.LayerNorm(new long[] { cfg.hidden_size }, cfg.layer_norm_eps);
        position_ids = torch.arange(cfg.max_position_embeddings, dtype: ScalarType.Int64).unsqueeze(0);
        RegisterComponents();
    }

    public override Tensor forward(Tensor inputIds)   // [B, N] int64 → [B, N, H]
    {
        using var scope = torch.NewDisposeScope();
        long n = inputIds.shape[1];
        var positions = position_ids.narrow(1, 0, n).to(inputIds.device);                       // [1, N]
        var tokenTypes = torch.zeros(inputIds.shape, ScalarType.Int64, inputIds.device);         // [B, N]
        var x = word_embeddings.forward(inputIds) + token_type_embeddings.forward(tokenTypes) + position_embeddings.forward(positions);
        return LayerNorm.forward(x).MoveToOuterDisposeScope();
    }
}

/// <summary>xbert <c>BertSelfAttention</c>: query/key/value Linear with bias (key/value from <c>encoder_width</c> for
/// cross-attention), softmax(q·kᵀ/√hd + additive mask)·v.</summary>
public sealed class BertSelfAttention : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Linear query, key, value;
    private readonly int heads;

    public BertSelfAttention(InternVideo2TextConfig cfg, bool isCrossAttention) : base(nameof(BertSelfAttention))
    {
        heads = cfg.num_attention_heads;
        long kvIn = isCrossAttention ? cfg.encoder_width : cfg.hidden_size;
        query = nn.Linear(cfg.hidden_size, cfg.hidden_size);
        key = nn.Linear(kvIn, cfg.hidden_size);
        value = nn.Linear(kvIn, cfg.hidden_size);
        RegisterComponents();
    }

    /// <summary>x: [B, N, H], additiveMask: [B, 1, 1, N] (0 kept, −10000 masked) → [B, N, H].</summary>
    public override Tensor forward(Tensor x, Tensor additiveMask)
    {
        using var scope = torch.NewDisposeScope();
        var (b, n, h) = (x.shape[0], x.shape[1], x.shape[2]);
        long hd = h / heads;
        Tensor Split(Tensor t) => t.reshape(b, n, heads, hd).transpose(1, 2);                   // [B, heads, N, hd]
        var q = Split(query.forward(x));
        var k = Split(key.forward(x));
        var v = Split(value.forward(x));
        var scores = torch.matmul(q, k.transpose(-1, -2)) / Math.Sqrt(hd) + additiveMask;       // [B, heads, N, N]
        var y = torch.matmul(scores.softmax(-1), v);                                            // [B, heads, N, hd]
        return y.transpose(1, 2).reshape(b, n, h).MoveToOuterDisposeScope();                    // [B, N, H]
    }
}

/// <summary>Post-LN residual output: LayerNorm(dense(x) + input) (<c>BertSelfOutput</c> / <c>BertOutput</c>).</summary>
public sealed class BertResidualOutput : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly LayerNorm LayerNorm;

    public BertResidualOutput(long inFeatures, InternVideo2TextConfig cfg) : base(nameof(BertResidualOutput))
    {
        dense = nn.Linear(inFeatures, cfg.hidden_size);
        LayerNorm = nn.LayerNorm(new long[] { cfg.hidden_size }, cfg.layer_norm_eps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        return LayerNorm.forward(dense.forward(x) + input).MoveToOuterDisposeScope();
    }
}

/// <summary><c>BertAttention</c>: <c>self</c> → <c>output</c> (dense + residual LayerNorm).</summary>
public sealed class BertAttention : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly BertSelfAttention self;    // keys: self.{query,key,value}.*
    private readonly BertResidualOutput output; // keys: output.{dense,LayerNorm}.*

    public BertAttention(InternVideo2TextConfig cfg, bool isCrossAttention) : base(nameof(BertAttention))
    {
        self = new BertSelfAttention(cfg, isCrossAttention);
        output = new BertResidualOutput(cfg.hidden_size, cfg);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor additiveMask)
    {
        using var scope = torch.NewDisposeScope();
        return output.forward(self.forward(x, additiveMask), x).MoveToOuterDisposeScope();
    }
}

/// <summary><c>BertIntermediate</c>: dense → exact (erf) GELU.</summary>
public sealed class BertIntermediate : nn.Module<Tensor, Tensor>
{
    private readonly Linear dense;

    public BertIntermediate(InternVideo2TextConfig cfg) : base(nameof(BertIntermediate))
    {
        dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return F.gelu(dense.forward(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>xbert <c>BertLayer</c>. Layers ≥ <c>fusion_layer</c> also hold <c>crossattention</c> (video → text); the
/// reward runs BERT in "text" mode, which stops before them, so only the self-attention path has a forward.</summary>
public sealed class BertLayer : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly BertAttention attention;
    private readonly BertAttention? crossattention;
    private readonly BertIntermediate intermediate;
    private readonly BertResidualOutput output;

    public bool HasCrossAttention => crossattention != null;

    public BertLayer(InternVideo2TextConfig cfg, int layerNum) : base(nameof(BertLayer))
    {
        attention = new BertAttention(cfg, isCrossAttention: false);
        crossattention = layerNum >= cfg.fusion_layer ? new BertAttention(cfg, isCrossAttention: true) : null;
        intermediate = new BertIntermediate(cfg);
        output = new BertResidualOutput(cfg.intermediate_size, cfg);
        RegisterComponents();
    }

    /// <summary>Text-mode layer: x [B, N, H], additive mask [B, 1, 1, N] → [B, N, H].</summary>
    public override Tensor forward(Tensor x, Tensor additiveMask)
    {
        if (HasCrossAttention)
            throw new InvalidOperationException("BertLayer: this layer is a fusion layer (cross-attention); text mode never runs it");
        using var scope = torch.NewDisposeScope();
        var a = attention.forward(x, additiveMask);
        return output.forward(intermediate.forward(a), a).MoveToOuterDisposeScope();
    }
}
