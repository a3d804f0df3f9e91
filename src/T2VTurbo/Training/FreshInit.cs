using System.Text.RegularExpressions;
using T2VTurbo.Models.Unet;
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

    // lvdm openaimodel3d / attention.py: zero_module on the UNet's output conv (out.2), each ResBlock's last conv
    // (out_layers.3), every spatial/temporal transformer's proj_out (init_attn's too); nn.init.zeros_ on the last conv
    // of each TemporalConvBlock (conv4.3). Every residual branch starts as the identity and the first output is 0.
    private static readonly Regex LvdmZeroInit = new(@"(^out\.2\.|\.out_layers\.3\.|\.proj_out\.|\.temopral_conv\.conv4\.3\.)", RegexOptions.Compiled);

    /// <summary>Zeroes the UNet parameters lvdm initialises to zero (see <see cref="LvdmZeroInit"/>); returns how many tensors.</summary>
    public static int ZeroInitLikeLvdm(Unet3D unet)
    {
        int count = 0;
        using var _ = torch.no_grad();
        foreach (var (name, p) in unet.named_parameters())
            if (LvdmZeroInit.IsMatch(name))
            {
                p.zero_();
                count++;
            }
        return count;
    }
}
