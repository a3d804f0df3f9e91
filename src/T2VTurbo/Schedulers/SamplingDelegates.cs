using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Schedulers;

/// <summary>ε-prediction of the network at x_t. t: int64 [B] (one timestep per sample).</summary>
public delegate Tensor EpsDenoiser(Tensor x, Tensor t);

/// <summary>ε-prediction with (conditional = true) or without (the unconditional / empty-prompt branch) the text
/// condition, for classifier-free guidance.</summary>
public delegate Tensor ConditionalDenoiser(Tensor x, Tensor t, bool conditional);

/// <summary>Gaussian noise for sampling step <paramref name="step"/> (0-based, loop order) of the given shape. Lets a
/// caller inject recorded noise; <see cref="NoiseProviders.FromGenerator"/> draws from a torch.Generator.</summary>
public delegate Tensor NoiseProvider(int step, long[] shape);

/// <summary>What one sampling step saw and produced. The tensors are disposed after the callback returns: clone
/// (<c>.detach().clone()</c>) anything you keep.</summary>
/// <param name="Step">0-based position in the loop.</param>
/// <param name="StepCount">number of steps in the loop.</param>
/// <param name="Timestep">DDPM timestep of this step.</param>
/// <param name="Input">x_t fed to the network.</param>
/// <param name="ModelOutput">the (guided) ε used by the update.</param>
/// <param name="Denoised">the x0 estimate of this step (DDIM: pred_x0; turbo: the consistency output).</param>
/// <param name="Next">the latent passed to the next step (DDIM: x_prev; turbo: prev_sample).</param>
public sealed record SamplerStep(int Step, int StepCount, long Timestep, Tensor Input, Tensor ModelOutput, Tensor Denoised, Tensor Next);

public static class NoiseProviders
{
    /// <summary><c>torch.randn(shape, generator)</c> on the generator's device, then moved to <paramref name="device"/>
    /// (diffusers' randn_tensor behaviour for a CPU generator and a GPU latent).</summary>
    public static NoiseProvider FromGenerator(Generator generator, ScalarType dtype = ScalarType.Float32, Device? device = null) =>
        (_, shape) =>
        {
            var z = torch.randn(shape, dtype: dtype, device: generator.device, generator: generator);
            if (device == null || device.type == generator.device.type && device.index == generator.device.index) return z;
            using (z) return z.to(device);
        };

    /// <summary>Pre-recorded noise, one tensor per step (a copy is returned; the list keeps ownership).</summary>
    public static NoiseProvider FromList(IReadOnlyList<Tensor> noises) =>
        (step, shape) =>
        {
            if (step < 0 || step >= noises.Count) throw new ArgumentOutOfRangeException(nameof(step), $"no recorded noise for step {step} ({noises.Count} recorded)");
            var z = noises[step];
            if (!z.shape.SequenceEqual(shape))
                throw new ArgumentException($"recorded noise of step {step} has shape [{string.Join(",", z.shape)}], the sampler needs [{string.Join(",", shape)}]");
            return z.clone();
        };
}
