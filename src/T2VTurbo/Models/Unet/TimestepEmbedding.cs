using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Models.Unet;

/// <summary>The UNet's sinusoidal embedding of timesteps and fps (lvdm utils_diffusion.timestep_embedding, spec §1.3-1):
/// f_i = exp(-ln(max_period)·i/half) for i in [0, half) — divided by half, not half-1 — and the result is
/// [cos(t·f), sin(t·f)], cos first, with a zero column appended when dim is odd.</summary>
public static class TimestepEmbedding
{
    /// <summary>values: [N] (int or float); returns float32 [N, dim] on the values' device.</summary>
    public static Tensor Sinusoid(Tensor values, long dim, double maxPeriod = 10000)
    {
        if (values.dim() != 1) throw new ArgumentException($"timestep embedding expects a 1-D tensor [N], got [{string.Join(",", values.shape)}]");
        if (dim < 2) throw new ArgumentException($"timestep embedding dim must be >= 2, got {dim}");
        using var scope = torch.NewDisposeScope();
        long half = dim / 2;
        // Same float32 operation order as the reference: (arange · -ln(P)) / half, then exp.
        var freqs = torch.exp(torch.arange(0, half, dtype: ScalarType.Float32, device: values.device) * (-Math.Log(maxPeriod)) / half);
        var args = values.to(ScalarType.Float32).unsqueeze(1) * freqs.unsqueeze(0);   // [N, half]
        var emb = torch.cat([torch.cos(args), torch.sin(args)], 1);                    // [N, 2·half]
        if (dim % 2 == 1) emb = torch.cat([emb, torch.zeros_like(emb[.., ..1])], 1);  // [N, dim]
        return emb.MoveToOuterDisposeScope();
    }
}
