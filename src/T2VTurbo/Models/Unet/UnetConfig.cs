using System.Text.Json.Nodes;

namespace T2VTurbo.Models.Unet;

/// <summary>Hyper-parameters of the VideoCrafter2 3-D UNet (lvdm.modules.networks.openaimodel3d.UNetModel). Property
/// names are the reference's constructor parameter names; the defaults are the real VideoCrafter2 values
/// (configs/inference_t2v_512_v2.0.yaml), so <c>new UnetConfig()</c> is the teacher and <see cref="Turbo"/> the
/// T2V-Turbo v2 student.</summary>
public sealed record UnetConfig
{
    public long in_channels { get; init; } = 4;
    public long out_channels { get; init; } = 4;
    public long model_channels { get; init; } = 320;
    /// <summary>Downsampling factors (1, 2, 4, ...) at which a spatial + temporal transformer follows each ResBlock.</summary>
    public long[] attention_resolutions { get; init; } = [4, 2, 1];
    public long num_res_blocks { get; init; } = 2;
    public long[] channel_mult { get; init; } = [1, 2, 4, 4];
    /// <summary>-1: derive heads from <see cref="num_head_channels"/> (VC2: heads = channels / 64).</summary>
    public long num_heads { get; init; } = -1;
    public long num_head_channels { get; init; } = 64;
    public long transformer_depth { get; init; } = 1;
    public long temporal_transformer_depth { get; init; } = 1;
    public long context_dim { get; init; } = 1024;
    /// <summary>Spatial/temporal transformers project with Linear (true) instead of 1x1 convolutions.</summary>
    public bool use_linear { get; init; } = true;
    /// <summary>Gradient checkpointing in the reference; numerically neutral, not used by this port's forward.</summary>
    public bool use_checkpoint { get; init; } = true;
    public bool temporal_conv { get; init; } = true;
    public bool temporal_attention { get; init; } = true;
    public bool temporal_selfatt_only { get; init; } = true;
    public bool use_relative_position { get; init; } = false;
    public bool use_causal_attention { get; init; } = false;
    public long? temporal_length { get; init; } = 16;
    /// <summary>Extra temporal transformer <c>init_attn</c> right after the input convolution.</summary>
    public bool addition_attention { get; init; } = true;
    public bool fps_cond { get; init; } = true;
    /// <summary>T2V-Turbo guidance-scale (w) embedding width; null for the VC2 teacher, 256 for the student.</summary>
    public long? time_cond_proj_dim { get; init; } = null;
    /// <summary>T2V-Turbo v2 motion-guidance embedding width; null (teacher, v1 student) or 256 (v2 student).</summary>
    public long? motion_cond_proj_dim { get; init; } = null;
    public double dropout { get; init; } = 0.0;
    public long dims { get; init; } = 2;
    public bool conv_resample { get; init; } = true;
    public bool resblock_updown { get; init; } = false;
    public bool use_scale_shift_norm { get; init; } = false;
    public bool tempspatial_aware { get; init; } = false;
    public bool use_image_attention { get; init; } = false;
    /// <summary>The reference casts activations to fp16 when set; here the parameters' dtype decides (convert the
    /// module with <c>.to(dtype)</c>), so this flag is only recorded.</summary>
    public bool use_fp16 { get; init; } = false;

    /// <summary>The T2V-Turbo v2 student: VC2 plus the w and motion embeddings (time/motion_cond_proj_dim 256).</summary>
    public static UnetConfig Turbo => new() { time_cond_proj_dim = 256, motion_cond_proj_dim = 256 };

