using static TorchSharp.torch;

namespace T2VTurbo.Training;

/// <summary>The learning-rate schedule and gradient clipping shared by every trainer (distill and the component
/// trainers), so both behave the same for the same options.</summary>
public static class OptimizerMath
{
    /// <summary>Constant learning rate with optional linear warm-up over the first <paramref name="warmupSteps"/> steps
    /// (diffusers' "constant_with_warmup"; 0 = none).</summary>
    public static double LearningRateAt(double learningRate, int warmupSteps, long step) =>
        warmupSteps == 0 ? learningRate : learningRate * Math.Min(1.0, (step + 1) / (double)warmupSteps);

    /// <summary>torch.nn.utils.clip_grad_norm_'s formula: scales every gradient by max_norm / (total + 1e-6) when that is
    /// below 1. <paramref name="maxNorm"/> ≤ 0 turns clipping off; a non-finite total is left for the caller to refuse.
    /// Returns the total norm before clipping (0 when no parameter has a gradient).</summary>
    public static double ClipGradients(IEnumerable<Tensor?> gradients, double maxNorm)
    {
        using var scope = NewDisposeScope();
        var grads = gradients.Where(g => g is not null).Select(g => g!).ToList();
        if (grads.Count == 0) return 0;
        double total = stack(grads.Select(g => g.to(ScalarType.Float32).norm()).ToArray()).norm().item<float>();
        if (maxNorm > 0 && double.IsFinite(total))
        {
            double clip = maxNorm / (total + 1e-6);
            if (clip < 1)
                using (no_grad())
                    foreach (var g in grads) g.mul_(clip);
        }
        return total;
    }
}
