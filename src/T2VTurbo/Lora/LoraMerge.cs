using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Lora;

/// <summary>Folds LoRA into the base weights ("collapse_lora", spec §3.4): W ← W + reshape(flat(up) @ flat(down)),
/// alpha = 1, biases unchanged, computed in float32 and cast back to the weight's dtype. Afterwards inference costs
/// exactly what the base model costs.</summary>
public static class LoraMerge
{
    public static void Merge(nn.Module unet, LoraWeights lora, double scale = 1.0)
    {
        var targets = LoraTargets.Find(unet).ToDictionary(t => t.Name);
        using var _ = torch.no_grad();
        foreach (var (name, pair) in lora.Pairs)
        {
            if (!targets.TryGetValue(name, out var t))
                throw new InvalidDataException($"LoRA names module '{name}', which this UNet does not have");
            var w = (Tensor)t.Module.get_parameter("weight")!;
            using var scope = torch.NewDisposeScope();
            var up = pair.Up.to(ScalarType.Float32, w.device).flatten(1);      // [out, r]
            var down = pair.Down.to(ScalarType.Float32, w.device).flatten(1);  // [r, in·k…]
            var delta = up.matmul(down).reshape(w.shape) * scale;
            w.copy_((w.to(ScalarType.Float32) + delta).to(w.dtype));
        }
    }
}
