using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Schedulers;

/// <summary>The two sinusoidal embeddings of T2V-Turbo (spec §1.3). They differ in order, divisor and scaling, so do
/// not interchange them.</summary>
public static class Embeddings
{
    /// <summary>lvdm / diffusers timestep embedding (UNet t and fps): <c>freq_i = exp(−ln(max_period)·i/half)</c>,
    /// <c>[cos(t·freq), sin(t·freq)]</c> (cos first), a zero column appended for odd <paramref name="dim"/>.
    /// timesteps: [N] (any numeric dtype, raw integer timesteps, not normalised) → [N, dim] float32.</summary>
    public static Tensor Timestep(Tensor timesteps, int dim, double maxPeriod = 10000)
    {
        if (timesteps.dim() != 1) throw new ArgumentException($"timesteps must be 1-D [N], got [{string.Join(",", timesteps.shape)}]");
        if (dim < 1) throw new ArgumentException($"embedding dim must be ≥ 1, got {dim}");
        using var scope = torch.NewDisposeScope();
        int half = dim / 2;
        // same op order as lvdm utils_diffusion.timestep_embedding (float32 throughout)
        float negLog = (float)-Math.Log(maxPeriod);
        var exponents = Enumerable.Range(0, half).Select(i => negLog * i / half).ToArray();   // float32, lvdm's op order
        var freqs = torch.tensor(ReferenceKernels.Exp(exponents), device: timesteps.device);
        var args = timesteps.unsqueeze(1).to(ScalarType.Float32) * freqs.unsqueeze(0);          // [N, half]
        var emb = torch.cat(new[] { torch.cos(args), torch.sin(args) }, dim: -1);              // [N, 2·half]
        if (dim % 2 == 1) emb = torch.cat(new[] { emb, torch.zeros_like(emb[.., ..1]) }, dim: -1);
        return emb.MoveToOuterDisposeScope();
    }

    /// <summary>T2V-Turbo guidance-scale embedding (LCM's get_guidance_scale_embedding, VDM):
    /// <c>v = 1000·w</c>, <c>freq_i = exp(−i·ln(10000)/(half−1))</c>, <c>[sin(v·freq), cos(v·freq)]</c> (sin first),
    /// zero-padded for odd <paramref name="dim"/>. w: [N] → [N, dim] in <paramref name="dtype"/> (float32 in all callers).</summary>
    public static Tensor Guidance(Tensor w, int dim = 256, ScalarType dtype = ScalarType.Float32)
    {
        if (w.dim() != 1) throw new ArgumentException($"guidance scales must be 1-D [N], got [{string.Join(",", w.shape)}]");
        if (dim < 4) throw new ArgumentException($"guidance embedding dim must be ≥ 4 (half−1 divides), got {dim}");
        using var scope = torch.NewDisposeScope();
        var scaled = w * 1000.0;
        int half = dim / 2;
        float step = MathF.Log(10000f) / (half - 1);                                            // float32, as torch.log(tensor(10000.))
        var exponents = Enumerable.Range(0, half).Select(i => i * -step).ToArray();
        var freqs = torch.tensor(ReferenceKernels.Exp(exponents), device: w.device).to(dtype);
        var args = scaled.to(dtype).unsqueeze(1) * freqs.unsqueeze(0);                         // [N, half]
        var emb = torch.cat(new[] { torch.sin(args), torch.cos(args) }, dim: 1);               // [N, 2·half]
        if (dim % 2 == 1) emb = torch.nn.functional.pad(emb, new long[] { 0, 1 });
        return emb.MoveToOuterDisposeScope();
    }

    /// <summary>Guidance embedding for one scale repeated over a batch (the pipeline's <c>tensor(w).repeat(bs)</c>).</summary>
    public static Tensor Guidance(double w, long batch, int dim = 256, Device? device = null)
    {
        using var scope = torch.NewDisposeScope();
        var ws = torch.full(new[] { batch }, (float)w, dtype: ScalarType.Float32, device: device);
        return Guidance(ws, dim).MoveToOuterDisposeScope();
    }
}
