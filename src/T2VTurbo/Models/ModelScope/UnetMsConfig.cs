using System.Text.Json.Nodes;

namespace T2VTurbo.Models.ModelScope;

/// <summary>Hyper-parameters of the ModelScope T2V 3-D UNet (the t2v-turbo repo's model_scope/unet_3d_condition.py
/// UNet3DConditionModel on diffusers 0.27.2 blocks, spec §1.6). Property names are the diffusers config.json names;
/// the defaults are the real <c>ali-vilab/text-to-video-ms-1.7b</c> unet/config.json, so <c>new UnetMsConfig()</c>
/// is the teacher and <see cref="Turbo"/> the T2V-Turbo (MS) student.</summary>
public sealed record UnetMsConfig
{
    /// <summary>Recorded only: the reference stores it but never reads it in the forward.</summary>
    public long? sample_size { get; init; } = 32;
    public long in_channels { get; init; } = 4;
    public long out_channels { get; init; } = 4;
    public string[] down_block_types { get; init; } = ["CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"];
    public string[] up_block_types { get; init; } = ["UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"];
    public long[] block_out_channels { get; init; } = [320, 640, 1280, 1280];
    public long layers_per_block { get; init; } = 2;
    /// <summary>Padding of the downsampling 3x3 stride-2 conv: 1 (symmetric), or 0 (pad right/bottom by one first).</summary>
    public long downsample_padding { get; init; } = 1;
    /// <summary>The mid block's resnets divide their output by this.</summary>
    public double mid_block_scale_factor { get; init; } = 1.0;
    public string act_fn { get; init; } = "silu";
    public long norm_num_groups { get; init; } = 32;
    public double norm_eps { get; init; } = 1e-5;
    /// <summary>T2V-Turbo guidance-scale (w) embedding width: null for the teacher, 256 for the student
    /// (adds time_embedding.cond_proj).</summary>
    public long? time_cond_proj_dim { get; init; } = null;
    public long cross_attention_dim { get; init; } = 1024;
    /// <summary>The attention head DIMENSION in this repo copy (heads = channels / attention_head_dim); transformer_in
    /// uses 8 heads of it.</summary>
    public long attention_head_dim { get; init; } = 64;

    public const string CrossAttnDownBlock3D = "CrossAttnDownBlock3D", DownBlock3D = "DownBlock3D";
    public const string CrossAttnUpBlock3D = "CrossAttnUpBlock3D", UpBlock3D = "UpBlock3D";

    /// <summary>The T2V-Turbo (MS) student: the teacher config with time_cond_proj_dim 256 (app_ms.py).</summary>
    public static UnetMsConfig Turbo => new() { time_cond_proj_dim = 256 };

    /// <summary>Reads a diffusers unet/config.json (or a fixture config.json with the same names). Missing names keep
    /// the real defaults; unknown names (_class_name, _diffusers_version, prefix, ...) are ignored.</summary>
    public static UnetMsConfig FromJson(JsonObject json)
    {
        var d = new UnetMsConfig();
        if (json[nameof(attention_head_dim)] is JsonArray)
            throw new NotSupportedException("UnetMsConfig.attention_head_dim: a per-block list cannot build in the reference either " +
                                            "(transformer_in multiplies it by 8 heads); give one number");
        return new UnetMsConfig
        {
            sample_size = json.ContainsKey(nameof(sample_size)) ? (json[nameof(sample_size)] is JsonValue s ? s.GetValue<long>() : null) : d.sample_size,
            in_channels = Long(json, nameof(in_channels), d.in_channels),
            out_channels = Long(json, nameof(out_channels), d.out_channels),
            down_block_types = Strings(json, nameof(down_block_types), d.down_block_types),
            up_block_types = Strings(json, nameof(up_block_types), d.up_block_types),
            block_out_channels = Longs(json, nameof(block_out_channels), d.block_out_channels),
            layers_per_block = Long(json, nameof(layers_per_block), d.layers_per_block),
            downsample_padding = Long(json, nameof(downsample_padding), d.downsample_padding),
            mid_block_scale_factor = Double(json, nameof(mid_block_scale_factor), d.mid_block_scale_factor),
            act_fn = json[nameof(act_fn)] is JsonValue a ? a.GetValue<string>() : d.act_fn,
            norm_num_groups = json.ContainsKey(nameof(norm_num_groups)) && json[nameof(norm_num_groups)] is null
                ? throw new NotSupportedException("UnetMsConfig.norm_num_groups = null: the reference's resnets cannot build without groups either")
                : Long(json, nameof(norm_num_groups), d.norm_num_groups),
            norm_eps = Double(json, nameof(norm_eps), d.norm_eps),
            time_cond_proj_dim = json.ContainsKey(nameof(time_cond_proj_dim))
                ? (json[nameof(time_cond_proj_dim)] is JsonValue t ? t.GetValue<long>() : null) : d.time_cond_proj_dim,
            cross_attention_dim = Long(json, nameof(cross_attention_dim), d.cross_attention_dim),
            attention_head_dim = Long(json, nameof(attention_head_dim), d.attention_head_dim),
        };
    }

