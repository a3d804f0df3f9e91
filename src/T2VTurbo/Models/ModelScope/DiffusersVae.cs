using System.Text.Json.Nodes;
using T2VTurbo.IO;

namespace T2VTurbo.Models.ModelScope;

/// <summary>
/// The ModelScope (ali-vilab/text-to-video-ms-1.7b) VAE: a diffusers <c>AutoencoderKL</c>, which is lvdm's autoencoder
/// under other names (fixtures/vae_ms: same math, checked to float rounding). So it is built as our
/// <see cref="KlAutoencoder"/> from the diffusers <c>vae/config.json</c>, and its weights are read through
/// <see cref="DiffusersVaeSource"/>.
/// </summary>
public static class DiffusersVae
{
    /// <summary>The only block types whose math is lvdm's (no attention outside the mid block).</summary>
    private const string DownBlock = "DownEncoderBlock2D", UpBlock = "UpDecoderBlock2D";

    /// <summary>diffusers <c>AutoencoderKL</c> config.json → lvdm <see cref="AutoencoderConfig"/>:
    /// <c>ch = block_out_channels[0]</c>, <c>ch_mult = block_out_channels / ch</c>, <c>num_res_blocks = layers_per_block</c>,
    /// <c>z_channels = embed_dim = latent_channels</c>, <c>scale_factor = scaling_factor</c>, GroupNorm eps 1e-6 (fixed in
    /// diffusers' Encoder/Decoder), no attention resolutions (only the mid block attends). Defaults are the MS values.</summary>
    public static AutoencoderConfig ConfigFromJson(JsonObject json)
    {
        string Bad(string what) => $"diffusers AutoencoderKL config: {what}";
        int[] blockOut = json["block_out_channels"] is JsonArray a ? a.Select(x => x!.GetValue<int>()).ToArray() : [128, 256, 512, 512];
        if (blockOut.Length == 0 || blockOut.Any(c => c <= 0)) throw new ArgumentException(Bad($"block_out_channels must be non-empty and positive, got [{string.Join(", ", blockOut)}]"));
        int ch = blockOut[0];
        if (blockOut.Any(c => c % ch != 0))
            throw new ArgumentException(Bad($"block_out_channels [{string.Join(", ", blockOut)}] are not multiples of the first (lvdm needs ch·ch_mult)"));
        CheckBlockTypes(json, "down_block_types", DownBlock, blockOut.Length);
        CheckBlockTypes(json, "up_block_types", UpBlock, blockOut.Length);
        var act = json["act_fn"]?.GetValue<string>() ?? "silu";
        if (act != "silu") throw new NotSupportedException(Bad($"act_fn \"{act}\" is not supported (lvdm's VAE uses silu)"));
        if (json["mid_block_add_attention"] is JsonNode midAttn && !midAttn.GetValue<bool>())
            throw new NotSupportedException(Bad("mid_block_add_attention = false is not supported (lvdm's mid block always attends)"));
        if (json["use_quant_conv"] is JsonNode q && !q.GetValue<bool>() || json["use_post_quant_conv"] is JsonNode pq && !pq.GetValue<bool>())
            throw new NotSupportedException(Bad("use_quant_conv / use_post_quant_conv = false is not supported"));
        int latent = json["latent_channels"]?.GetValue<int>() ?? 4;
        var d = new AutoencoderConfig();
        var c = new AutoencoderConfig
        {
            double_z = true,
            z_channels = latent,
            embed_dim = latent,
            resolution = json["sample_size"] is JsonArray s ? s[0]!.GetValue<int>() : json["sample_size"]?.GetValue<int>() ?? d.resolution,
            in_channels = json["in_channels"]?.GetValue<int>() ?? d.in_channels,
            out_ch = json["out_channels"]?.GetValue<int>() ?? d.out_ch,
            ch = ch,
            ch_mult = blockOut.Select(x => x / ch).ToArray(),
            num_res_blocks = json["layers_per_block"]?.GetValue<int>() ?? d.num_res_blocks,
            attn_resolutions = [],
            dropout = 0.0,
            scale_factor = json["scaling_factor"]?.GetValue<double>() ?? d.scale_factor,
            norm_num_groups = json["norm_num_groups"]?.GetValue<int>() ?? d.norm_num_groups,
            norm_eps = 1e-6,
        };
        c.Validate();
        return c;
    }

    /// <summary>Builds the autoencoder from a diffusers config.json and loads (strictly) the diffusers state dict
    /// <paramref name="weights"/> (keys under <paramref name="prefix"/>; either attention spelling). In eval mode.</summary>
    public static KlAutoencoder Load(JsonObject config, ICheckpointSource weights, string prefix = "")
    {
        var vae = new KlAutoencoder(ConfigFromJson(config));
        try
        {
            using var mapped = new DiffusersVaeSource(weights, vae.Config.NumResolutions, prefix);
            StateDictLoader.Load(vae, mapped, new LoadOptions { Strict = true });
        }
        catch
        {
            vae.Dispose();
            throw;
        }
        vae.eval();
        return vae;
    }

    /// <summary>The <paramref name="component"/> (default vae/) of a diffusers folder: its config.json and weights
    /// (<paramref name="variant"/> as in <see cref="DiffusersFolder.WeightsPath"/>), upcast to the module's float32.</summary>
    public static KlAutoencoder FromFolder(DiffusersFolder folder, string component = "vae", string? variant = null)
    {
        var config = folder.ReadConfig(component);
        using var weights = folder.OpenWeights(component, variant);
        return Load(config, weights);
    }

    private static void CheckBlockTypes(JsonObject json, string name, string expected, int levels)
    {
        if (json[name] is not JsonArray types) return;
        var list = types.Select(x => x!.GetValue<string>()).ToList();
        if (list.Count != levels)
            throw new ArgumentException($"diffusers AutoencoderKL config: {name} has {list.Count} entries but block_out_channels has {levels}");
        var other = list.FirstOrDefault(t => t != expected);
        if (other is not null)
            throw new NotSupportedException($"diffusers AutoencoderKL config: {name} contains \"{other}\"; only {expected} (the lvdm VAE's blocks) is supported");
    }
}
