using System.Text.RegularExpressions;
using T2VTurbo.Models.Unet;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Training;

/// <summary>Initialisation of a UNet trained from scratch beyond what the module constructors do (they already start
/// norms at weight 1 / bias 0 and attention projections as PyTorch does).</summary>
public static class FreshInit
{
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
