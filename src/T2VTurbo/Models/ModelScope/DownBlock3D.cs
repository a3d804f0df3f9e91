using T2VTurbo.Models.Unet;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.ModelScope;

/// <summary>The repo's CrossAttnDownBlock3D (with attentions) and DownBlock3D (without): num_layers × (resnet →
/// temp_conv [→ Transformer2DModel → TransformerTemporalModel]), then an optional 3x3 stride-2 downsampler. Every
/// layer output and the downsampler output are skip connections. Fields in registration order: resnets, temp_convs,
/// attentions, temp_attentions, downsamplers (absent lists register nothing).</summary>
public sealed class DownBlock3D : nn.Module
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<TemporalConvBlock> temp_convs;
    private readonly ModuleList<Transformer2DModel>? attentions;
    private readonly ModuleList<TransformerTemporalModel>? temp_attentions;
    private readonly ModuleList<Downsample2D>? downsamplers;

    /// <param name="headDim">attention head dim (heads = outChannels / headDim); ignored without cross-attention.</param>
    public DownBlock3D(bool crossAttention, long numLayers, long inChannels, long outChannels, long tembChannels, bool addDownsample,
        long groups, double eps, long headDim, long crossAttentionDim, long downsamplePadding, Device? device = null, ScalarType? dtype = null)
        : base(crossAttention ? UnetMsConfig.CrossAttnDownBlock3D : UnetMsConfig.DownBlock3D)
    {
        resnets = nn.ModuleList(Enumerable.Range(0, (int)numLayers)
            .Select(i => new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, tembChannels, groups, eps, 1.0, device, dtype)).ToArray());
        temp_convs = nn.ModuleList(Enumerable.Range(0, (int)numLayers).Select(_ => Layer3D.TemporalConv(outChannels, device, dtype)).ToArray());
        if (crossAttention)
        {
            long heads = outChannels / headDim;
            attentions = nn.ModuleList(Enumerable.Range(0, (int)numLayers)
                .Select(_ => new Transformer2DModel(heads, headDim, outChannels, crossAttentionDim, groups, device, dtype)).ToArray());
            temp_attentions = nn.ModuleList(Enumerable.Range(0, (int)numLayers)
                .Select(_ => new TransformerTemporalModel(heads, headDim, outChannels, groups, device, dtype)).ToArray());
        }
        if (addDownsample) downsamplers = nn.ModuleList(new Downsample2D(outChannels, outChannels, downsamplePadding, device, dtype));
        RegisterComponents();
    }

    /// <summary>x: [(B·T), C_in, h, w] → (the block output [(B·T), C_out, h', w'], its skip tensors in push order).</summary>
    public (Tensor Output, List<Tensor> Skips) Forward(Tensor x, VideoConditioning c)
    {
        var skips = new List<Tensor>();
        var h = x;
        for (int i = 0; i < resnets.Count; i++)
        {
            h = Layer3D.Run(h, c, resnets[i], temp_convs[i], attentions?[i], temp_attentions?[i]);
            skips.Add(h);
        }
        if (downsamplers is not null)
        {
            foreach (var down in downsamplers) h = down.call(h);
            skips.Add(h);
        }
        return (h, skips);
    }
}