    /// <summary>Reads a fixture config.json or the yaml's <c>unet_config</c> (either its <c>params</c> object or the
    /// node holding <c>params</c>). Missing names keep the VC2 defaults; unknown names are ignored.</summary>
    public static UnetConfig FromJson(JsonObject json)
    {
        if (json["params"] is JsonObject p) json = p;
        var d = new UnetConfig();
        return new UnetConfig
        {
            in_channels = Long(json, nameof(in_channels), d.in_channels),
            out_channels = Long(json, nameof(out_channels), d.out_channels),
            model_channels = Long(json, nameof(model_channels), d.model_channels),
            attention_resolutions = Longs(json, nameof(attention_resolutions), d.attention_resolutions),
            num_res_blocks = Long(json, nameof(num_res_blocks), d.num_res_blocks),
            channel_mult = Longs(json, nameof(channel_mult), d.channel_mult),
            num_heads = Long(json, nameof(num_heads), d.num_heads),
            num_head_channels = Long(json, nameof(num_head_channels), d.num_head_channels),
            transformer_depth = Long(json, nameof(transformer_depth), d.transformer_depth),
            temporal_transformer_depth = Long(json, nameof(temporal_transformer_depth), d.temporal_transformer_depth),
            context_dim = Long(json, nameof(context_dim), d.context_dim),
            use_linear = Bool(json, nameof(use_linear), d.use_linear),
            use_checkpoint = Bool(json, nameof(use_checkpoint), d.use_checkpoint),
            temporal_conv = Bool(json, nameof(temporal_conv), d.temporal_conv),
            temporal_attention = Bool(json, nameof(temporal_attention), d.temporal_attention),
            temporal_selfatt_only = Bool(json, nameof(temporal_selfatt_only), d.temporal_selfatt_only),
            use_relative_position = Bool(json, nameof(use_relative_position), d.use_relative_position),
            use_causal_attention = Bool(json, nameof(use_causal_attention), d.use_causal_attention),
            temporal_length = OptionalLong(json, nameof(temporal_length), d.temporal_length),
            addition_attention = Bool(json, nameof(addition_attention), d.addition_attention),
            fps_cond = Bool(json, nameof(fps_cond), d.fps_cond),
            time_cond_proj_dim = OptionalLong(json, nameof(time_cond_proj_dim), d.time_cond_proj_dim),
            motion_cond_proj_dim = OptionalLong(json, nameof(motion_cond_proj_dim), d.motion_cond_proj_dim),
            dropout = json[nameof(dropout)] is JsonValue v ? v.GetValue<double>() : d.dropout,
            dims = Long(json, nameof(dims), d.dims),
            conv_resample = Bool(json, nameof(conv_resample), d.conv_resample),
            resblock_updown = Bool(json, nameof(resblock_updown), d.resblock_updown),
            use_scale_shift_norm = Bool(json, nameof(use_scale_shift_norm), d.use_scale_shift_norm),
            tempspatial_aware = Bool(json, nameof(tempspatial_aware), d.tempspatial_aware),
            use_image_attention = Bool(json, nameof(use_image_attention), d.use_image_attention),
            use_fp16 = Bool(json, nameof(use_fp16), d.use_fp16),
        };
    }

    /// <summary>Throws for switches VideoCrafter2 never uses and this port does not implement, and for sizes that
    /// cannot build (GroupNorm(32) needs channels divisible by 32, heads must divide channels).</summary>
    public void Validate()
    {
        void Unsupported(bool on, string name)
        {
            if (on) throw new NotSupportedException($"UnetConfig.{name}: this setting is not used by VideoCrafter2 / T2V-Turbo and is not implemented");
        }
        Unsupported(dims != 2, $"{nameof(dims)}={dims}");
        Unsupported(!conv_resample, nameof(conv_resample) + "=false");
        Unsupported(resblock_updown, nameof(resblock_updown));
        Unsupported(use_scale_shift_norm, nameof(use_scale_shift_norm));
        Unsupported(tempspatial_aware, nameof(tempspatial_aware));
        Unsupported(use_image_attention, nameof(use_image_attention));
        Unsupported(use_relative_position, nameof(use_relative_position));
        Unsupported(use_causal_attention, nameof(use_causal_attention));
        Unsupported(!temporal_selfatt_only, nameof(temporal_selfatt_only) + "=false (temporal cross-attention)");
        if (channel_mult.Length == 0 || channel_mult.Any(m => m <= 0))
            throw new ArgumentException($"UnetConfig.channel_mult must be non-empty and positive, got [{string.Join(",", channel_mult)}]");
        if (num_res_blocks < 1) throw new ArgumentException($"UnetConfig.num_res_blocks must be >= 1, got {num_res_blocks}");
        if (num_heads == -1 && num_head_channels <= 0)
            throw new ArgumentException("UnetConfig: either num_heads or num_head_channels has to be set");
        if (addition_attention && num_head_channels <= 0)
            throw new ArgumentException("UnetConfig.addition_attention needs num_head_channels (init_attn uses 8 heads of num_head_channels)");
        if (motion_cond_proj_dim is not null && time_cond_proj_dim is null)
            throw new ArgumentException("UnetConfig.motion_cond_proj_dim needs time_cond_proj_dim (combine_proj mixes both)");
        foreach (var m in channel_mult)
        {
            long ch = m * model_channels;
            if (ch % 32 != 0) throw new ArgumentException($"UnetConfig: {ch} channels (model_channels {model_channels} x mult {m}) are not divisible by the 32 GroupNorm groups");
            if (num_head_channels > 0 && ch % num_head_channels != 0)
                throw new ArgumentException($"UnetConfig: {ch} channels are not divisible by num_head_channels {num_head_channels}");
        }
    }

    private static long Long(JsonObject j, string name, long fallback) => j[name] is JsonValue v ? v.GetValue<long>() : fallback;
    private static bool Bool(JsonObject j, string name, bool fallback) => j[name] is JsonValue v ? v.GetValue<bool>() : fallback;
    private static long? OptionalLong(JsonObject j, string name, long? fallback) =>
        j.ContainsKey(name) ? (j[name] is JsonValue v ? v.GetValue<long>() : null) : fallback;
    private static long[] Longs(JsonObject j, string name, long[] fallback) =>
        j[name] is JsonArray a ? a.Select(x => x!.GetValue<long>()).ToArray() : fallback;
}
