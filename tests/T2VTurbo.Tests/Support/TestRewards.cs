using T2VTurbo.Rewards;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Support;

/// <summary>A differentiable stand-in reward for training tests: the mean brightness of each frame (image kind,
/// [N, 3, H, W] → [N]) or of each clip (video kind, [B, T, 3, H, W] → [B]). It checks the contract the real reward
/// models have: inputs in [0, 1] and one caption per score (image: 1 or N, video: B).</summary>
public sealed class BrightnessReward(RewardKind kind, string name = "") : IRewardModel
{
    public string Name { get; } = name.Length > 0 ? name : kind == RewardKind.Image ? "brightness" : "video_brightness";
    public RewardKind Kind => kind;
    public int Calls { get; private set; }
    /// <summary>From this call on (1-based) the scores are NaN (non-finite loss tests).</summary>
    public int? NanFromCall { get; init; }

    public Tensor Score(Tensor frames, IReadOnlyList<string> captions)
    {
        Calls++;
        int expectDim = kind == RewardKind.Image ? 4 : 5;
        if (frames.dim() != expectDim) throw new ArgumentException($"{Name}: expected {expectDim}-D frames, got [{string.Join(",", frames.shape)}]");
        if (frames.min().item<float>() < 0 || frames.max().item<float>() > 1) throw new ArgumentException($"{Name}: frames outside [0, 1]");
        long n = frames.shape[0];
        if (kind == RewardKind.Video ? captions.Count != n : captions.Count != 1 && captions.Count != n)
            throw new ArgumentException($"{Name}: {captions.Count} captions for {n} inputs");
        var score = frames.flatten(1).mean(new long[] { 1 });
        return NanFromCall is int k && Calls >= k ? score * double.NaN : score;
    }

    public void Dispose() { }
}
