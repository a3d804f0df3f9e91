using System.Text.Json.Nodes;

namespace T2VTurbo.Schedulers;

/// <summary>T2VTurboScheduler constructor arguments (scheduler/t2v_turbo_scheduler.py; the options that step() ignores —
/// clip_sample, set_alpha_to_one, thresholding, timestep_spacing — are left out).</summary>
public sealed record TurboSchedulerConfig
{
    public int num_train_timesteps { get; init; } = 1000;
    public double linear_start { get; init; } = 0.00085;
    public double linear_end { get; init; } = 0.012;
    /// <summary>"scaled_linear" (the only one T2V-Turbo accepts) or "linear".</summary>
    public string beta_schedule { get; init; } = "scaled_linear";
    public string prediction_type { get; init; } = "epsilon";

    /// <summary>Reads the names above from a scheduler config object (e.g. the fixture's <c>scheduler_config</c>).</summary>
    public static TurboSchedulerConfig FromJson(JsonObject json)
    {
        var d = new TurboSchedulerConfig();
        return d with
        {
            num_train_timesteps = json["num_train_timesteps"]?.GetValue<int>() ?? d.num_train_timesteps,
            linear_start = json["linear_start"]?.GetValue<double>() ?? d.linear_start,
            linear_end = json["linear_end"]?.GetValue<double>() ?? d.linear_end,
            beta_schedule = json["beta_schedule"]?.GetValue<string>() ?? d.beta_schedule,
            prediction_type = json["prediction_type"]?.GetValue<string>() ?? d.prediction_type,
        };
    }
}
