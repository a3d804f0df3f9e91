using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.ModelScope;

/// <summary>diffusers TimestepEmbedding (act silu, no post-activation): sample = t_emb + cond_proj(timestep_cond) when
/// a condition is given, then linear_2(SiLU(linear_1(sample))). cond_proj (Linear cond→C0, no bias) exists only in
/// the T2V-Turbo student. Fields in the reference's registration order linear_1, cond_proj, linear_2 (the LoRA
/// order). Keys: linear_1, cond_proj, linear_2.</summary>
public sealed class TimestepEmbeddingMlp : nn.Module
{
    private readonly Linear linear_1;
    private readonly Linear? cond_proj;
    private readonly Linear linear_2;

    public TimestepEmbeddingMlp(long inChannels, long timeEmbedDim, long? condProjDim, Device? device = null, ScalarType? dtype = null)
        : base(nameof(TimestepEmbeddingMlp))
    {
        linear_1 = nn.Linear(inChannels, timeEmbedDim, device: device, dtype: dtype);
        if (condProjDim is long c) cond_proj = nn.Linear(c, inChannels, hasBias: false, device: device, dtype: dtype);
        linear_2 = nn.Linear(timeEmbedDim, timeEmbedDim, device: device, dtype: dtype);
        RegisterComponents();
    }

    public bool HasCondProj => cond_proj is not null;

    /// <summary>sample: [B, C0] (the sinusoid); condition: [B, cond_proj_dim] or null → [B, time_embed_dim].
    /// observe sees "cond_proj_out" [B, C0].</summary>
    public Tensor forward(Tensor sample, Tensor? condition, Action<string, Tensor>? observe = null)
    {
        using var scope = torch.NewDisposeScope();
        if (condition is not null)
        {
            if (cond_proj is null)
                throw new ArgumentException("UnetMs: timestepCond given but the model has no time_embedding.cond_proj (time_cond_proj_dim is null: the teacher)");
            var c = cond_proj.call(condition);                                        // [B, C0]
            observe?.Invoke("cond_proj_out", c);
            sample = sample + c;
        }
        var h = linear_2.call(nn.functional.silu(linear_1.call(sample)));           // [B, E]
        return h.MoveToOuterDisposeScope();
    }
}
