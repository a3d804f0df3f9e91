using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Rewards.ViClip;

/// <summary><c>ViCLIP</c> (viclip/viclip.py) as stored in <c>ViClip-InternVid-10M-FLT.pth['model']</c>: keys
/// <c>temp</c>, <c>vision_encoder.*</c>, <c>text_encoder.*</c> (no prefix). <c>temp</c> (the contrastive temperature)
/// is a checkpoint key that scoring never uses.</summary>
public sealed class ViClipModel : nn.Module
{
    private readonly Parameter temp;                          // key: temp [] (unused by the reward)
    private readonly ViClipVisionTransformer vision_encoder;  // keys: vision_encoder.*
    private readonly ViClipTextEncoder text_encoder;          // keys: text_encoder.*

    public ViClipConfig Config { get; }

    public ViClipModel(ViClipConfig? config = null) : base(nameof(ViClipModel))
    {
        Config = config ?? new ViClipConfig();
        temp = new Parameter(torch.full(Array.Empty<long>(), 0.01));   // ViCLIP temp_init
        vision_encoder = new ViClipVisionTransformer(Config.vision);
        text_encoder = new ViClipTextEncoder(Config.text);
        RegisterComponents();
    }

    public ViClipVisionTransformer VisionEncoder => vision_encoder;
    public ViClipTextEncoder TextEncoder => text_encoder;

    /// <summary><c>encode_vision(x, test=True)</c>: pixels [B, T, 3, H, W] (normalised) → raw features [B, output_dim].
    /// No token masking (that is training-only in ViCLIP).</summary>
    public Tensor EncodeVision(Tensor pixels)
    {
        if (pixels.dim() != 5)
            throw new ArgumentException($"ViClipModel.EncodeVision: pixels must be [B, T, 3, H, W], got [{string.Join(", ", pixels.shape)}]");
        using var scope = torch.NewDisposeScope();
        return vision_encoder.forward(pixels.permute(0, 2, 1, 3, 4)).MoveToOuterDisposeScope();  // via [B, 3, T, H, W]
    }

    /// <summary>tokens [N, context_length] → raw text features [N, embed_dim].</summary>
    public Tensor EncodeText(Tensor tokens) => text_encoder.forward(tokens);
}
