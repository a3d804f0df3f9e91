using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Schedulers;

/// <summary>VideoCrafter2's own DDIM sampler (lvdm/models/samplers/ddim.py) with classifier-free guidance
/// (<c>ε_u + s·(ε_c − ε_u)</c>) and VC2's <c>use_scale</c> latent rescaling. T2V-Turbo never samples with it; it is the
/// 50-step teacher baseline (spec §2.9). Tables follow the reference's dtypes: ᾱ from lvdm's float32 buffer,
/// ᾱ_prev / σ / scale_prev as float64 arrays, every per-step coefficient used as float32.</summary>
public sealed class DdimSampler
{
    public int DdimSteps { get; }
    public double Eta { get; }
    public bool UseScale { get; }
    /// <summary>uniform: range(0, T, T // S) + 1 → [1, 21, …, 981] for S = 50; run in reverse.</summary>
    public long[] DdimTimesteps { get; }
    public float[] DdimAlphas { get; }
    public double[] DdimAlphasPrev { get; }
    public double[] DdimSigmas { get; }
    public float[] DdimSqrtOneMinusAlphas { get; }
    public float[]? DdimScaleArr { get; }
    public double[]? DdimScaleArrPrev { get; }

    public DdimSampler(NoiseSchedule schedule, int ddimSteps = 50, double eta = 0.0, string discretize = "uniform")
    {
        if (ddimSteps < 1 || ddimSteps > schedule.NumTimesteps) throw new ArgumentException($"ddim_steps must be in 1..{schedule.NumTimesteps}, got {ddimSteps}");
        if (eta < 0) throw new ArgumentException($"eta must be ≥ 0, got {eta}");
        DdimSteps = ddimSteps;
        Eta = eta;
        UseScale = schedule.Config.use_scale;
        DdimTimesteps = MakeTimesteps(discretize, ddimSteps, schedule.NumTimesteps);
        var alphacums = NoiseSchedule.ToFloat32(schedule.AlphasCumprod);   // the sampler reads lvdm's float32 buffer
        int n = DdimTimesteps.Length;
        DdimAlphas = DdimTimesteps.Select(t => alphacums[t]).ToArray();
        DdimAlphasPrev = new double[n];
        DdimAlphasPrev[0] = alphacums[0];   // the last step lands on ᾱ_0 = 0.99915, not on 1
        for (int i = 1; i < n; i++) DdimAlphasPrev[i] = alphacums[DdimTimesteps[i - 1]];
        DdimSigmas = new double[n];
        DdimSqrtOneMinusAlphas = new float[n];
        for (int i = 0; i < n; i++)
        {
            float a = DdimAlphas[i];
            double ap = DdimAlphasPrev[i];
            // make_ddim_sampling_parameters mixes a float32 tensor and float64 arrays: (1−a) and its reciprocal are
            // float32, the rest float64
            double ratio = (double)(1f / (1f - a)) * (1.0 - ap);
            DdimSigmas[i] = eta * Math.Sqrt(ratio * (1.0 - a / ap));
            DdimSqrtOneMinusAlphas[i] = MathF.Sqrt(1f - a);
        }
        if (UseScale)
        {
            var scale = NoiseSchedule.ToFloat32(schedule.ScaleArr ?? throw new InvalidOperationException("use_scale is on but the schedule has no scale_arr"));
            if (DdimTimesteps[^1] >= scale.Length) throw new ArgumentException($"timestep {DdimTimesteps[^1]} is outside scale_arr (length {scale.Length})");
            DdimScaleArr = DdimTimesteps.Select(t => scale[t]).ToArray();
            DdimScaleArrPrev = new double[n];
            DdimScaleArrPrev[0] = scale[0];
            for (int i = 1; i < n; i++) DdimScaleArrPrev[i] = scale[DdimTimesteps[i - 1]];
        }
    }

    /// <summary>make_ddim_timesteps: "uniform" = range(0, T, T // S) + 1; "quad" = int(linspace(0, √(0.8T), S)²) + 1.</summary>
    public static long[] MakeTimesteps(string discretize, int ddimSteps, int numTimesteps)
    {
        long[] steps;
        if (discretize == "uniform")
        {
            int c = numTimesteps / ddimSteps;
            steps = Enumerable.Range(0, (numTimesteps + c - 1) / c).Select(k => (long)k * c + 1).ToArray();
        }
        else if (discretize == "quad")
        {
            double stop = Math.Sqrt(numTimesteps * 0.8);
            double step = ddimSteps > 1 ? stop / (ddimSteps - 1) : 0;
            steps = Enumerable.Range(0, ddimSteps).Select(k => (long)Math.Pow(k == ddimSteps - 1 && ddimSteps > 1 ? stop : k * step, 2) + 1).ToArray();
        }
        else throw new NotSupportedException($"ddim discretization '{discretize}' is not supported (uniform, quad)");
        if (steps[^1] >= numTimesteps)
            throw new ArgumentException($"ddim_steps {ddimSteps} gives timestep {steps[^1]} ≥ {numTimesteps} (choose a step count that divides {numTimesteps})");
        return steps;
    }

