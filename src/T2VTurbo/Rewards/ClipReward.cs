using T2VTurbo.IO;
using T2VTurbo.Text;
using static TorchSharp.torch;

namespace T2VTurbo.Rewards;

/// <summary>reward_fn.py <c>clip</c> (T2V-Turbo-v2's second image reward): open_clip ViT-H-14
/// <c>laion2B-s32B-b79K</c> (open_clip_pytorch_model.bin: the same CLIP keys as HPSv2.1), squash resize to 224×224
/// bicubic (aspect ratio not kept, no crop), CLIP mean/std, cosine score.</summary>
public sealed class ClipReward : OpenClipImageReward
{
    public ClipReward(OpenClipModel model, ClipTokenizer? tokenizer = null, bool antialias = true, bool ownsModel = true)
        : base(model, tokenizer, antialias, ownsModel) { }

    public override string Name => "clip";

    /// <summary>torchvision <c>Resize((image_size, image_size))</c>, bicubic.</summary>
    public override Tensor Resize(Tensor frames01) => ImagePreprocess.Squash(frames01, ImageSize, Antialias);

    /// <summary>Loads open_clip laion2B-s32B-b79K ViT-H-14 weights strictly. Defaults: the real config, CPU float32.</summary>
    public static ClipReward Load(string path, OpenClipModelConfig? config = null, Device? device = null,
        ScalarType? dtype = null, bool antialias = true, string prefix = "")
    {
        using var source = Checkpoint.Open(path);
        return Load(source, config, device, dtype, antialias, prefix);
    }

    public static ClipReward Load(ICheckpointSource source, OpenClipModelConfig? config = null, Device? device = null,
        ScalarType? dtype = null, bool antialias = true, string prefix = "") =>
        new(LoadModel(source, prefix, config, device, dtype), antialias: antialias);
}
