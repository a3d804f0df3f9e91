using System.Text.Json.Nodes;

namespace T2VTurbo.Models;

/// <summary>lvdm <c>AutoencoderKL</c> hyper-parameters (ddconfig names + <c>embed_dim</c>, <c>scale_factor</c>).
/// Defaults are VideoCrafter2's first stage (configs/inference_t2v_512_v2.0.yaml).</summary>
public sealed record AutoencoderConfig
{
    public bool double_z { get; init; } = true;
    public int z_channels { get; init; } = 4;
    /// <summary>Nominal input size; only decides which levels get attention (attn_resolutions).</summary>
    public int resolution { get; init; } = 512;
    public int in_channels { get; init; } = 3;
    public int out_ch { get; init; } = 3;
    public int ch { get; init; } = 128;
    public IReadOnlyList<int> ch_mult { get; init; } = new[] { 1, 2, 4, 4 };
    public int num_res_blocks { get; init; } = 2;
    public IReadOnlyList<int> attn_resolutions { get; init; } = Array.Empty<int>();
    public double dropout { get; init; } = 0.0;
    /// <summary>Channels of the latent after quant_conv (mean half); quant_conv maps 2·z_channels → 2·embed_dim.</summary>
    public int embed_dim { get; init; } = 4;
    /// <summary>UNet latents are scale_factor·z (scale_by_std = false: a constant, not a checkpoint key).</summary>
    public double scale_factor { get; init; } = 0.18215;
    /// <summary>lvdm Normalize: GroupNorm(32, C, eps 1e-6, affine).</summary>
    public int norm_num_groups { get; init; } = 32;
    public double norm_eps { get; init; } = 1e-6;

    public int NumResolutions => ch_mult.Count;
    /// <summary>Spatial down-sampling factor of the latent (2^(levels−1)).</summary>
    public int DownFactor => 1 << (NumResolutions - 1);

    /// <summary>Reads {ddconfig: {...}, embed_dim, scale_factor, groupnorm: {num_groups, eps}} or the same names flat.</summary>
    public static AutoencoderConfig FromJson(JsonObject json)
    {
        var dd = json["ddconfig"] as JsonObject ?? json;
        var d = new AutoencoderConfig();
        int[] Ints(string name, IReadOnlyList<int> fallback) =>
            dd[name] is JsonArray a ? a.Select(x => x!.GetValue<int>()).ToArray() : fallback.ToArray();
        var c = new AutoencoderConfig
        {
            double_z = dd["double_z"]?.GetValue<bool>() ?? d.double_z,
            z_channels = dd["z_channels"]?.GetValue<int>() ?? d.z_channels,
            resolution = dd["resolution"]?.GetValue<int>() ?? d.resolution,
            in_channels = dd["in_channels"]?.GetValue<int>() ?? d.in_channels,
            out_ch = dd["out_ch"]?.GetValue<int>() ?? d.out_ch,
            ch = dd["ch"]?.GetValue<int>() ?? d.ch,
            ch_mult = Ints("ch_mult", d.ch_mult),
            num_res_blocks = dd["num_res_blocks"]?.GetValue<int>() ?? d.num_res_blocks,
            attn_resolutions = Ints("attn_resolutions", d.attn_resolutions),
            dropout = dd["dropout"]?.GetValue<double>() ?? d.dropout,
            embed_dim = json["embed_dim"]?.GetValue<int>() ?? d.embed_dim,
            scale_factor = json["scale_factor"]?.GetValue<double>() ?? d.scale_factor,
            norm_num_groups = json["groupnorm"]?["num_groups"]?.GetValue<int>() ?? d.norm_num_groups,
            norm_eps = json["groupnorm"]?["eps"]?.GetValue<double>() ?? d.norm_eps,
        };
        c.Validate();
        return c;
    }

    public void Validate()
    {
        string Bad(string what) => $"AutoencoderConfig: {what} (config {this})";
        if (ch_mult.Count == 0 || ch_mult.Any(m => m <= 0)) throw new ArgumentException(Bad("ch_mult must be non-empty and positive"));
        if (ch <= 0 || z_channels <= 0 || embed_dim <= 0 || in_channels <= 0 || out_ch <= 0 || num_res_blocks < 0)
            throw new ArgumentException(Bad("channel counts must be positive"));
        foreach (var c in ch_mult.Select(m => m * ch).Prepend(ch))
            if (c % norm_num_groups != 0) throw new ArgumentException(Bad($"{c} channels are not divisible into {norm_num_groups} groups"));
        if (scale_factor <= 0) throw new ArgumentException(Bad("scale_factor must be positive"));
    }

    public override string ToString() =>
        $"ch {ch}, ch_mult [{string.Join(",", ch_mult)}], num_res_blocks {num_res_blocks}, attn_resolutions [{string.Join(",", attn_resolutions)}], " +
        $"z_channels {z_channels}, double_z {double_z}, embed_dim {embed_dim}, in {in_channels}, out {out_ch}, resolution {resolution}";
}
