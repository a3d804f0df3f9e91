using T2VTurbo.Models.Unet;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.ModelScope;

/// <summary>The repo's CrossAttnUpBlock3D (with attentions) and UpBlock3D (without): per layer, concatenate the popped
/// skip (cat([h, skip], dim 1)), then resnet → temp_conv [→ Transformer2DModel → TransformerTemporalModel]; then an
/// optional upsampler (nearest ×2 or to the forwarded size, 3x3 conv). Fields in registration order: resnets,
/// temp_convs, attentions, temp_attentions, upsamplers.</summary>
public sealed class UpBlock3D : nn.Module
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<TemporalConvBlock> temp_convs;
    private readonly ModuleList<Transformer2DModel>? attentions;
    private readonly ModuleList<TransformerTemporalModel>? temp_attentions;
    private readonly ModuleList<Upsample2D>? upsamplers;

    /// <param name="inChannels">channels of the deepest skip this block takes (its last resnet's skip).</param>
    /// <param name="prevOutputChannels">channels coming from the block below (first resnet's input).</param>
    public UpBlock3D(bool crossAttention, long numLayers, long inChannels, long outChannels, long prevOutputChannels, long tembChannels,
        bool addUpsample, long groups, double eps, long headDim, long crossAttentionDim, Device? device = null, ScalarType? dtype = null)
        : base(crossAttention ? UnetMsConfig.CrossAttnUpBlock3D : UnetMsConfig.UpBlock3D)
    {
        resnets = nn.ModuleList(Enumerable.Range(0, (int)numLayers).Select(i =>
        {
            long skipCh = i == numLayers - 1 ? inChannels : outChannels;
            long resIn = i == 0 ? prevOutputChannels : outChannels;
            return new ResnetBlock2D(resIn + skipCh, outChannels, tembChannels, groups, eps, 1.0, device, dtype);
        }).ToArray());
        temp_convs = nn.ModuleList(Enumerable.Range(0, (int)numLayers).Select(_ => Layer3D.TemporalConv(outChannels, device, dtype)).ToArray());
        if (crossAttention)
        {
            long heads = outChannels / headDim;
            attentions = nn.ModuleList(Enumerable.Range(0, (int)numLayers)
                .Select(_ => new Transformer2DModel(heads, headDim, outChannels, crossAttentionDim, groups, device, dtype)).ToArray());
            temp_attentions = nn.ModuleList(Enumerable.Range(0, (int)numLayers)
                .Select(_ => new TransformerTemporalModel(heads, headDim, outChannels, groups, device, dtype)).ToArray());
        }
        if (addUpsample) upsamplers = nn.ModuleList(new Upsample2D(outChannels, outChannels, device, dtype));
        RegisterComponents();
    }

    /// <summary>How many skip tensors the block consumes (one per resnet).</summary>
    public int NumSkips => resnets.Count;

    /// <summary>x: [(B·T), C, h, w]; skips: this block's <see cref="NumSkips"/> skip tensors in push order (the last is
    /// used first); upsampleSize: [h', w'] or null (×2) → [(B·T), C_out, h', w'].</summary>
    public Tensor Forward(Tensor x, IReadOnlyList<Tensor> skips, VideoConditioning c, long[]? upsampleSize)
    {
        if (skips.Count != resnets.Count)
            throw new ArgumentException($"UpBlock3D: {skips.Count} skip tensors given, {resnets.Count} needed");
        using var scope = torch.NewDisposeScope();
        var h = x;
        for (int i = 0; i < resnets.Count; i++)
        {
            var joined = torch.cat([h, skips[skips.Count - 1 - i]], 1);                 // [(B·T), C + C_skip, h, w]
            h = Replace(h, x, Layer3D.Run(joined, c, resnets[i], temp_convs[i], attentions?[i], temp_attentions?[i]));
            joined.Dispose();
        }
        if (upsamplers is not null)
            foreach (var up in upsamplers) h = Replace(h, x, up.call(h, upsampleSize));
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Frees the previous activation as soon as the next exists (not the caller's input): at full size each
    /// is hundreds of MB.</summary>
    private static Tensor Replace(Tensor previous, Tensor input, Tensor next)
    {
        if (!ReferenceEquals(previous, input)) previous.Dispose();
        return next;
    }
}
