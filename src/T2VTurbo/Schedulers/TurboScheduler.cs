using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Schedulers;

/// <summary>T2V-Turbo's multistep consistency sampler (scheduler/t2v_turbo_scheduler.py + the loop of
/// pipeline/t2v_turbo_vc2_pipeline.py; spec §2.1–2.3). Its schedule is recomputed in float32
/// (<c>linspace(√start, √end, T, float32)² → cumprod</c>), which differs from lvdm's float64-derived buffers by ≤5e-7;
/// the DDIM solver of distillation uses this same float32 table.</summary>
public sealed class TurboScheduler
{
    public TurboSchedulerConfig Config { get; }
    public PredictionType PredictionType { get; }
    public float[] Betas { get; }
    public float[] AlphasCumprod { get; }

    public TurboScheduler(TurboSchedulerConfig? config = null)
    {
        Config = config ?? new TurboSchedulerConfig();
        PredictionType = Predictions.Parse(Config.prediction_type);
        if (Config.num_train_timesteps < 1) throw new ArgumentException($"num_train_timesteps must be ≥ 1, got {Config.num_train_timesteps}");
        // float32 linspace / cumprod with PyTorch 1.13's CPU rounding (see ReferenceKernels)
        Betas = Config.beta_schedule switch
        {
            "scaled_linear" => ReferenceKernels.Linspace(Math.Sqrt(Config.linear_start), Math.Sqrt(Config.linear_end), Config.num_train_timesteps).Select(b => b * b).ToArray(),
            "linear" => ReferenceKernels.Linspace(Config.linear_start, Config.linear_end, Config.num_train_timesteps),
            _ => throw new NotSupportedException($"beta_schedule '{Config.beta_schedule}' is not supported (scaled_linear, linear)"),
        };
        AlphasCumprod = ReferenceKernels.Cumprod(Betas.Select(b => 1f - b).ToArray());
    }

    /// <summary>ᾱ as a float32 tensor [T].</summary>
    public Tensor AlphasCumprodTensor(Device? device = null) => torch.tensor(AlphasCumprod, dtype: ScalarType.Float32, device: device);

    /// <summary>LCM inference timesteps (set_timesteps): origin = [1..L]·(T // L) − 1, then every (L // n)-th from the
    /// top, the first n. E.g. n=4, L=50 → [999, 759, 519, 279].</summary>
    public long[] Timesteps(int numInferenceSteps, int lcmOriginSteps) => Timesteps(numInferenceSteps, lcmOriginSteps, Config.num_train_timesteps);

    public static long[] Timesteps(int numInferenceSteps, int lcmOriginSteps, int numTrainTimesteps)
    {
        if (numInferenceSteps < 1) throw new ArgumentException($"num_inference_steps must be ≥ 1, got {numInferenceSteps}");
        if (numInferenceSteps > numTrainTimesteps)
            throw new ArgumentException($"num_inference_steps {numInferenceSteps} cannot be larger than num_train_timesteps {numTrainTimesteps}");
        if (lcmOriginSteps < 1 || lcmOriginSteps > numTrainTimesteps)
            throw new ArgumentException($"lcm_origin_steps must be in 1..{numTrainTimesteps}, got {lcmOriginSteps}");
        long c = numTrainTimesteps / lcmOriginSteps;
        int skip = lcmOriginSteps / numInferenceSteps;
        if (skip == 0)
            throw new ArgumentException($"num_inference_steps {numInferenceSteps} cannot exceed lcm_origin_steps {lcmOriginSteps} (the reference's stride would be 0)");
        var result = new long[numInferenceSteps];
        for (int k = 0; k < numInferenceSteps; k++)
        {
            long originIndex = lcmOriginSteps - 1 - (long)k * skip;   // origin[::-skip][k]
            result[k] = (originIndex + 1) * c - 1;
        }
        return result;
    }

    /// <summary>One consistency step (T2VTurboScheduler.step). <paramref name="timeIndex"/> indexes
    /// <paramref name="timesteps"/>; the last step re-noises to its own t (prev_t = t). With more than one timestep the
    /// noise is drawn at every step, the last included; with one, prev_sample = denoised and nothing is drawn.
    /// Returns (prev_sample, denoised).</summary>
    public (Tensor prevSample, Tensor denoised) Step(Tensor modelOutput, int timeIndex, IReadOnlyList<long> timesteps, Tensor sample, NoiseProvider? noise)
    {
        if (timeIndex < 0 || timeIndex >= timesteps.Count) throw new ArgumentOutOfRangeException(nameof(timeIndex), $"step {timeIndex} of {timesteps.Count}");
        if (!modelOutput.shape.SequenceEqual(sample.shape))
            throw new ArgumentException($"model output [{string.Join(",", modelOutput.shape)}] and sample [{string.Join(",", sample.shape)}] differ in shape");
        long t = timesteps[timeIndex];
        long prevT = timeIndex + 1 < timesteps.Count ? timesteps[timeIndex + 1] : t;
        CheckTimestep(t);
        CheckTimestep(prevT);
        using var scope = torch.NewDisposeScope();
        // float32 scalars as the reference's 0-d float32 tensors
        float alphaProdPrev = AlphasCumprod[prevT];
        float betaProdPrev = 1f - alphaProdPrev;
        var (cSkip, cOut) = ScalingsF32(t);
        var predX0 = PredictOriginal(modelOutput, t, sample);
        var denoised = cOut * predX0 + cSkip * sample;
        Tensor prev;
        if (timesteps.Count > 1)
        {
            if (noise == null) throw new ArgumentException("multistep sampling draws noise at every step: a noise provider is required");
            var z = noise(timeIndex, denoised.shape).to(denoised.dtype, denoised.device);
            prev = MathF.Sqrt(alphaProdPrev) * denoised + MathF.Sqrt(betaProdPrev) * z;
        }
        else prev = denoised.alias();
        return (prev.MoveToOuterDisposeScope(), denoised.MoveToOuterDisposeScope());
    }

