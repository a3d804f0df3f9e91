using System.Text.Json.Nodes;

namespace T2VTurbo.Schedulers;

/// <summary>DDPM schedule parameters of lvdm's <c>DDPM.register_schedule</c> / <c>LatentDiffusion.__init__</c>
/// (names as in configs/inference_t2v_512_v2.0.yaml; defaults are VideoCrafter2's values).</summary>
public sealed record NoiseScheduleConfig
{
    public int timesteps { get; init; } = 1000;
    /// <summary>lvdm's "linear" is sqrt-linear squared (diffusers' "scaled_linear"); "sqrt_linear" and "sqrt" as in lvdm.</summary>
    public string beta_schedule { get; init; } = "linear";
    public double linear_start { get; init; } = 0.00085;
    public double linear_end { get; init; } = 0.012;
    public double v_posterior { get; init; } = 0.0;
    /// <summary>VideoCrafter2's latent x0 scaling (only its own DDIM sampler and q_sample use it).</summary>
    public bool use_scale { get; init; } = true;
    public double scale_a { get; init; } = 1.0;
    public double scale_b { get; init; } = 0.7;
    public int mid_step { get; init; } = 400;
    /// <summary>false reproduces VideoCrafter2's scale_arr of length mid_step + timesteps (1400).</summary>
    public bool fix_scale_bug { get; init; } = false;

    public static NoiseScheduleConfig FromJson(JsonObject json)
    {
        var d = new NoiseScheduleConfig();
        return d with
        {
            timesteps = json["timesteps"]?.GetValue<int>() ?? d.timesteps,
            beta_schedule = json["beta_schedule"]?.GetValue<string>() ?? d.beta_schedule,
            linear_start = json["linear_start"]?.GetValue<double>() ?? d.linear_start,
            linear_end = json["linear_end"]?.GetValue<double>() ?? d.linear_end,
            v_posterior = json["v_posterior"]?.GetValue<double>() ?? d.v_posterior,
            use_scale = json["use_scale"]?.GetValue<bool>() ?? d.use_scale,
            scale_a = json["scale_a"]?.GetValue<double>() ?? d.scale_a,
            scale_b = json["scale_b"]?.GetValue<double>() ?? d.scale_b,
            mid_step = json["mid_step"]?.GetValue<int>() ?? d.mid_step,
            fix_scale_bug = json["fix_scale_bug"]?.GetValue<bool>() ?? d.fix_scale_bug,
        };
    }
}
