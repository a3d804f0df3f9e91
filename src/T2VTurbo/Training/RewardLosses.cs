using T2VTurbo.Models;
using T2VTurbo.Rewards;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Training;

/// <summary>The reward terms of a T2V-Turbo step (spec §4.4 steps 6-7): decode a few frames of the student's
/// single-step sample ŷ with gradients flowing through the frozen VAE decoder, score them, and return
/// −weight·mean(score).</summary>
public static class RewardLosses
{
    /// <summary>Image rewards: <paramref name="count"/> distinct random frames (randperm(T)[:M]).</summary>
    public static long[] ImageFrames(TrainingRng rng, long frames, int count)
    {
        if (count < 1 || count > frames) throw new ArgumentException($"image reward: {count} frames asked of a {frames}-frame video (need 1..{frames})");
        return rng.RandPerm(frames).Take(count).ToArray();
    }

    /// <summary>Video rewards: <paramref name="count"/> frames at stride T // count from a random phase in [0, stride)
    /// (T = 16, 8 frames → stride 2, frames off, off+2, …, off+14).</summary>
    public static long[] VideoFrames(TrainingRng rng, long frames, int count)
    {
        if (count < 1 || count > frames) throw new ArgumentException($"video reward: {count} frames asked of a {frames}-frame video (need 1..{frames})");
        long stride = frames / count;
        using var off = rng.RandInt(stride, new long[] { 1 });
        long o = off.item<long>();
        return Enumerable.Range(0, count).Select(i => o + i * stride).ToArray();
    }

    /// <summary>yHat: the student's x0 latents [B, C, T, h, w] (scaled by the VAE's scale factor, with grad).
    /// Returns (loss = −weight·mean(score) [0-d], mean score [0-d, detached]).</summary>
    public static (Tensor loss, Tensor meanScore) Compute(RewardTerm term, Tensor yHat, IReadOnlyList<string> captions, KlAutoencoder vae,
        TrainingRng rng, int? decodeChunk)
    {
        using var scope = torch.NewDisposeScope();
        long b = yHat.shape[0], t = yHat.shape[2];
        var kind = term.Model.Kind;
        var idx = kind == RewardKind.Image ? ImageFrames(rng, t, term.Frames) : VideoFrames(rng, t, term.Frames);
        var vaeDtype = vae.parameters().First().dtype;
        var selected = yHat.index_select(2, torch.tensor(idx, device: yHat.device));          // [B, C, F, h, w]
        var decoded = vae.DecodeVideo(selected.to(vaeDtype), decodeChunk).to(ScalarType.Float32); // [B, 3, F, H, W]
        var pixels = (decoded / 2 + 0.5).clamp(0, 1).permute(0, 2, 1, 3, 4);                 // [B, F, 3, H, W] in [0, 1]
        long f = idx.Length;
        Tensor scores;
        if (kind == RewardKind.Image)
        {
            var frames = pixels.reshape(b * f, pixels.shape[2], pixels.shape[3], pixels.shape[4]); // [B·F, 3, H, W], video-major
            var perFrame = captions.SelectMany(c => Enumerable.Repeat(c, (int)f)).ToList();
            scores = term.Model.Score(frames, perFrame);                                          // [B·F]
        }
        else scores = term.Model.Score(pixels.contiguous(), captions);                           // [B]
        var mean = scores.to(ScalarType.Float32).mean();
        var loss = -term.Weight * mean;
        return (loss.MoveToOuterDisposeScope(), mean.detach().MoveToOuterDisposeScope());
    }
}
