using T2VTurbo.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Training;

/// <summary>An exponential moving average of the trainable weights, as diffusers' <c>EMAModel</c> without the power
/// warm-up: after optimizer step t the shadow moves by <c>shadow −= (1 − d_t)·(shadow − θ)</c> with
/// <c>d_t = min(decay, (1 + u) / (10 + u))</c>, u = t − 1 (so the first step copies θ and early steps average over a
/// short window). The averaged weights are what a from-scratch run exports: a small model trained with a constant
/// learning rate fluctuates from step to step, its average does not (docs/shapesbench.md measured 3,500 raw steps
/// sampling worse than 2,500).</summary>
public sealed class WeightEma : IDisposable
{
    public const string FileName = "ema.safetensors";

    private readonly (string Name, Parameter Source, Tensor Shadow)[] items;

    public double Decay { get; }

    public WeightEma(IEnumerable<(string Name, Parameter Parameter)> parameters, double decay)
    {
        if (!(decay > 0 && decay < 1)) throw new ArgumentException($"EMA decay must be in (0, 1), got {decay}");
        Decay = decay;
        using var _ = torch.no_grad();
        items = parameters.Select(p => (p.Name, p.Parameter, p.Parameter.detach().clone())).ToArray();
    }

    /// <summary>The decay applied after optimizer step <paramref name="step"/> (1-based).</summary>
    public double DecayAt(long step)
    {
        long u = step - 1;
        return u <= 0 ? 0.0 : Math.Min(Decay, (1.0 + u) / (10.0 + u));
    }

    /// <summary>Moves the average toward the current weights; call once after each optimizer step.</summary>
    public void Update(long step)
    {
        double weight = 1.0 - DecayAt(step);
        using var _ = torch.no_grad();
        foreach (var (_, source, shadow) in items)
            shadow.lerp_(source, weight);          // shadow += (1 − d_t)·(θ − shadow), in place: no temporaries per step
    }

    /// <summary>Copies the averaged weights into the model's parameters (before exporting it).</summary>
    public void CopyToModel()
    {
        using var _ = torch.no_grad();
        foreach (var (_, source, shadow) in items) source.copy_(shadow);
    }

    public void Save(string path, long step)
    {
        using var scope = torch.NewDisposeScope();
        SafeTensors.Save(path, items.ToDictionary(i => i.Name, i => i.Shadow.detach().cpu()),
            new Dictionary<string, string> { ["ema_decay"] = Decay.ToString("R", System.Globalization.CultureInfo.InvariantCulture), ["step"] = step.ToString() });
    }

    /// <summary>Restores the average a checkpoint saved; every trainable parameter must be there with its shape.</summary>
    public void Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path} is missing: the checkpoint was written by a run without an EMA; resume it without --ema-decay, or start a new run", path);
        using var src = new SafeTensorsFile(path);
        using var _ = torch.no_grad();
        foreach (var (name, _, shadow) in items)
        {
            if (!src.Contains(name)) throw new InvalidDataException($"{path}: no EMA weight '{name}'");
            using var v = src.Load(name);
            if (!v.shape.SequenceEqual(shadow.shape))
                throw new InvalidDataException($"{path}: EMA weight '{name}' has shape [{string.Join(", ", v.shape)}], the model [{string.Join(", ", shadow.shape)}]");
            shadow.copy_(v);
        }
    }

    public void Dispose()
    {
        foreach (var i in items) i.Shadow.Dispose();
    }
}
