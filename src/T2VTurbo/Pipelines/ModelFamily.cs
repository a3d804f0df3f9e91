using T2VTurbo.Models.ModelScope;
using T2VTurbo.Models.Unet;
using T2VTurbo.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Pipelines;

/// <summary>The two teachers T2V-Turbo ships students for.</summary>
public enum ModelFamily
{
    /// <summary>VideoCrafter2 (lvdm UNet with fps conditioning, OpenCLIP penultimate text, 320×512, 16 fps).</summary>
    VideoCrafter2,
    /// <summary>ModelScopeT2V (diffusers UNet3DConditionModel without fps input, HF CLIP text, 256×256, 8 fps).</summary>
    ModelScope,
}

/// <summary>The denoising network of a family behind one call: ε = Predict(x_t, t, context, fps, w_emb, motion_emb).</summary>
public interface IDenoisingUnet
{
    nn.Module Module { get; }
    long InChannels { get; }
    long ContextDim { get; }
    /// <summary>Size of the guidance-w embedding input (T2V-Turbo students), null for a teacher.</summary>
    long? GuidanceEmbeddingDim { get; }
    /// <summary>Size of the motion-strength embedding input (v2 motion-guided students), null otherwise.</summary>
    long? MotionEmbeddingDim { get; }
    /// <summary>Number of ×2 downsamplings: latents must divide by 2^this (ModelScope also takes other sizes).</summary>
    int Downsamplings { get; }
    /// <summary>State-dict key of the guidance-embedding projection's weight (the one base weight the official LoRA
    /// files do not carry, spec §3.5), null for a teacher.</summary>
    string? GuidanceProjectionKey { get; }
    /// <summary>x [B, C, T, h, w], t int64 [B], context [B, L, D], fps int64 [B] (ignored without fps conditioning).</summary>
    Tensor Predict(Tensor x, Tensor t, Tensor context, Tensor fps, Tensor? guidanceEmb, Tensor? motionEmb);
    /// <summary>Wraps each UNet block call (activation checkpointing in training); false when this UNet cannot.</summary>
    bool TrySetBlockRunner(Unet3D.BlockCall? runner);
}

/// <summary>The text side of a family: tokens [N, 77] → context [N, 77, width].</summary>
public interface IPromptEncoder
{
    nn.Module Module { get; }
    long Width { get; }
    Tensor Encode(Tensor tokens);
}

/// <summary>VideoCrafter2's UNet (fps conditioning, time_cond_proj, motion_cond_proj).</summary>
public sealed class Vc2Denoiser(Unet3D unet) : IDenoisingUnet
{
    public Unet3D Unet { get; } = unet;
    public nn.Module Module => Unet;
    public long InChannels => Unet.Config.in_channels;
    public long ContextDim => Unet.Config.context_dim;
    public long? GuidanceEmbeddingDim => Unet.Config.time_cond_proj_dim;
    public long? MotionEmbeddingDim => Unet.Config.motion_cond_proj_dim;
    public int Downsamplings => Unet.Config.channel_mult.Length - 1;
    public string? GuidanceProjectionKey => GuidanceEmbeddingDim is null ? null : "time_cond_proj.weight";
    public Tensor Predict(Tensor x, Tensor t, Tensor context, Tensor fps, Tensor? guidanceEmb, Tensor? motionEmb) =>
        Unet.forward(x, t, context, fps, guidanceEmb, motionEmb);
    public bool TrySetBlockRunner(Unet3D.BlockCall? runner)
    {
        Unet.BlockRunner = runner;
        return true;
    }
}

/// <summary>The ModelScope UNet (no fps input; time_embedding.cond_proj for the student; no motion input).</summary>
public sealed class MsDenoiser(UnetMs unet) : IDenoisingUnet
{
    public UnetMs Unet { get; } = unet;
    public nn.Module Module => Unet;
    public long InChannels => Unet.Config.in_channels;
    public long ContextDim => Unet.Config.cross_attention_dim;
    public long? GuidanceEmbeddingDim => Unet.Config.time_cond_proj_dim;
    public long? MotionEmbeddingDim => null;
    public int Downsamplings => 0;   // upsampling follows the skip sizes (diffusers' forward_upsample_size)
    public string? GuidanceProjectionKey => GuidanceEmbeddingDim is null ? null : "time_embedding.cond_proj.weight";
    public Tensor Predict(Tensor x, Tensor t, Tensor context, Tensor fps, Tensor? guidanceEmb, Tensor? motionEmb) =>
        Unet.forward(x, t, context, guidanceEmb);
    /// <summary>Not built into the ModelScope UNet yet: its blocks run plainly (more activation memory when training).</summary>
    public bool TrySetBlockRunner(Unet3D.BlockCall? runner) => runner is null;
}

public sealed class OpenClipPrompts(OpenClipTextEncoder encoder) : IPromptEncoder
{
    public nn.Module Module => encoder;
    public long Width => encoder.Config.width;
    public Tensor Encode(Tensor tokens) => encoder.forward(tokens);
}

public sealed class HfClipPrompts(HfClipTextModel encoder) : IPromptEncoder
{
    public nn.Module Module => encoder;
    public long Width => encoder.Config.hidden_size;
    public Tensor Encode(Tensor tokens) => encoder.forward(tokens);
}
