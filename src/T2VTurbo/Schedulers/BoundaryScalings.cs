using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Schedulers;

/// <summary>Consistency-model boundary condition (LCM, spec §1.2): with u = timestep_scaling·t,
/// <c>c_skip = σ_d² / (u² + σ_d²)</c>, <c>c_out = u / sqrt(u² + σ_d²)</c>, so f(x, 0) = x.
/// t is the integer DDPM timestep (0..999, not normalised); T2V-Turbo uses σ_d = 0.5 and scaling 10
/// (the scheduler writes t/0.1 — bit-identical in float32 for 0..999).</summary>
public static class BoundaryScalings
{
    public const double SigmaData = 0.5;
    public const double TimestepScaling = 10.0;

    /// <summary>timesteps: [N] integer (→ float32 results, as PyTorch promotes int·float) or floating (kept).</summary>
    public static (Tensor c_skip, Tensor c_out) Compute(Tensor timesteps, double sigmaData = SigmaData, double timestepScaling = TimestepScaling)
    {
        using var scope = torch.NewDisposeScope();
        var t = timesteps.is_floating_point() ? timesteps : timesteps.to(ScalarType.Float32);
        var u = t * timestepScaling;
        var denom = u.pow(2) + sigmaData * sigmaData;
        var cSkip = denom.reciprocal() * (sigmaData * sigmaData);   // Python's float / tensor is reciprocal()·float
        var cOut = u / denom.sqrt();
        return (cSkip.MoveToOuterDisposeScope(), cOut.MoveToOuterDisposeScope());
    }

    /// <summary>Scalar form (double precision) for a single integer timestep.</summary>
    public static (double c_skip, double c_out) Compute(long timestep, double sigmaData = SigmaData, double timestepScaling = TimestepScaling)
    {
        double u = timestepScaling * timestep;
        double denom = u * u + sigmaData * sigmaData;
        return (sigmaData * sigmaData / denom, u / Math.Sqrt(denom));
    }

    /// <summary>Appends trailing singleton dims so a per-sample [B] tensor broadcasts over x (common_utils.append_dims).</summary>
    public static Tensor AppendDims(Tensor x, long targetDims)
    {
        if (x.dim() > targetDims) throw new ArgumentException($"input has {x.dim()} dims but target_dims is {targetDims}");
        var shape = x.shape.Concat(Enumerable.Repeat(1L, (int)(targetDims - x.dim()))).ToArray();
        return x.reshape(shape);
    }
}
