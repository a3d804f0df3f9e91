using T2VTurbo.IO;
using T2VTurbo.Rewards.InternVideo2;
using T2VTurbo.Rewards.ViClip;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Rewards;

/// <summary>Reward models by the reference's names (--reward_fn_name / --video_rm_name, spec §4.5), each loaded from
/// its released weights file at the real size.</summary>
public static class RewardFactory
{
    public static readonly IReadOnlyList<string> ImageRewards = ["hpsv2", "clip"];
    public static readonly IReadOnlyList<string> VideoRewards = ["vi_clip2", "vi_clip"];

    /// <param name="name">hpsv2 (HPS_v2.1_compressed.pt), clip (open_clip ViT-H-14 laion2B), vi_clip2
    /// (InternVideo2-stage2_1b-224p-f4.pt), vi_clip (ViCLIP-L/14 .pth).</param>
    /// <param name="configPath">architecture JSON for a model of another size (e.g. one trained by `train clip` /
    /// `train viclip`: OpenClipModelConfig or ViClipConfig names); null = the released model's size.</param>
    public static IRewardModel Create(string name, string? weightsPath, Device device, ScalarType dtype, string? configPath = null)
    {
        System.Text.Json.Nodes.JsonObject? Json() => configPath is null ? null
            : System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))?.AsObject()
              ?? throw new InvalidDataException($"{configPath}: not a JSON object");
        OpenClipModelConfig? Clip() => Json() is { } j ? OpenClipModelConfig.FromJson(j) : null;
        ViClipConfig? Vi() => Json() is { } j ? ViClipConfig.FromJson(j) : null;
        if (configPath is not null && !File.Exists(configPath)) throw new FileNotFoundException($"reward model config not found: {configPath}");
        string Path() => weightsPath ?? throw new ArgumentException($"reward model '{name}' needs its weights file (the --*-reward-weights option)");
        switch (name.ToLowerInvariant())
        {
            case "hpsv2": return HpsV2Reward.Load(Path(), Clip(), device: device, dtype: dtype);
            case "clip": return ClipReward.Load(Path(), Clip(), device: device, dtype: dtype);
            case "vi_clip":
            {
                var model = new ViClipModel(Vi());
                using (var src = Checkpoint.Open(Path())) model.LoadFrom(src);
                model.to(device, dtype);
                return new ViClipReward(model);
            }
            case "vi_clip2":
            {
                if (configPath is not null) throw new NotSupportedException("vi_clip2 (InternVideo2) is built at its released size only");
                var model = new InternVideo2Stage2();
                using (var src = Checkpoint.Open(Path())) model.Load(src);
                model.to(device, dtype);
                return new InternVideo2Reward(model, BertWordPieceTokenizer.FromEmbedded());
            }
            default:
                throw new ArgumentException($"unknown reward model '{name}': image rewards {string.Join(", ", ImageRewards)}; video rewards {string.Join(", ", VideoRewards)}; or none");
        }
    }
}
