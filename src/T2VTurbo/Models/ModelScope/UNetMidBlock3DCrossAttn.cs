using T2VTurbo.Models.Unet;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.ModelScope;

/// <summary>The repo's UNetMidBlock3DCrossAttn (num_layers 1): resnet0 → temp_conv0 → [attention → temp_attention →
/// resnet1 → temp_conv1]. temp_conv0 runs even for a single frame (the repo guards every other temporal layer with
/// num_frames &gt; 1, this one not). Resnets divide by output_scale_factor (the UNet's mid_block_scale_factor).
/// Fields in registration order: resnets, temp_convs, attentions, temp_attentions.</summary>
public sealed class UNetMidBlock3DCrossAttn : nn.Module
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<TemporalConvBlock> temp_convs;
    private readonly ModuleList<Transformer2DModel> attentions;
    private readonly ModuleList<TransformerTemporalModel> temp_attentions;

    public UNetMidBlock3DCrossAttn(long channels, long tembChannels, long groups, double eps, double outputScaleFactor, long headDim,
        long crossAttentionDim, long numLayers = 1, Device? device = null, ScalarType? dtype = null) : base(nameof(UNetMidBlock3DCrossAttn))
    {
        long heads = channels / headDim;
        resnets = nn.ModuleList(Enumerable.Range(0, (int)numLayers + 1)
            .Select(_ => new ResnetBlock2D(channels, channels, tembChannels, groups, eps, outputScaleFactor, device, dtype)).ToArray());
        temp_convs = nn.ModuleList(Enumerable.Range(0, (int)numLayers + 1).Select(_ => Layer3D.TemporalConv(channels, device, dtype)).ToArray());
        attentions = nn.ModuleList(Enumerable.Range(0, (int)numLayers)
            .Select(_ => new Transformer2DModel(heads, headDim, channels, crossAttentionDim, groups, device, dtype)).ToArray());
        temp_attentions = nn.ModuleList(Enumerable.Range(0, (int)numLayers)
            .Select(_ => new TransformerTemporalModel(heads, headDim, channels, groups, device, dtype)).ToArray());
        RegisterComponents();
    }

    /// <summary>x: [(B·T), C, h, w] → [(B·T), C, h, w].</summary>
    public Tensor Forward(Tensor x, VideoConditioning c)
    {
        using var scope = torch.NewDisposeScope();
        var h = resnets[0].call(x, c.Emb);
        h = temp_convs[0].ForwardFrames(h, c.Batch);                                  // unconditional, also for T = 1
        for (int i = 0; i < attentions.Count; i++)
        {
            h = attentions[i].call(h, c.Context);
            if (c.Frames > 1) h = temp_attentions[i].call(h, c.Frames);
            h = resnets[i + 1].call(h, c.Emb);
            if (c.Frames > 1) h = temp_convs[i + 1].ForwardFrames(h, c.Batch);
        }
        return h.MoveToOuterDisposeScope();
    }
}
