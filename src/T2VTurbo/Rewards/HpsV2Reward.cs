using T2VTurbo.IO;
using T2VTurbo.Text;
using static TorchSharp.torch;

namespace T2VTurbo.Rewards;

/// <summary>HPSv2.1 (reward_fn.py <c>hpsv2</c>, the v1 default image reward): open_clip ViT-H-14 with
/// <c>HPS_v2.1_compressed.pt</c> (<c>{'state_dict': sd}</c>, open_clip CLIP keys, no prefix), letterbox preprocessing
/// (longer side to 224, bicubic, zero pad, then CLIP mean/std), cosine score. No HPS-specific head.</summary>
public sealed class HpsV2Reward : OpenClipImageReward
{
    public HpsV2Reward(OpenClipModel model, ClipTokenizer? tokenizer = null, bool antialias = true, bool ownsModel = true)
        : base(model, tokenizer, antialias, ownsModel) { }

    public override string Name => "hpsv2";

    /// <summary>HPSv2 <c>ResizeMaxSize(image_size, fill=0)</c>.</summary>
    public override Tensor Resize(Tensor frames01) => ImagePreprocess.Letterbox(frames01, ImageSize, Antialias);

    /// <summary>Loads HPS_v2.1_compressed.pt (or a safetensors copy) strictly. Defaults: the real ViT-H-14 config,
    /// CPU float32. Training used bf16 weights (<c>--mixed_precision bf16</c>).</summary>
    public static HpsV2Reward Load(string path, OpenClipModelConfig? config = null, Device? device = null,
        ScalarType? dtype = null, bool antialias = true, string prefix = "")
    {
        using var source = Checkpoint.Open(path);
        return Load(source, config, device, dtype, antialias, prefix);
    }

    public static HpsV2Reward Load(ICheckpointSource source, OpenClipModelConfig? config = null, Device? device = null,
        ScalarType? dtype = null, bool antialias = true, string prefix = "") =>
        new(LoadModel(source, prefix, config, device, dtype), antialias: antialias);
}
