using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Models;

/// <summary>lvdm DiagonalGaussianDistribution: the VAE posterior from the quant_conv moments [N, 2·E, h, w]
/// (first half mean, second half log-variance clamped to [−30, 20]). Owns its tensors.</summary>
public sealed class DiagonalGaussianDistribution : IDisposable
{
    public const double LogVarMin = -30.0, LogVarMax = 20.0;

    public Tensor Mean { get; }     // [N, E, h, w]
    public Tensor LogVar { get; }   // [N, E, h, w], clamped
    public Tensor Std { get; }      // exp(0.5·logvar)

    public DiagonalGaussianDistribution(Tensor moments)
    {
        if (moments.dim() < 2 || moments.shape[1] % 2 != 0)
            throw new ArgumentException($"DiagonalGaussianDistribution: moments must have an even channel dim 1, got [{string.Join(", ", moments.shape)}]");
        using var scope = torch.NewDisposeScope();
        var halves = moments.chunk(2, 1);
        Mean = halves[0].contiguous();
        LogVar = halves[1].clamp(LogVarMin, LogVarMax);
        Std = (0.5 * LogVar).exp();
        Mean.MoveToOuterDisposeScope();
        LogVar.MoveToOuterDisposeScope();
        Std.MoveToOuterDisposeScope();
    }

    /// <summary>mean + std·noise for a given standard-normal <paramref name="noise"/> of the mean's shape (what
    /// <c>posterior.sample()</c> returns when torch.randn produced that noise).</summary>
    public Tensor Sample(Tensor noise)
    {
        if (!noise.shape.SequenceEqual(Mean.shape))
            throw new ArgumentException($"DiagonalGaussianDistribution.Sample: noise [{string.Join(", ", noise.shape)}] must have the posterior's shape [{string.Join(", ", Mean.shape)}]");
        using var scope = torch.NewDisposeScope();
        return (Mean + Std * noise.to(Mean.dtype, Mean.device)).MoveToOuterDisposeScope();
    }

    /// <summary>A fresh sample with noise from <paramref name="generator"/> (or the global generator).</summary>
    public Tensor Sample(Generator? generator = null)
    {
        using var scope = torch.NewDisposeScope();
        // on the generator's own device (a CPU generator cannot fill a CUDA tensor), then moved beside the mean
        var noise = torch.randn(Mean.shape, ScalarType.Float32, generator?.device ?? Mean.device, generator: generator);
        return Sample(noise).MoveToOuterDisposeScope();
    }

    /// <summary>The mode (= mean).</summary>
    public Tensor Mode() => Mean.alias();

    /// <summary>Moves the three tensors to the caller's enclosing dispose scope.</summary>
    public DiagonalGaussianDistribution MoveToOuterDisposeScope()
    {
        Mean.MoveToOuterDisposeScope();
        LogVar.MoveToOuterDisposeScope();
        Std.MoveToOuterDisposeScope();
        return this;
    }

    public void Dispose()
    {
        Mean.Dispose();
        LogVar.Dispose();
        Std.Dispose();
    }
}
