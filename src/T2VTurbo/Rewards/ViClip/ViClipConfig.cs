using System.Text.Json.Nodes;

namespace T2VTurbo.Rewards.ViClip;

/// <summary>ViCLIP <c>VisionTransformer</c> (viclip/viclip_vision.py) arguments. Defaults are ViCLIP-L/14
/// (<c>clip_joint_l14</c>, ViClip-InternVid-10M-FLT).</summary>
public sealed record ViClipVisionConfig
{
    public int input_resolution { get; init; } = 224;
    public int patch_size { get; init; } = 14;
    public int width { get; init; } = 1024;
    public int layers { get; init; } = 24;
    public int heads { get; init; } = 16;
    public int output_dim { get; init; } = 768;
    /// <summary>Temporal size and stride of <c>conv1</c> (1: every frame is its own tubelet).</summary>
    public int kernel_size { get; init; } = 1;
    /// <summary>Frames the temporal positional embedding covers: the clip length the encoder accepts (or 1).</summary>
    public int num_frames { get; init; } = 8;
    /// <summary>Stochastic depth of the blocks; inactive in eval, so it never changes a score here.</summary>
    public double drop_path { get; init; } = 0.1;
    /// <summary>Whether the model has <c>temporal_positional_embedding</c> (true for every released ViCLIP).</summary>
    public bool temp_embed { get; init; } = true;
    public double layer_norm_eps { get; init; } = 1e-5;

    public int Grid => input_resolution / patch_size;
    /// <summary>Spatial positions incl. the class token: rows of <c>positional_embedding</c>.</summary>
    public int SpatialTokens => Grid * Grid + 1;

    public static ViClipVisionConfig FromJson(JsonObject json)
    {
        var d = new ViClipVisionConfig();
        int Int(string name, int fallback) => json[name]?.GetValue<int>() ?? fallback;
        var c = new ViClipVisionConfig
        {
            input_resolution = Int("input_resolution", d.input_resolution),
            patch_size = Int("patch_size", d.patch_size),
            width = Int("width", d.width),
            layers = Int("layers", d.layers),
            heads = Int("heads", d.heads),
            output_dim = Int("output_dim", d.output_dim),
            kernel_size = Int("kernel_size", d.kernel_size),
            num_frames = Int("num_frames", d.num_frames),
            drop_path = json["drop_path"]?.GetValue<double>() ?? d.drop_path,
            temp_embed = json["temp_embed"]?.GetValue<bool>() ?? d.temp_embed,
            layer_norm_eps = json["layer_norm_eps"]?.GetValue<double>() ?? d.layer_norm_eps,
        };
        c.Validate();
        return c;
    }

    public void Validate()
    {
        if (width <= 0 || heads <= 0 || width % heads != 0)
            throw new ArgumentException($"ViClipVisionConfig: width {width} must be a positive multiple of heads {heads}");
        if (patch_size <= 0 || input_resolution <= 0 || input_resolution % patch_size != 0)
            throw new ArgumentException($"ViClipVisionConfig: input_resolution {input_resolution} must be a positive multiple of patch_size {patch_size}");
        if (layers <= 0 || output_dim <= 0 || kernel_size <= 0 || num_frames <= 0)
            throw new ArgumentException($"ViClipVisionConfig: sizes must be positive ({this})");
    }
}

/// <summary>ViCLIP <c>CLIP_TEXT</c> (viclip/viclip_text.py) arguments. Defaults are ViCLIP-L/14's text tower
/// (<c>clip_text_l14</c> with <c>context_length = max_txt_l = 32</c>).</summary>
public sealed record ViClipTextConfig
{
    public int embed_dim { get; init; } = 768;
    /// <summary>Token ids per caption (the tokenizer's length and the rows of <c>positional_embedding</c>).</summary>
    public int context_length { get; init; } = 32;
    public int vocab_size { get; init; } = 49408;
    public int transformer_width { get; init; } = 768;
    public int transformer_heads { get; init; } = 12;
    public int transformer_layers { get; init; } = 12;
    public double layer_norm_eps { get; init; } = 1e-5;

    /// <summary>Reads the <c>CLIP_TEXT</c> names, or the checkpoint-config names <c>width/heads/layers</c>.</summary>
    public static ViClipTextConfig FromJson(JsonObject json)
    {
        var d = new ViClipTextConfig();
        int Int(string name, string alias, int fallback) => json[name]?.GetValue<int>() ?? json[alias]?.GetValue<int>() ?? fallback;
        var c = new ViClipTextConfig
        {
            embed_dim = Int("embed_dim", "embed_dim", d.embed_dim),
            context_length = Int("context_length", "context_length", d.context_length),
            vocab_size = Int("vocab_size", "vocab_size", d.vocab_size),
            transformer_width = Int("transformer_width", "width", d.transformer_width),
            transformer_heads = Int("transformer_heads", "heads", d.transformer_heads),
            transformer_layers = Int("transformer_layers", "layers", d.transformer_layers),
            layer_norm_eps = json["layer_norm_eps"]?.GetValue<double>() ?? d.layer_norm_eps,
        };
        c.Validate();
        return c;
    }

    public void Validate()
    {
        if (transformer_width <= 0 || transformer_heads <= 0 || transformer_width % transformer_heads != 0)
            throw new ArgumentException($"ViClipTextConfig: transformer_width {transformer_width} must be a positive multiple of transformer_heads {transformer_heads}");
        if (context_length < 2 || vocab_size <= 0 || embed_dim <= 0 || transformer_layers <= 0)
            throw new ArgumentException($"ViClipTextConfig: sizes must be positive, context_length at least 2 ({this})");
    }
}

/// <summary>The whole <c>ViCLIP</c> (viclip/viclip.py): vision tower, text tower, and the unused <c>temp</c>.</summary>
public sealed record ViClipConfig
{
    public ViClipVisionConfig vision { get; init; } = new();
    public ViClipTextConfig text { get; init; } = new();

    /// <summary>Reads <c>{vision: {...}, text: {...}}</c> (the reference key list's config) or the fixture's
    /// <c>{tiny_vision: {...}, tiny_text: {...}}</c>.</summary>
    public static ViClipConfig FromJson(JsonObject json)
    {
        var root = json["config"] as JsonObject ?? json;
        var vision = root["vision"] as JsonObject ?? root["tiny_vision"] as JsonObject
            ?? throw new ArgumentException("ViClipConfig: the JSON has neither a \"vision\" nor a \"tiny_vision\" object");
        var text = root["text"] as JsonObject ?? root["tiny_text"] as JsonObject
            ?? throw new ArgumentException("ViClipConfig: the JSON has neither a \"text\" nor a \"tiny_text\" object");
        return new ViClipConfig { vision = ViClipVisionConfig.FromJson(vision), text = ViClipTextConfig.FromJson(text) };
    }
}