    /// <summary>Samples from x_T. With guidance scale 1 the unconditional pass is skipped (as lvdm). Noise is requested
    /// at every step, as lvdm draws it even when η = 0; <paramref name="noise"/> may be null only when η = 0.
    /// Returns the last x_prev (not pred_x0). <paramref name="xT"/> is not disposed.</summary>
    public Tensor Sample(ConditionalDenoiser denoiser, Tensor xT, double guidanceScale, NoiseProvider? noise = null,
        Action<SamplerStep>? callback = null, CancellationToken cancellationToken = default)
    {
        if (noise == null && Eta != 0) throw new ArgumentException($"eta = {Eta} needs a noise provider");
        long batch = xT.shape[0];
        int n = DdimTimesteps.Length;
        Tensor x = xT;
        try
        {
            for (int k = 0; k < n; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int index = n - 1 - k;
                long t = DdimTimesteps[index];
                Tensor next;
                using (var scope = torch.NewDisposeScope())
                {
                    var ts = torch.full(new[] { batch }, t, dtype: ScalarType.Int64, device: xT.device);   // [B]
                    var eCond = denoiser(x, ts, true);
                    var eps = guidanceScale == 1.0 ? eCond : Guidance.Imagen(eCond, denoiser(x, ts, false), guidanceScale);
                    var z = noise?.Invoke(k, x.shape).to(x.dtype, x.device);
                    var (xPrev, predX0) = Step(x, eps, index, z);
                    callback?.Invoke(new SamplerStep(k, n, t, x, eps, predX0, xPrev));
                    next = xPrev.MoveToOuterDisposeScope();
                }
                if (!ReferenceEquals(x, xT)) x.Dispose();
                x = next;
            }
        }
        catch
        {
            if (!ReferenceEquals(x, xT)) x.Dispose();
            throw;
        }
        return ReferenceEquals(x, xT) ? x.alias() : x;
    }

    /// <summary>Classifier-free guidance from two separate denoisers (conditional first, as lvdm calls them).</summary>
    public Tensor Sample(EpsDenoiser conditional, EpsDenoiser unconditional, Tensor xT, double guidanceScale, NoiseProvider? noise = null,
        Action<SamplerStep>? callback = null, CancellationToken cancellationToken = default) =>
        Sample((x, t, c) => c ? conditional(x, t) : unconditional(x, t), xT, guidanceScale, noise, callback, cancellationToken);

    /// <summary>p_sample_ddim after the network: DDIM index <paramref name="index"/> (0 = last), guided ε, noise (null = no
    /// noise term). Returns (x_prev, pred_x0), pred_x0 already divided by scale_arr[t] when use_scale is on.</summary>
    public (Tensor xPrev, Tensor predX0) Step(Tensor x, Tensor eps, int index, Tensor? noise)
    {
        if (index < 0 || index >= DdimTimesteps.Length) throw new ArgumentOutOfRangeException(nameof(index), $"DDIM index {index} of {DdimTimesteps.Length}");
        using var scope = torch.NewDisposeScope();
        float aT = DdimAlphas[index];
        float aPrev = (float)DdimAlphasPrev[index];
        float sigma = (float)DdimSigmas[index];
        float sqrtOneMinusAt = DdimSqrtOneMinusAlphas[index];
        var predX0 = (x - sqrtOneMinusAt * eps) / MathF.Sqrt(aT);
        var dirXt = MathF.Sqrt(1f - aPrev - sigma * sigma) * eps;
        Tensor xPrev;
        if (UseScale)
        {
            predX0 = predX0 / DdimScaleArr![index];
            float coef = MathF.Sqrt(aPrev) * (float)DdimScaleArrPrev![index];
            xPrev = coef * predX0 + dirXt;
        }
        else xPrev = MathF.Sqrt(aPrev) * predX0 + dirXt;
        if (noise is not null) xPrev = xPrev + sigma * noise;
        return (xPrev.MoveToOuterDisposeScope(), predX0.MoveToOuterDisposeScope());
    }
}
