using System.Text.Json.Nodes;

namespace T2VTurbo.Text;

/// <summary>The OpenCLIP text tower used by VideoCrafter2's <c>FrozenOpenCLIPEmbedder</c> (open_clip CLIPTextCfg names).
/// Defaults are the real ViT-H-14 text tower with layer "penultimate".</summary>
public sealed record OpenClipTextConfig
{
    public int context_length { get; init; } = 77;
    public int vocab_size { get; init; } = 49408;
    public int width { get; init; } = 1024;
    public int heads { get; init; } = 16;
    public int layers { get; init; } = 24;
    public double mlp_ratio { get; init; } = 4.0;
    /// <summary>Output size of <c>text_projection</c> [width, embed_dim] (a checkpoint key, unused by the "penultimate" output).</summary>
    public int embed_dim { get; init; } = 1024;
    /// <summary>"last" (all blocks) or "penultimate" (all blocks but the last); ln_final is applied in both cases.</summary>
    public string layer { get; init; } = "penultimate";
    public double layer_norm_eps { get; init; } = 1e-5;

    public int MlpWidth => (int)(width * mlp_ratio);

    /// <summary>Blocks skipped at the end (FrozenOpenCLIPEmbedder.layer_idx): 0 for "last", 1 for "penultimate".</summary>
    public int LayerIdx => layer switch
    {
        "last" => 0,
        "penultimate" => 1,
        _ => throw new ArgumentException($"OpenClipTextConfig.layer must be \"last\" or \"penultimate\", got \"{layer}\""),
    };

    /// <summary>Reads the fixture / reference names; <c>embed_dim</c> may also sit in <c>open_clip_model_cfg</c>.</summary>
    public static OpenClipTextConfig FromJson(JsonObject json)
    {
        var d = new OpenClipTextConfig();
        var text = json["open_clip_model_cfg"]?["text_cfg"] as JsonObject;
        int Int(string name, int fallback) => json[name]?.GetValue<int>() ?? text?[name]?.GetValue<int>() ?? fallback;
        var c = new OpenClipTextConfig
        {
            context_length = Int("context_length", d.context_length),
            vocab_size = Int("vocab_size", d.vocab_size),
            width = Int("width", d.width),
            heads = Int("heads", d.heads),
            layers = Int("layers", d.layers),
            mlp_ratio = json["mlp_ratio"]?.GetValue<double>() ?? text?["mlp_ratio"]?.GetValue<double>() ?? d.mlp_ratio,
            embed_dim = json["embed_dim"]?.GetValue<int>() ?? json["open_clip_model_cfg"]?["embed_dim"]?.GetValue<int>() ?? d.embed_dim,
            layer = json["layer"]?.GetValue<string>() ?? d.layer,
            layer_norm_eps = json["layer_norm_eps"]?.GetValue<double>() ?? d.layer_norm_eps,
        };
        c.Validate();
        return c;
    }

    public void Validate()
    {
        if (width <= 0 || heads <= 0 || width % heads != 0)
            throw new ArgumentException($"OpenClipTextConfig: width {width} must be a positive multiple of heads {heads}");
        if (layers < 1 + LayerIdx)
            throw new ArgumentException($"OpenClipTextConfig: layer \"{layer}\" needs at least {1 + LayerIdx} layers, got {layers}");
        if (context_length <= 0 || vocab_size <= 0 || embed_dim <= 0 || mlp_ratio <= 0)
            throw new ArgumentException($"OpenClipTextConfig: sizes must be positive ({this})");
    }
}
