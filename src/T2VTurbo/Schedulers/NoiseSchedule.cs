using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Schedulers;

/// <summary>VideoCrafter2's DDPM schedule exactly as lvdm builds it (ddpm3d.py register_schedule +
/// utils_diffusion.make_beta_schedule): every table is computed in float64 and the module buffers are those values
/// cast to float32. T2V-Turbo's scheduler and DDIM solver recompute the schedule in float32 instead
/// (<see cref="TurboScheduler"/>); use this one for lvdm's DDIM sampler and q_sample.
/// Tables are plain arrays so the object has no tensor lifetime to manage.</summary>
public sealed class NoiseSchedule
{
    public NoiseScheduleConfig Config { get; }
    public int NumTimesteps => Betas.Length;

    public double[] Betas { get; }
    public double[] Alphas { get; }
    public double[] AlphasCumprod { get; }
    /// <summary>[1, ᾱ_0, …, ᾱ_{T-2}].</summary>
    public double[] AlphasCumprodPrev { get; }
    public double[] SqrtAlphasCumprod { get; }
    public double[] SqrtOneMinusAlphasCumprod { get; }
    public double[] LogOneMinusAlphasCumprod { get; }
    public double[] SqrtRecipAlphasCumprod { get; }
    public double[] SqrtRecipm1AlphasCumprod { get; }
    public double[] PosteriorVariance { get; }
    public double[] PosteriorLogVarianceClipped { get; }
    public double[] PosteriorMeanCoef1 { get; }
    public double[] PosteriorMeanCoef2 { get; }
    /// <summary>concat(np.linspace(scale_a, scale_b, mid_step), full(T or T−mid_step, scale_b)); null when use_scale is off.</summary>
    public double[]? ScaleArr { get; }

    public NoiseSchedule(NoiseScheduleConfig? config = null)
    {
        Config = config ?? new NoiseScheduleConfig();
        if (Config.timesteps < 1) throw new ArgumentException($"timesteps must be ≥ 1, got {Config.timesteps}");
        Betas = MakeBetas(Config);
        int n = Betas.Length;
        Alphas = Betas.Select(b => 1.0 - b).ToArray();
        AlphasCumprod = new double[n];
        double acc = 1.0;
        for (int i = 0; i < n; i++) AlphasCumprod[i] = acc *= Alphas[i];   // np.cumprod: sequential float64 product
        AlphasCumprodPrev = new double[n];
        AlphasCumprodPrev[0] = 1.0;
        Array.Copy(AlphasCumprod, 0, AlphasCumprodPrev, 1, n - 1);

        SqrtAlphasCumprod = Map(AlphasCumprod, Math.Sqrt);
        SqrtOneMinusAlphasCumprod = Map(AlphasCumprod, a => Math.Sqrt(1.0 - a));
        LogOneMinusAlphasCumprod = Map(AlphasCumprod, a => Math.Log(1.0 - a));
        SqrtRecipAlphasCumprod = Map(AlphasCumprod, a => Math.Sqrt(1.0 / a));
        SqrtRecipm1AlphasCumprod = Map(AlphasCumprod, a => Math.Sqrt(1.0 / a - 1));

        double v = Config.v_posterior;
        PosteriorVariance = new double[n];
        PosteriorLogVarianceClipped = new double[n];
        PosteriorMeanCoef1 = new double[n];
        PosteriorMeanCoef2 = new double[n];
        for (int i = 0; i < n; i++)
        {
            double b = Betas[i], ac = AlphasCumprod[i], acPrev = AlphasCumprodPrev[i];
            PosteriorVariance[i] = (1 - v) * b * (1.0 - acPrev) / (1.0 - ac) + v * b;
            // clipped because the posterior variance is 0 at t = 0
            PosteriorLogVarianceClipped[i] = Math.Log(Math.Max(PosteriorVariance[i], 1e-20));
            PosteriorMeanCoef1[i] = b * Math.Sqrt(acPrev) / (1.0 - ac);
            PosteriorMeanCoef2[i] = (1.0 - acPrev) * Math.Sqrt(Alphas[i]) / (1.0 - ac);
        }

        if (Config.use_scale) ScaleArr = MakeScaleArr(Config);
    }

