using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Schedulers;

/// <summary>The teacher's one-step DDIM ODE solver of consistency distillation (ode_solver/ddim_solver.py, spec §1.4),
/// only the <c>use_scale=False</c> branch (the training script asserts it). Built from the turbo scheduler's float32
/// ᾱ table. Like the reference, <see cref="DdimAlphaCumprodsPrev"/> is float64, so <see cref="DdimStep"/> returns
/// float64 for float32 inputs.</summary>
public sealed class DdimSolver
{
    public int StepRatio { get; }
    /// <summary>round(arange(1, N+1)·ratio) − 1, e.g. N=50 → [19, 39, …, 999].</summary>
    public long[] DdimTimesteps { get; }
    /// <summary>The float32 ᾱ table the solver was built from.</summary>
    public float[] AlphaCumprods { get; }
    /// <summary>ᾱ at the DDIM timesteps (float32).</summary>
    public float[] DdimAlphaCumprods { get; }
    /// <summary>[ᾱ_0] + ᾱ[ddim_t[:-1]]: the ᾱ each DDIM step lands on (float64 in the reference: np.asarray of Python floats).</summary>
    public double[] DdimAlphaCumprodsPrev { get; }

    public DdimSolver(float[] alphaCumprods, int timesteps = 1000, int ddimTimesteps = 50)
    {
        if (alphaCumprods.Length != timesteps) throw new ArgumentException($"alpha_cumprods has {alphaCumprods.Length} entries, expected timesteps = {timesteps}");
        if (ddimTimesteps < 1 || ddimTimesteps > timesteps) throw new ArgumentException($"ddim_timesteps must be in 1..{timesteps}, got {ddimTimesteps}");
        AlphaCumprods = (float[])alphaCumprods.Clone();
        StepRatio = timesteps / ddimTimesteps;
        DdimTimesteps = Enumerable.Range(1, ddimTimesteps).Select(i => (long)i * StepRatio - 1).ToArray();
        DdimAlphaCumprods = DdimTimesteps.Select(t => alphaCumprods[t]).ToArray();
        DdimAlphaCumprodsPrev = new double[ddimTimesteps];
        DdimAlphaCumprodsPrev[0] = alphaCumprods[0];
        for (int i = 1; i < ddimTimesteps; i++) DdimAlphaCumprodsPrev[i] = alphaCumprods[DdimTimesteps[i - 1]];
    }

    public Tensor DdimTimestepsTensor(Device? device = null) => torch.tensor(DdimTimesteps, dtype: ScalarType.Int64, device: device);

    /// <summary>x_prev = √ᾱ_prev[i]·x0 + √(1−ᾱ_prev[i])·ε (η = 0). index: int64 [B] DDIM indices. The ᾱ_prev table is
    /// float64, so the result is float64 unless the inputs are wider (the reference's dtype behaviour).</summary>
    public Tensor DdimStep(Tensor predX0, Tensor predNoise, Tensor timestepIndex)
    {
        using var scope = torch.NewDisposeScope();
        var table = torch.tensor(DdimAlphaCumprodsPrev, dtype: ScalarType.Float64, device: predX0.device);
        var aPrev = Predictions.ExtractIntoTensor(table, timestepIndex, predX0.shape);   // [B, 1, …] float64
        var dirXt = (1.0 - aPrev).sqrt() * predNoise;
        var xPrev = aPrev.sqrt() * predX0 + dirXt;
        return xPrev.MoveToOuterDisposeScope();
    }

    /// <summary>DDIM inversion step (ddim_reverse_step): from x at prev = max(t − ratio, 0) up to t:
    /// <c>x_t = (x_prev − √(1−ᾱ_prev)·ε)·√(ᾱ_t/ᾱ_prev) + √(1−ᾱ_t)·ε</c>. ts: int64 [B]. float32 table.</summary>
    public Tensor DdimReverseStep(Tensor xPrev, Tensor predNoise, Tensor ts)
    {
        using var scope = torch.NewDisposeScope();
        var table = torch.tensor(AlphaCumprods, dtype: ScalarType.Float32, device: xPrev.device);
        var prevTs = (ts - StepRatio).clamp_min(0);
        var aNext = Predictions.ExtractIntoTensor(table, ts, xPrev.shape);
        var a = Predictions.ExtractIntoTensor(table, prevTs, xPrev.shape);
        var xT = (xPrev - (1 - a).sqrt() * predNoise) * (aNext / a).sqrt() + (1 - aNext).sqrt() * predNoise;
        return xT.MoveToOuterDisposeScope();
    }
}
