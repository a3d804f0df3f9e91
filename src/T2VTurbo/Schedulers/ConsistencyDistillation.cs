using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Schedulers;

/// <summary>The schedule-side math of one T2V-Turbo consistency-distillation step (train_t2v_turbo_v1_lora.py, spec
/// §4.4), without any network: the caller runs student/teacher and passes their ε in. Tables are the turbo
/// scheduler's float32 ᾱ, so <c>alpha_schedule = √ᾱ</c>, <c>sigma_schedule = √(1−ᾱ)</c> are float32.</summary>
public sealed class ConsistencyDistillation
{
    public TurboScheduler Scheduler { get; }
    public DdimSolver Solver { get; }
    /// <summary>The skipping interval k between the start and end timestep (v1: 20 = the DDIM stride).</summary>
    public int Topk { get; }
    public double WMin { get; }
    public double WMax { get; }
    public double TimestepScaling { get; }
    public PredictionType PredictionType { get; }
    public float[] AlphaSchedule { get; }
    public float[] SigmaSchedule { get; }

    public ConsistencyDistillation(TurboScheduler scheduler, int numDdimTimesteps = 50, int topk = 20, double wMin = 5.0, double wMax = 15.0,
        double timestepScaling = BoundaryScalings.TimestepScaling)
    {
        if (topk < 0) throw new ArgumentException($"topk must be ≥ 0, got {topk}");
        Scheduler = scheduler;
        Solver = new DdimSolver(scheduler.AlphasCumprod, scheduler.Config.num_train_timesteps, numDdimTimesteps);
        Topk = topk;
        WMin = wMin;
        WMax = wMax;
        TimestepScaling = timestepScaling;
        PredictionType = scheduler.PredictionType;
        AlphaSchedule = scheduler.AlphasCumprod.Select(MathF.Sqrt).ToArray();
        SigmaSchedule = scheduler.AlphasCumprod.Select(a => MathF.Sqrt(1f - a)).ToArray();
    }

    /// <summary>start = ddim_t[index]; end = max(start − topk, 0). index: int64 [B] DDIM indices.</summary>
    public (Tensor start, Tensor end) Timesteps(Tensor index)
    {
        using var scope = torch.NewDisposeScope();
        var start = Solver.DdimTimestepsTensor(index.device).index_select(0, index);
        var end = start - Topk;
        end = torch.where(end < 0, torch.zeros_like(end), end);
        return (start.MoveToOuterDisposeScope(), end.MoveToOuterDisposeScope());
    }

    /// <summary>w = (w_max − w_min)·u + w_min from uniform draws u ∈ [0,1) (the script's torch.rand((bsz,))).</summary>
    public Tensor GuidanceScale(Tensor uniform01)
    {
        using var scope = torch.NewDisposeScope();
        return ((WMax - WMin) * uniform01 + WMin).MoveToOuterDisposeScope();
    }

    public Tensor PredictedOriginal(Tensor modelOutput, Tensor timesteps, Tensor sample)
    {
        using var scope = torch.NewDisposeScope();
        var (a, s) = Tables(sample.device);
        return Predictions.OriginalSample(modelOutput, timesteps, sample, PredictionType, a, s).MoveToOuterDisposeScope();
    }

    public Tensor PredictedNoise(Tensor modelOutput, Tensor timesteps, Tensor sample)
    {
        using var scope = torch.NewDisposeScope();
        var (a, s) = Tables(sample.device);
        return Predictions.Noise(modelOutput, timesteps, sample, PredictionType, a, s).MoveToOuterDisposeScope();
    }

    /// <summary>Consistency function f(x, t) = c_skip(t)·x + c_out(t)·x0(out, t, x): the student's "model_pred" at the
    /// start timesteps and the target at the end timesteps (float64 when x is the solver's float64 x_prev).</summary>
    public Tensor ConsistencyOutput(Tensor sample, Tensor timesteps, Tensor modelOutput)
    {
        using var scope = torch.NewDisposeScope();
        var (cSkip, cOut) = BoundaryScalings.Compute(timesteps, BoundaryScalings.SigmaData, TimestepScaling);
        cSkip = BoundaryScalings.AppendDims(cSkip, sample.dim());
        cOut = BoundaryScalings.AppendDims(cOut, sample.dim());
        var x0 = PredictedOriginal(modelOutput, timesteps, sample);
        return (cSkip * sample + cOut * x0).MoveToOuterDisposeScope();
    }

    /// <summary>The teacher's guided DDIM step from the start timesteps: LCM-form CFG on both x0 and ε
    /// (<c>c + w·(c − u)</c>), then <see cref="DdimSolver.DdimStep"/> to the end timesteps. w: [B].
    /// Returns (cfg_pred_x0, cfg_pred_noise, x_prev [float64]).</summary>
    public (Tensor cfgPredX0, Tensor cfgPredNoise, Tensor xPrev) TeacherStep(Tensor noisy, Tensor startTimesteps, Tensor index,
        Tensor epsCond, Tensor epsUncond, Tensor w)
    {
        using var scope = torch.NewDisposeScope();
        var x0c = PredictedOriginal(epsCond, startTimesteps, noisy);
        var nc = PredictedNoise(epsCond, startTimesteps, noisy);
        var x0u = PredictedOriginal(epsUncond, startTimesteps, noisy);
        var nu = PredictedNoise(epsUncond, startTimesteps, noisy);
        var wb = BoundaryScalings.AppendDims(w.to(noisy.dtype, noisy.device), noisy.dim());   // [B, 1, …]
        var px0 = Guidance.Lcm(x0c, x0u, wb);
        var pn = Guidance.Lcm(nc, nu, wb);
        var xPrev = Solver.DdimStep(px0, pn, index);
        return (px0.MoveToOuterDisposeScope(), pn.MoveToOuterDisposeScope(), xPrev.MoveToOuterDisposeScope());
    }

    private (Tensor alphas, Tensor sigmas) Tables(Device device) =>
        (torch.tensor(AlphaSchedule, dtype: ScalarType.Float32, device: device), torch.tensor(SigmaSchedule, dtype: ScalarType.Float32, device: device));
}
