using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.Unet;

/// <summary>GroupNorm whose statistics and affine step always run in float32, with the result cast back to the input
/// dtype (the reference's GroupNormSpecific `.type(x.dtype)` under autocast). In float32 it is plain GroupNorm; in
/// bfloat16/float16 it avoids normalising a whole feature map in reduced precision. Keys: weight, bias.</summary>
public sealed class GroupNorm32 : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight, bias;
    private readonly long groups;
    private readonly double eps;

    public GroupNorm32(long numGroups, long numChannels, double eps, Device? device = null, ScalarType? dtype = null) : base("GroupNorm")
    {
        if (numChannels % numGroups != 0)
            throw new ArgumentException($"GroupNorm: {numChannels} channels are not divisible by {numGroups} groups");
        groups = numGroups;
        this.eps = eps;
        weight = new Parameter(torch.ones(numChannels, dtype: dtype ?? ScalarType.Float32, device: device));
        bias = new Parameter(torch.zeros(numChannels, dtype: dtype ?? ScalarType.Float32, device: device));
        RegisterComponents();
    }

    public long NumChannels => weight.shape[0];

    /// <summary>x: [N, C, ...] → same shape and dtype.</summary>
    public override Tensor forward(Tensor x)
    {
        if (x.dim() < 2 || x.shape[1] != NumChannels)
            throw new ArgumentException($"GroupNorm expects [N, {NumChannels}, ...], got [{string.Join(",", x.shape)}]");
        if (x.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32)
            return nn.functional.group_norm(x, groups, weight, bias, eps);
        using var scope = torch.NewDisposeScope();
        var y = nn.functional.group_norm(x.to(ScalarType.Float32), groups, weight.to(ScalarType.Float32), bias.to(ScalarType.Float32), eps);
        return y.to(x.dtype).MoveToOuterDisposeScope();
    }
}