    /// <summary>x0 estimate of step at timestep t (ε: (x − √(1−ᾱ_t)·ε)/√ᾱ_t; sample: out; v: √ᾱ_t·x − √(1−ᾱ_t)·out),
    /// with float32 scalar coefficients as the reference's 0-d tensors.</summary>
    public Tensor PredictOriginal(Tensor modelOutput, long t, Tensor sample)
    {
        CheckTimestep(t);
        using var scope = torch.NewDisposeScope();
        float alphaProdT = AlphasCumprod[t];
        float betaProdT = 1f - alphaProdT;
        var predX0 = PredictionType switch
        {
            PredictionType.Epsilon => (sample - MathF.Sqrt(betaProdT) * modelOutput) / MathF.Sqrt(alphaProdT),
            PredictionType.Sample => modelOutput.alias(),
            PredictionType.VPrediction => MathF.Sqrt(alphaProdT) * sample - MathF.Sqrt(betaProdT) * modelOutput,
            _ => throw new InvalidOperationException($"unknown prediction type {PredictionType}"),
        };
        return predX0.MoveToOuterDisposeScope();
    }

    /// <summary>The whole sampling loop of the VC2 pipeline after the initial latents: per step
    /// <c>ε = denoiser(x, full(B, t))</c>, then <see cref="Step"/>. Returns <c>denoised</c> of the last step (the last
    /// prev_sample only advances the RNG). <paramref name="latents"/> is not disposed. For the reference's RNG order draw
    /// the initial latents first from the same generator (<c>torch.randn(shape, generator: g)</c>), then pass
    /// <c>NoiseProviders.FromGenerator(g)</c>: a TorchSharp CPU generator reproduces PyTorch 1.13's draws exactly.</summary>
    public Tensor Sample(EpsDenoiser denoiser, Tensor latents, int numInferenceSteps, int lcmOriginSteps, NoiseProvider? noise,
        Action<SamplerStep>? callback = null, CancellationToken cancellationToken = default)
    {
        var timesteps = Timesteps(numInferenceSteps, lcmOriginSteps);
        long batch = latents.shape[0];
        Tensor x = latents;
        Tensor? denoised = null;
        try
        {
            for (int i = 0; i < timesteps.Length; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Tensor next, den;
                using (var scope = torch.NewDisposeScope())
                {
                    var ts = torch.full(new[] { batch }, timesteps[i], dtype: ScalarType.Int64, device: latents.device);   // [B]
                    var eps = denoiser(x, ts);
                    var (prev, d) = Step(eps, i, timesteps, x, noise);
                    callback?.Invoke(new SamplerStep(i, timesteps.Length, timesteps[i], x, eps, d, prev));
                    next = prev.MoveToOuterDisposeScope();
                    den = d.MoveToOuterDisposeScope();
                }
                if (!ReferenceEquals(x, latents)) x.Dispose();
                denoised?.Dispose();
                x = next;
                denoised = den;
            }
        }
        catch
        {
            denoised?.Dispose();
            throw;
        }
        finally
        {
            if (!ReferenceEquals(x, latents)) x.Dispose();
        }
        return denoised!;
    }

    /// <summary>Forward diffusion q(x_t | x0) = √ᾱ_t·x0 + √(1−ᾱ_t)·ε per sample (no VC2 scale_arr factor).
    /// timesteps: int64 [B].</summary>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        using var scope = torch.NewDisposeScope();
        var ac = AlphasCumprodTensor(originalSamples.device).to(originalSamples.dtype);
        var acT = ac.index_select(0, timesteps.to(originalSamples.device).flatten());
        var shape = new long[originalSamples.dim()];
        shape[0] = acT.shape[0];
        for (int i = 1; i < shape.Length; i++) shape[i] = 1;
        var sqrtAlpha = acT.pow(0.5).reshape(shape);            // [B, 1, …]
        var sqrtOneMinus = (1 - acT).pow(0.5).reshape(shape);   // [B, 1, …]
        return (sqrtAlpha * originalSamples + sqrtOneMinus * noise).MoveToOuterDisposeScope();
    }

    /// <summary>c_skip, c_out of an integer timestep in float32, as the scheduler evaluates them on a 0-d int64 tensor.</summary>
    public static (float c_skip, float c_out) ScalingsF32(long t)
    {
        float u = t * 10f;   // t/0.1 and 10·t agree bit for bit in float32 on 0..999 (fixture t2v_turbo_scheduler)
        float denom = u * u + 0.25f;
        return (1f / denom * 0.25f, u / MathF.Sqrt(denom));
    }

    private void CheckTimestep(long t)
    {
        if (t < 0 || t >= AlphasCumprod.Length) throw new ArgumentOutOfRangeException(nameof(t), $"timestep {t} outside 0..{AlphasCumprod.Length - 1}");
    }
}
