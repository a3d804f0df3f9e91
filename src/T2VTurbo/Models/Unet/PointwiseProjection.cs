using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.Unet;

/// <summary>The transformers' proj_in/proj_out: a Linear (use_linear) or a kernel-1 Conv1d/Conv2d, as the checkpoint
/// stores it. A kernel-1 convolution over channels is the same map as a Linear over the channel-last tokens, so both
/// run on tokens [..., C] and the reference's extra rearranges around the convolution are not needed.</summary>
internal static class PointwiseProjection
{
    /// <param name="convDims">1 or 2: which convolution the reference uses when not linear (weight [out, in, 1(, 1)]).</param>
    public static nn.Module<Tensor, Tensor> Create(long inFeatures, long outFeatures, bool linear, int convDims, Device? device, ScalarType? dtype) =>
        linear ? nn.Linear(inFeatures, outFeatures, device: device, dtype: dtype)
        : convDims == 1 ? nn.Conv1d(inFeatures, outFeatures, 1, device: device, dtype: dtype)
        : nn.Conv2d(inFeatures, outFeatures, 1, device: device, dtype: dtype);

    /// <summary>tokens: [..., in] → [..., out].</summary>
    public static Tensor Apply(nn.Module<Tensor, Tensor> projection, Tensor tokens) => projection switch
    {
        Linear l => l.call(tokens),
        Conv1d c => nn.functional.linear(tokens, c.weight!.flatten(1), c.bias),
        Conv2d c => nn.functional.linear(tokens, c.weight!.flatten(1), c.bias),
        _ => throw new InvalidOperationException($"unexpected projection module {projection.GetType().Name}"),
    };
}
