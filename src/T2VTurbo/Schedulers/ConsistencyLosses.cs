using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Schedulers;

/// <summary>Consistency-distillation losses of train_t2v_turbo_v1_lora.py (both compared in float32, as the reference
/// casts the float64 target with <c>.float()</c>).</summary>
public static class ConsistencyLosses
{
    public const double DefaultHuberC = 0.001;

    /// <summary>Pseudo-Huber: <c>mean(sqrt((pred − target)² + c²) − c)</c> over all elements (0-d float32).</summary>
    public static Tensor PseudoHuber(Tensor pred, Tensor target, double huberC = DefaultHuberC)
    {
        CheckShapes(pred, target);
        using var scope = torch.NewDisposeScope();
        var diff = pred.to(ScalarType.Float32) - target.to(ScalarType.Float32);
        var loss = (diff.pow(2) + huberC * huberC).sqrt() - huberC;
        return loss.mean().MoveToOuterDisposeScope();
    }

    /// <summary>L2: <c>F.mse_loss(pred.float(), target.float(), reduction="mean")</c> (0-d float32).</summary>
    public static Tensor L2(Tensor pred, Tensor target)
    {
        CheckShapes(pred, target);
        using var scope = torch.NewDisposeScope();
        var loss = torch.nn.functional.mse_loss(pred.to(ScalarType.Float32), target.to(ScalarType.Float32), torch.nn.Reduction.Mean);
        return loss.MoveToOuterDisposeScope();
    }

    private static void CheckShapes(Tensor pred, Tensor target)
    {
        if (!pred.shape.SequenceEqual(target.shape))
            throw new ArgumentException($"loss: prediction [{string.Join(",", pred.shape)}] and target [{string.Join(",", target.shape)}] differ in shape");
    }
}
