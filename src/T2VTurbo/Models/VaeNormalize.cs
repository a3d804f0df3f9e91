using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models;

/// <summary>lvdm's <c>Normalize</c>: GroupNorm(num_groups, C, eps, affine) with PyTorch's initial weight 1, bias 0.
/// TorchSharp 0.107's nn.GroupNorm leaves its affine parameters as uninitialised memory (seen as NaN in fresh
/// models), which matters whenever a VAE is built without loading weights (training from scratch, random-weight
/// benchmarks).</summary>
internal static class VaeNormalize
{
    public static GroupNorm Create(AutoencoderConfig cfg, long channels)
    {
        var norm = nn.GroupNorm(cfg.norm_num_groups, channels, cfg.norm_eps);
        using var _ = torch.no_grad();
        norm.weight!.fill_(1.0);
        norm.bias!.zero_();
        return norm;
    }
}
