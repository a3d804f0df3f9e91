using System.Globalization;
using System.Text.Json.Nodes;

namespace T2VTurbo.Rewards.InternVideo2;

/// <summary>Vision tower of InternVideo2-Stage2-1B: <c>pretrain_internvideo2_1b_patch14_224</c> → <c>PretrainInternVideo2</c>
/// (reference parameter names). Defaults are the released 1B model as T2V-Turbo builds it (8 frames, v1).</summary>
public sealed record InternVideo2VisionConfig
{
    public int img_size { get; init; } = 224;
    public int patch_size { get; init; } = 14;
    public int tubelet_size { get; init; } = 1;
    public int in_chans { get; init; } = 3;
    public int embed_dim { get; init; } = 1408;
    public int depth { get; init; } = 40;
    public int num_heads { get; init; } = 16;
    public double mlp_ratio { get; init; } = 48.0 / 11.0;
    public double init_values { get; init; } = 1e-5;
    public int attn_pool_num_heads { get; init; } = 16;
    public int clip_embed_dim { get; init; } = 768;
    /// <summary>Frames the model is run with (8 in v1, 4 in v2).</summary>
    public int num_frames { get; init; } = 8;
    /// <summary>Frames of the checkpoint's <c>pos_embed</c> / <c>clip_pos_embed</c> (<c>orig_t_size</c> = 4).</summary>
    public int checkpoint_num_frames { get; init; } = 4;
    public int clip_teacher_embed_dim { get; init; } = 3200;
    public int clip_teacher_final_dim { get; init; } = 768;
    public int clip_return_layer { get; init; } = 6;
    /// <summary>flash-attn FusedMLP (the reference path): GELU tanh approximation; false = plain Mlp, exact GELU.</summary>
    public bool use_fused_mlp { get; init; } = true;
    /// <summary>RMSNorm eps of the blocks and of q_norm / k_norm.</summary>
    public double norm_eps { get; init; } = 1e-6;
    /// <summary>LayerNorm eps of the attention-pooling head and the CLIP decoders.</summary>
    public double pool_norm_eps { get; init; } = 1e-5;

    public int HeadDim => embed_dim / num_heads;
    /// <summary>Python <c>int(embed_dim * mlp_ratio)</c> (6144 for 1408·48/11).</summary>
    public int MlpHidden => (int)(embed_dim * mlp_ratio);
    public int GridSize => img_size / patch_size;
    /// <summary>Patches per frame, L = (img/patch)².</summary>
    public int PatchesPerFrame => GridSize * GridSize;

    public static InternVideo2VisionConfig FromJson(JsonObject json)
    {
        var d = new InternVideo2VisionConfig();
        int Int(string name, int fallback) => json[name]?.GetValue<int>() ?? fallback;
        var c = new InternVideo2VisionConfig
        {
            img_size = Int("img_size", d.img_size),
            patch_size = Int("patch_size", d.patch_size),
            tubelet_size = Int("tubelet_size", d.tubelet_size),
            in_chans = Int("in_chans", d.in_chans),
            embed_dim = Int("embed_dim", d.embed_dim),
            depth = Int("depth", d.depth),
            num_heads = Int("num_heads", d.num_heads),
            mlp_ratio = json["mlp_ratio"] is JsonNode r ? ParseRatio(r) : d.mlp_ratio,
            init_values = json["init_values (LayerScale)"]?.GetValue<double>() ?? json["init_values"]?.GetValue<double>() ?? d.init_values,
            attn_pool_num_heads = Int("attn_pool_num_heads", d.attn_pool_num_heads),
            clip_embed_dim = Int("clip_embed_dim", d.clip_embed_dim),
            num_frames = Int("num_frames", d.num_frames),
            checkpoint_num_frames = Int("checkpoint_num_frames", d.checkpoint_num_frames),
            clip_teacher_embed_dim = Int("clip_teacher_embed_dim", d.clip_teacher_embed_dim),
            clip_teacher_final_dim = Int("clip_teacher_final_dim", d.clip_teacher_final_dim),
            clip_return_layer = Int("clip_return_layer", d.clip_return_layer),
            use_fused_mlp = json["use_fused_mlp"]?.GetValue<bool>() ?? d.use_fused_mlp,
        };
        c.Validate();
        return c;
    }

