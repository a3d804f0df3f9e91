using System.Text.Json.Nodes;
using T2VTurbo.Text;

namespace T2VTurbo.Rewards;

/// <summary>open_clip <c>CLIPVisionCfg</c> (names as in open_clip's model_configs/*.json). Defaults: the ViT-H-14 tower
/// of HPSv2.1 and of laion2B-s32B-b79K.</summary>
public sealed record OpenClipVisionConfig
{
    public int image_size { get; init; } = 224;
    public int patch_size { get; init; } = 14;
    public int width { get; init; } = 1280;
    public int layers { get; init; } = 32;
    /// <summary>Channels per attention head; heads = width / head_width (ViT-H-14: 1280 / 80 = 16).</summary>
    public int head_width { get; init; } = 80;
    public double mlp_ratio { get; init; } = 4.0;
    /// <summary>Output size of <c>proj</c> [width, embed_dim] (the CLIP model's embed_dim).</summary>
    public int embed_dim { get; init; } = 1024;
    public double layer_norm_eps { get; init; } = 1e-5;

    public int Heads => width / head_width;
    public int MlpWidth => (int)(width * mlp_ratio);
    /// <summary>Patches per side: open_clip's <c>image_size // patch_size</c> (the conv drops any remainder).</summary>
    public int GridSize => image_size / patch_size;
    /// <summary>Tokens per image: class token + grid².</summary>
    public int Tokens => GridSize * GridSize + 1;

    public static OpenClipVisionConfig FromJson(JsonObject visionCfg, int embedDim)
    {
        var d = new OpenClipVisionConfig();
        int Int(string name, int fallback) => visionCfg[name]?.GetValue<int>() ?? fallback;
        var c = new OpenClipVisionConfig
        {
            image_size = Int("image_size", d.image_size),
            patch_size = Int("patch_size", d.patch_size),
            width = Int("width", d.width),
            layers = Int("layers", d.layers),
            head_width = Int("head_width", d.head_width),
            mlp_ratio = visionCfg["mlp_ratio"]?.GetValue<double>() ?? d.mlp_ratio,
            embed_dim = embedDim,
            layer_norm_eps = visionCfg["layer_norm_eps"]?.GetValue<double>() ?? d.layer_norm_eps,
        };
        c.Validate();
        return c;
    }

    public void Validate()
    {
        if (width <= 0 || head_width <= 0 || width % head_width != 0)
            throw new ArgumentException($"OpenClipVisionConfig: width {width} must be a positive multiple of head_width {head_width}");
        if (patch_size <= 0 || image_size < patch_size)
            throw new ArgumentException($"OpenClipVisionConfig: image_size {image_size} must be at least patch_size {patch_size} > 0");
        if (layers <= 0 || embed_dim <= 0 || mlp_ratio <= 0 || layer_norm_eps <= 0)
            throw new ArgumentException($"OpenClipVisionConfig: sizes must be positive ({this})");
    }
}

/// <summary>open_clip <c>CLIP</c> model config (<c>{embed_dim, vision_cfg, text_cfg}</c>, as in open_clip's
/// model_configs/ViT-H-14.json and the fixture's <c>tiny_model_cfg</c>). The text tower is used in full ("last" layer,
/// EOT pooling, <c>text_projection</c>). Defaults: ViT-H-14 (HPSv2.1, laion2B-s32B-b79K).</summary>
public sealed record OpenClipModelConfig
{
    public int embed_dim { get; init; } = 1024;
    public OpenClipVisionConfig vision_cfg { get; init; } = new();
    public OpenClipTextConfig text_cfg { get; init; } = new() { layer = "last" };

    public static OpenClipModelConfig FromJson(JsonObject json)
    {
        int embed = json["embed_dim"]?.GetValue<int>() ?? throw new ArgumentException("OpenClipModelConfig: \"embed_dim\" is missing");
        var vision = json["vision_cfg"] as JsonObject ?? throw new ArgumentException("OpenClipModelConfig: \"vision_cfg\" is missing");
        var text = json["text_cfg"] as JsonObject ?? throw new ArgumentException("OpenClipModelConfig: \"text_cfg\" is missing");
        if (json["quick_gelu"]?.GetValue<bool>() == true)
            throw new NotSupportedException("OpenClipModelConfig: quick_gelu models are not supported (ViT-H-14 uses exact GELU)");
        var c = new OpenClipModelConfig
        {
            embed_dim = embed,
            vision_cfg = OpenClipVisionConfig.FromJson(vision, embed),
            // OpenClipTextConfig reads the text_cfg names; "embed_dim" and "layer" are the CLIP model's, not text_cfg's.
            text_cfg = OpenClipTextConfig.FromJson(text) with { embed_dim = embed, layer = "last" },
        };
        c.Validate();
        return c;
    }

    public void Validate()
    {
        vision_cfg.Validate();
        text_cfg.Validate();
        if (vision_cfg.embed_dim != embed_dim || text_cfg.embed_dim != embed_dim)
            throw new ArgumentException($"OpenClipModelConfig: embed_dim {embed_dim} differs from vision_cfg.embed_dim {vision_cfg.embed_dim} or text_cfg.embed_dim {text_cfg.embed_dim}");
        if (text_cfg.layer != "last")
            throw new ArgumentException($"OpenClipModelConfig: the CLIP text tower runs all layers (layer \"last\"), got \"{text_cfg.layer}\"");
    }
}