    /// <summary>The register_buffer tables by their lvdm names (betas, alphas_cumprod, …, scale_arr).</summary>
    public IReadOnlyDictionary<string, double[]> Buffers
    {
        get
        {
            var d = new Dictionary<string, double[]>
            {
                ["betas"] = Betas,
                ["alphas_cumprod"] = AlphasCumprod,
                ["alphas_cumprod_prev"] = AlphasCumprodPrev,
                ["sqrt_alphas_cumprod"] = SqrtAlphasCumprod,
                ["sqrt_one_minus_alphas_cumprod"] = SqrtOneMinusAlphasCumprod,
                ["log_one_minus_alphas_cumprod"] = LogOneMinusAlphasCumprod,
                ["sqrt_recip_alphas_cumprod"] = SqrtRecipAlphasCumprod,
                ["sqrt_recipm1_alphas_cumprod"] = SqrtRecipm1AlphasCumprod,
                ["posterior_variance"] = PosteriorVariance,
                ["posterior_log_variance_clipped"] = PosteriorLogVarianceClipped,
                ["posterior_mean_coef1"] = PosteriorMeanCoef1,
                ["posterior_mean_coef2"] = PosteriorMeanCoef2,
            };
            if (ScaleArr != null) d["scale_arr"] = ScaleArr;
            return d;
        }
    }

    /// <summary>A table as lvdm's module buffer: <c>torch.tensor(x, dtype=float32)</c> by default.</summary>
    public Tensor Buffer(string name, ScalarType dtype = ScalarType.Float32)
    {
        if (!Buffers.TryGetValue(name, out var values))
            throw new KeyNotFoundException($"no schedule buffer '{name}' (known: {string.Join(", ", Buffers.Keys)})");
        return ToTensor(values, dtype);
    }

    public static Tensor ToTensor(double[] values, ScalarType dtype = ScalarType.Float32)
    {
        using var t = torch.tensor(values, dtype: ScalarType.Float64);
        return t.to(dtype);
    }

    /// <summary>The float32 values lvdm stores in its buffers (round-to-nearest casts of the float64 tables).</summary>
    public static float[] ToFloat32(double[] values) => values.Select(x => (float)x).ToArray();

    private static double[] MakeBetas(NoiseScheduleConfig c)
    {
        using var scope = torch.NewDisposeScope();
        Tensor betas = c.beta_schedule switch
        {
            // lvdm "linear" = torch.linspace(sqrt(start), sqrt(end), T, float64) ** 2
            "linear" => torch.linspace(Math.Sqrt(c.linear_start), Math.Sqrt(c.linear_end), c.timesteps, dtype: ScalarType.Float64).pow(2),
            "sqrt_linear" => torch.linspace(c.linear_start, c.linear_end, c.timesteps, dtype: ScalarType.Float64),
            "sqrt" => torch.linspace(c.linear_start, c.linear_end, c.timesteps, dtype: ScalarType.Float64).pow(0.5),
            _ => throw new NotSupportedException($"beta_schedule '{c.beta_schedule}' is not supported (linear, sqrt_linear, sqrt)"),
        };
        return betas.data<double>().ToArray();
    }

    private static double[] MakeScaleArr(NoiseScheduleConfig c)
    {
        int tail = c.fix_scale_bug ? c.timesteps - c.mid_step : c.timesteps;
        var arr = new double[c.mid_step + tail];
        // np.linspace: start + i*step, with the last sample set to stop exactly
        double step = c.mid_step > 1 ? (c.scale_b - c.scale_a) / (c.mid_step - 1) : 0.0;
        for (int i = 0; i < c.mid_step; i++) arr[i] = c.scale_a + i * step;
        if (c.mid_step > 1) arr[c.mid_step - 1] = c.scale_b;
        for (int i = c.mid_step; i < arr.Length; i++) arr[i] = c.scale_b;
        return arr;
    }

    private static double[] Map(double[] x, Func<double, double> f) => x.Select(f).ToArray();
}
