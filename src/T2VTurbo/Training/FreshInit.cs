using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Training;

/// <summary>Initialisation of a model trained from scratch. The inference code always loads weights, so its modules
/// are not all initialised the way PyTorch would: TorchSharp 0.107's nn.GroupNorm / nn.LayerNorm leave their affine
/// parameters as uninitialised memory (seen as NaN/Inf in a fresh VAE). PyTorch's reset_parameters sets them to
/// weight 1, bias 0, which is done here for every such norm.</summary>
public static class FreshInit
{
    /// <summary>Sets weight = 1 and bias = 0 on every GroupNorm and LayerNorm in <paramref name="model"/>; returns how many.</summary>
    public static int ResetNorms(nn.Module model)
    {
        int count = 0;
        using var _ = torch.no_grad();
        foreach (var (_, m) in model.named_modules())
        {
            if (m is not (GroupNorm or LayerNorm)) continue;
            foreach (var (name, p) in m.named_parameters(recurse: false))
            {
                if (name == "weight") p.fill_(1.0);
                else if (name == "bias") p.zero_();
            }
            count++;
        }
        return count;
    }
}
