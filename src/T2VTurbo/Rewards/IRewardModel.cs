using static TorchSharp.torch;

namespace T2VTurbo.Rewards;

/// <summary>What a reward model scores: single frames against a caption (HPSv2.1, CLIP) or a clip against a caption
/// (ViCLIP, InternVideo2).</summary>
public enum RewardKind { Image, Video }

/// <summary>A differentiable text-alignment reward (spec §4.5). Inputs are decoded frames in [0, 1]; the model applies
/// its own preprocessing (resize, crop or letterbox, normalisation) differentiably, so gradients reach the frames.
/// The text side runs without gradients. Scores are cosine similarities of normalised embeddings (higher is better).</summary>
public interface IRewardModel : IDisposable
{
    string Name { get; }
    RewardKind Kind { get; }

    /// <summary>Image rewards: frames [N, 3, H, W] → [N], captions has 1 or N entries (one caption is tiled).
    /// Video rewards: clips [B, T, 3, H, W] → [B], captions has B entries; T must be one the model accepts.</summary>
    Tensor Score(Tensor frames, IReadOnlyList<string> captions);
}

/// <summary>One term of the reward loss: −weight · mean(score) on <paramref name="Frames"/> frames per video (image
/// rewards: M random frames; video rewards: that many frames at a stride with a random phase).</summary>
public sealed record RewardTerm(IRewardModel Model, double Weight, int Frames);