    /// <summary>Throws for settings the reference cannot build or this port does not implement, naming the setting.</summary>
    public void Validate()
    {
        int n = block_out_channels.Length;
        if (n == 0 || block_out_channels.Any(c => c <= 0))
            throw new ArgumentException($"UnetMsConfig.block_out_channels must be non-empty and positive, got [{string.Join(",", block_out_channels)}]");
        if (down_block_types.Length != n || up_block_types.Length != n)
            throw new ArgumentException($"UnetMsConfig: {down_block_types.Length} down_block_types and {up_block_types.Length} up_block_types for {n} block_out_channels (must all be equal)");
        foreach (var t in down_block_types)
            if (t != CrossAttnDownBlock3D && t != DownBlock3D)
                throw new NotSupportedException($"UnetMsConfig.down_block_types: '{t}' is not {CrossAttnDownBlock3D} or {DownBlock3D}");
        foreach (var t in up_block_types)
            if (t != CrossAttnUpBlock3D && t != UpBlock3D)
                throw new NotSupportedException($"UnetMsConfig.up_block_types: '{t}' is not {CrossAttnUpBlock3D} or {UpBlock3D}");
        if (act_fn != "silu") throw new NotSupportedException($"UnetMsConfig.act_fn '{act_fn}': only silu (the ModelScope value) is implemented");
        if (layers_per_block < 1) throw new ArgumentException($"UnetMsConfig.layers_per_block must be >= 1, got {layers_per_block}");
        if (downsample_padding is not (0 or 1)) throw new NotSupportedException($"UnetMsConfig.downsample_padding {downsample_padding}: only 0 and 1 are implemented");
        if (norm_num_groups <= 0) throw new ArgumentException($"UnetMsConfig.norm_num_groups must be positive, got {norm_num_groups}");
        if (attention_head_dim <= 0) throw new ArgumentException($"UnetMsConfig.attention_head_dim must be positive, got {attention_head_dim}");
        foreach (var c in block_out_channels)
        {
            if (c % norm_num_groups != 0) throw new ArgumentException($"UnetMsConfig: {c} channels are not divisible by norm_num_groups {norm_num_groups}");
            // The temporal convs always use 32 groups (diffusers TemporalConvLayer's default, not passed by the repo).
            if (c % 32 != 0) throw new ArgumentException($"UnetMsConfig: {c} channels are not divisible by the temporal convs' 32 GroupNorm groups");
            if (c % attention_head_dim != 0) throw new ArgumentException($"UnetMsConfig: {c} channels are not divisible by attention_head_dim {attention_head_dim}");
        }
    }

    /// <summary>Width of the time embedding: 4 × block_out_channels[0].</summary>
    public long TimeEmbedDim => 4 * block_out_channels[0];

    private static long Long(JsonObject j, string name, long fallback) => j[name] is JsonValue v ? v.GetValue<long>() : fallback;
    private static double Double(JsonObject j, string name, double fallback) => j[name] is JsonValue v ? v.GetValue<double>() : fallback;
    private static long[] Longs(JsonObject j, string name, long[] fallback) =>
        j[name] is JsonArray a ? a.Select(x => x!.GetValue<long>()).ToArray() : fallback;
    private static string[] Strings(JsonObject j, string name, string[] fallback) =>
        j[name] is JsonArray a ? a.Select(x => x!.GetValue<string>()).ToArray() : fallback;
}
