using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Schedulers;

/// <summary>The two classifier-free-guidance forms in the code base. They differ by one in the scale.</summary>
public static class Guidance
{
    /// <summary>Imagen / lvdm DDIM sampler form: <c>uncond + s·(cond − uncond)</c> (s = 1 means no guidance).</summary>
    public static Tensor Imagen(Tensor cond, Tensor uncond, double scale)
    {
        using var scope = torch.NewDisposeScope();
        return (uncond + scale * (cond - uncond)).MoveToOuterDisposeScope();
    }

    /// <summary>LCM form used by T2V-Turbo distillation: <c>cond + w·(cond − uncond)</c> (= Imagen with scale w + 1).
    /// w: a per-sample tensor broadcastable to cond (e.g. [B, 1, 1, 1, 1]).</summary>
    public static Tensor Lcm(Tensor cond, Tensor uncond, Tensor w)
    {
        using var scope = torch.NewDisposeScope();
        return (cond + w * (cond - uncond)).MoveToOuterDisposeScope();
    }

    public static Tensor Lcm(Tensor cond, Tensor uncond, double w)
    {
        using var scope = torch.NewDisposeScope();
        return (cond + w * (cond - uncond)).MoveToOuterDisposeScope();
    }
}
