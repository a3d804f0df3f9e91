using System.Text.Json.Nodes;

namespace T2VTurbo.Text;

/// <summary>transformers <c>CLIPTextConfig</c> (config.json names). Defaults are ali-vilab/text-to-video-ms-1.7b's
/// <c>text_encoder/config.json</c>: the OpenCLIP ViT-H/14 text tower converted with its last block dropped (23 layers,
/// so <c>last_hidden_state</c> is VideoCrafter2's "penultimate" output), exact GELU.</summary>
public sealed record HfClipTextConfig
{
    public int vocab_size { get; init; } = 49408;
    public int hidden_size { get; init; } = 1024;
    public int intermediate_size { get; init; } = 4096;
    public int num_hidden_layers { get; init; } = 23;
    public int num_attention_heads { get; init; } = 16;
    public int max_position_embeddings { get; init; } = 77;
    /// <summary>"gelu" (exact erf), "quick_gelu" (x·σ(1.702x), OpenAI CLIP), "gelu_new" / "gelu_pytorch_tanh" (tanh form).</summary>
    public string hidden_act { get; init; } = "gelu";
    public double layer_norm_eps { get; init; } = 1e-5;
    /// <summary>Decides only the pooled row: 2 (the MS value) is transformers' legacy branch, which pools at the largest
    /// id (49407 = EOS); any other value pools at the first occurrence of that id. The forward never uses it.</summary>
    public long eos_token_id { get; init; } = 2;

    public int HeadDim => hidden_size / num_attention_heads;

    /// <summary>Reads a CLIPTextConfig config.json (flat), a CLIPConfig's <c>text_config</c>, or the text_ms fixture's
    /// <c>text_encoder_config</c>.</summary>
    public static HfClipTextConfig FromJson(JsonObject json)
    {
        var j = json["text_encoder_config"] as JsonObject ?? json["text_config"] as JsonObject ?? json;
        var d = new HfClipTextConfig();
        int Int(string name, int fallback) => j[name]?.GetValue<int>() ?? fallback;
        var c = new HfClipTextConfig
        {
            vocab_size = Int("vocab_size", d.vocab_size),
            hidden_size = Int("hidden_size", d.hidden_size),
            intermediate_size = Int("intermediate_size", d.intermediate_size),
            num_hidden_layers = Int("num_hidden_layers", d.num_hidden_layers),
            num_attention_heads = Int("num_attention_heads", d.num_attention_heads),
            max_position_embeddings = Int("max_position_embeddings", d.max_position_embeddings),
            hidden_act = j["hidden_act"]?.GetValue<string>() ?? d.hidden_act,
            layer_norm_eps = j["layer_norm_eps"]?.GetValue<double>() ?? d.layer_norm_eps,
            eos_token_id = j["eos_token_id"]?.GetValue<long>() ?? d.eos_token_id,
        };
        c.Validate();
        return c;
    }

    public void Validate()
    {
        if (hidden_size <= 0 || num_attention_heads <= 0 || hidden_size % num_attention_heads != 0)
            throw new ArgumentException($"HfClipTextConfig: hidden_size {hidden_size} must be a positive multiple of num_attention_heads {num_attention_heads}");
        if (vocab_size <= 0 || intermediate_size <= 0 || num_hidden_layers < 0 || max_position_embeddings <= 0 || layer_norm_eps <= 0)
            throw new ArgumentException($"HfClipTextConfig: sizes must be positive ({this})");
        if (hidden_act is not ("gelu" or "quick_gelu" or "gelu_new" or "gelu_pytorch_tanh"))
            throw new NotSupportedException($"HfClipTextConfig: hidden_act \"{hidden_act}\" is not supported (gelu, quick_gelu, gelu_new, gelu_pytorch_tanh)");
    }
}
