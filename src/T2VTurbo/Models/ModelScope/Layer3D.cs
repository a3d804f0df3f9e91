using T2VTurbo.Models.Unet;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Models.ModelScope;

/// <summary>What every block of the ModelScope UNet needs besides the activations.</summary>
/// <param name="Emb">time embedding per frame, [(B·T), 4·C0] (the reference's repeat_interleave over frames).</param>
/// <param name="Context">text context per video, [B, L, cross_attention_dim]; the spatial attention shares each row
/// across the video's T frames, which equals the reference's repeat_interleave.</param>
/// <param name="Frames">T (num_frames); with T = 1 the repo skips the temporal layers (see <see cref="Layer3D"/>).</param>
public sealed record VideoConditioning(Tensor Emb, Tensor Context, long Frames)
{
    public long Batch => Emb.shape[0] / Frames;
}

/// <summary>One layer of a ModelScope 3-D block: resnet → temp_conv → [spatial attention → temporal attention].
/// The repo copy (not diffusers' own UNet3DConditionModel) runs the temporal conv and temporal attention only when
/// num_frames &gt; 1.</summary>
internal static class Layer3D
{
    /// <summary>x: [(B·T), C_in, h, w] → [(B·T), C_out, h, w].</summary>
    public static Tensor Run(Tensor x, VideoConditioning c, ResnetBlock2D resnet, TemporalConvBlock tempConv,
        Transformer2DModel? attention = null, TransformerTemporalModel? tempAttention = null)
    {
        using var scope = torch.NewDisposeScope();
        var h = resnet.call(x, c.Emb);
        if (c.Frames > 1) h = tempConv.ForwardFrames(h, c.Batch);
        if (attention is not null) h = attention.call(h, c.Context);
        if (tempAttention is not null && c.Frames > 1) h = tempAttention.call(h, c.Frames);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>diffusers TemporalConvLayer(C, C, dropout 0.1): the VC2 TemporalConvBlock has the same layers and keys
    /// (conv1.{0,2}, conv2..4.{0,3}; GroupNorm 32 groups, eps 1e-5, over (C/32, T, h, w) jointly).</summary>
    public static TemporalConvBlock TemporalConv(long channels, Device? device, ScalarType? dtype) => new(channels, channels, 0.1, device, dtype);
}