    /// <summary>"48/11" (the reference writes the ratio as a fraction) or a plain number.</summary>
    private static double ParseRatio(JsonNode node)
    {
        if (node.GetValueKind() == System.Text.Json.JsonValueKind.Number) return node.GetValue<double>();
        var s = node.GetValue<string>();
        var parts = s.Split('/');
        if (parts.Length == 2) return double.Parse(parts[0], CultureInfo.InvariantCulture) / double.Parse(parts[1], CultureInfo.InvariantCulture);
        return double.Parse(s, CultureInfo.InvariantCulture);
    }

    public void Validate()
    {
        if (embed_dim <= 0 || num_heads <= 0 || embed_dim % num_heads != 0)
            throw new ArgumentException($"InternVideo2VisionConfig: embed_dim {embed_dim} must be a positive multiple of num_heads {num_heads}");
        if (attn_pool_num_heads <= 0 || embed_dim % attn_pool_num_heads != 0)
            throw new ArgumentException($"InternVideo2VisionConfig: embed_dim {embed_dim} must be a multiple of attn_pool_num_heads {attn_pool_num_heads}");
        if (patch_size <= 0 || img_size % patch_size != 0)
            throw new ArgumentException($"InternVideo2VisionConfig: img_size {img_size} must be a multiple of patch_size {patch_size}");
        if (tubelet_size != 1)
            throw new ArgumentException($"InternVideo2VisionConfig: only tubelet_size 1 is supported (the 1B model's), got {tubelet_size}");
        if (depth <= 0 || num_frames <= 0 || checkpoint_num_frames <= 0 || clip_embed_dim <= 0 || mlp_ratio <= 0)
            throw new ArgumentException($"InternVideo2VisionConfig: sizes must be positive ({this})");
        if (clip_return_layer < 0 || clip_return_layer > depth)
            throw new ArgumentException($"InternVideo2VisionConfig: clip_return_layer {clip_return_layer} must be in [0, depth {depth}]");
    }
}

/// <summary>The xbert BERT text tower (config_bert_large.json names). Defaults: bert-large-uncased with
/// <c>fusion_layer</c> 19 and cross-attention keys sized for the 1408-wide vision tower.</summary>
public sealed record InternVideo2TextConfig
{
    public int vocab_size { get; init; } = 30522;
    public int hidden_size { get; init; } = 1024;
    public int num_hidden_layers { get; init; } = 24;
    public int num_attention_heads { get; init; } = 16;
    public int intermediate_size { get; init; } = 4096;
    public int max_position_embeddings { get; init; } = 512;
    public int type_vocab_size { get; init; } = 2;
    public double layer_norm_eps { get; init; } = 1e-12;
    /// <summary>Layers ≥ fusion_layer carry cross-attention and are skipped in "text" mode.</summary>
    public int fusion_layer { get; init; } = 19;
    /// <summary>Input width of the cross-attention key/value (the vision tower's embed_dim).</summary>
    public int encoder_width { get; init; } = 1408;
    public int pad_token_id { get; init; } = 0;

    public int HeadDim => hidden_size / num_attention_heads;

    public static InternVideo2TextConfig FromJson(JsonObject json)
    {
        var d = new InternVideo2TextConfig();
        int Int(string name, int fallback) => json[name]?.GetValue<int>() ?? fallback;
        var c = new InternVideo2TextConfig
        {
            vocab_size = Int("vocab_size", d.vocab_size),
            hidden_size = Int("hidden_size", d.hidden_size),
            num_hidden_layers = Int("num_hidden_layers", d.num_hidden_layers),
            num_attention_heads = Int("num_attention_heads", d.num_attention_heads),
            intermediate_size = Int("intermediate_size", d.intermediate_size),
            max_position_embeddings = Int("max_position_embeddings", d.max_position_embeddings),
            type_vocab_size = Int("type_vocab_size", d.type_vocab_size),
            layer_norm_eps = json["layer_norm_eps"]?.GetValue<double>() ?? d.layer_norm_eps,
            fusion_layer = Int("fusion_layer", d.fusion_layer),
            encoder_width = Int("encoder_width", d.encoder_width),
            pad_token_id = Int("pad_token_id", d.pad_token_id),
        };
        if (json["hidden_act"]?.GetValue<string>() is string act && act != "gelu")
            throw new ArgumentException($"InternVideo2TextConfig: only hidden_act \"gelu\" is supported, got \"{act}\"");
        c.Validate();
        return c;
    }

    public void Validate()
    {
        if (hidden_size <= 0 || num_attention_heads <= 0 || hidden_size % num_attention_heads != 0)
            throw new ArgumentException($"InternVideo2TextConfig: hidden_size {hidden_size} must be a positive multiple of num_attention_heads {num_attention_heads}");
        if (fusion_layer < 1 || fusion_layer > num_hidden_layers)
            throw new ArgumentException($"InternVideo2TextConfig: fusion_layer {fusion_layer} must be in [1, num_hidden_layers {num_hidden_layers}]");
        if (vocab_size <= 0 || intermediate_size <= 0 || max_position_embeddings <= 0 || type_vocab_size <= 0 || encoder_width <= 0)
            throw new ArgumentException($"InternVideo2TextConfig: sizes must be positive ({this})");
    }
}

/// <summary><c>InternVideo2_Stage2</c> as T2V-Turbo's <c>vi_clip2</c> reward builds it: both towers, the two projections
/// to <c>embed_dim</c>, the text length and the preprocessing constants.</summary>
public sealed record InternVideo2Config
{
    public InternVideo2VisionConfig vision { get; init; } = new();
    public InternVideo2TextConfig text { get; init; } = new();
    public int embed_dim { get; init; } = 512;
    /// <summary>Tokenizer max_length (pad to max, truncate): [CLS] + at most max_txt_l − 1 word pieces.</summary>
    public int max_txt_l { get; init; } = 40;
    /// <summary>torchvision resize antialias: True from torchvision 0.17 (the unpinned install), False in ≤ 0.16.</summary>
    public bool antialias { get; init; } = true;
    public double[] normalize_mean { get; init; } = { 0.485, 0.456, 0.406 };
    public double[] normalize_std { get; init; } = { 0.229, 0.224, 0.225 };

    /// <summary>Reads a fixture config.json: <c>tiny_vision</c>, <c>tiny_text</c>, <c>embed_dim</c>, <c>preprocess</c>.</summary>
    public static InternVideo2Config FromJson(JsonObject json)
    {
        var d = new InternVideo2Config();
        var vision = (json["tiny_vision"] ?? json["vision"]) as JsonObject;
        var text = (json["tiny_text"] ?? json["text"]) as JsonObject;
        var pre = json["preprocess"] as JsonObject;
        double[]? Doubles(string name) => pre?[name]?.AsArray().Select(x => x!.GetValue<double>()).ToArray();
        var c = new InternVideo2Config
        {
            vision = vision is null ? d.vision : InternVideo2VisionConfig.FromJson(vision),
            text = text is null ? d.text : InternVideo2TextConfig.FromJson(text),
            embed_dim = json["embed_dim"]?.GetValue<int>() ?? d.embed_dim,
            max_txt_l = text?["max_txt_l"]?.GetValue<int>() ?? json["max_txt_l"]?.GetValue<int>() ?? d.max_txt_l,
            antialias = pre?["antialias"]?.GetValue<bool>() ?? d.antialias,
            normalize_mean = Doubles("normalize_mean") ?? d.normalize_mean,
            normalize_std = Doubles("normalize_std") ?? d.normalize_std,
        };
        c.Validate();
        return c;
    }

    public void Validate()
    {
        vision.Validate();
        text.Validate();
        if (embed_dim <= 0 || max_txt_l < 2 || max_txt_l > text.max_position_embeddings)
            throw new ArgumentException($"InternVideo2Config: embed_dim {embed_dim} must be positive and max_txt_l {max_txt_l} in [2, {text.max_position_embeddings}]");
        if (normalize_mean.Length != vision.in_chans || normalize_std.Length != vision.in_chans)
            throw new ArgumentException($"InternVideo2Config: normalize_mean/std need {vision.in_chans} entries");
    }
}
