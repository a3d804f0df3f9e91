using T2VTurbo.Rewards;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>reward_fn.py's clip reward (open_clip ViT-H-14 laion2B: same model class and keys as HPSv2.1, squash
/// preprocessing). No fixture of its own: it runs on the reward_hpsv2 tiny weights, its squash resize is checked against
/// the float64 restatement of PyTorch's bicubic that HpsV2RewardTests validates on the fixture's letterbox, and its
/// scores against features that the fixture validates.</summary>
public class ClipRewardTests
{
    private static Fixture LoadFixture() => Fixture.Load(HpsV2RewardTests.FixtureName);

    [Fact]
    public void Squash_matches_the_reference_bicubic()
    {
        using var f = LoadFixture();
        int size = HpsV2RewardTests.ModelConfig(f).vision_cfg.image_size;
        double tol = HpsV2RewardTests.Tol(f, "preprocess");
        using var scope = torch.NewDisposeScope();
        var inputs = new (string Label, Tensor Frames)[]
        {
            ("fixture_frames", f.In($"{HpsV2RewardTests.Cases(f).First()}/frames01")),           // both axes shrink, unequally
            ("mixed", torch.rand(new long[] { 2, 3, size / 2 + 3, size + 5 }, generator: new Generator(3))), // one axis grows
        };
        foreach (var (label, frames) in inputs)
            foreach (bool aa in new[] { true, false })
                Fixture.AssertClose(ImagePreprocess.Squash(frames, size, aa), TorchBicubicWeights.Resize(frames, size, size, aa),
                    $"clip/squash_{label}_aa_{aa}", tol);

        // The real geometry: a 320×512 training frame squashed to 224×224 (non-integer scales on both axes).
        int real = f.Config["real_model_cfg"]!["vision_cfg"]!["image_size"]!.GetValue<int>();
        var frame = torch.rand(new long[] { 1, 3, 320, 512 }, generator: new Generator(13));
        foreach (bool aa in new[] { true, false })
            Fixture.AssertClose(ImagePreprocess.Squash(frame, real, aa), TorchBicubicWeights.Resize(frame, real, real, aa),
                $"clip/squash_real_size_aa_{aa}", tol);
    }

    [Fact]
    public void Clip_score_is_the_cosine_of_squashed_frames_and_caption()
    {
        using var f = LoadFixture();
        using var reward = new ClipReward(HpsV2RewardTests.LoadModel(f));
        Assert.Equal("clip", reward.Name);
        Assert.Equal(RewardKind.Image, reward.Kind);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        foreach (var c in HpsV2RewardTests.Cases(f))
        {
            var frames = f.In($"{c}/frames01");
            var prompts = HpsV2RewardTests.Prompts(f, c);
            var squashed = TorchBicubicWeights.Resize(frames, reward.ImageSize, reward.ImageSize, reward.Antialias).to(ScalarType.Float32);
            var pixels = ImagePreprocess.Normalize(squashed, ImagePreprocess.OpenAiClipMean, ImagePreprocess.OpenAiClipStd);
            Fixture.AssertClose(reward.Preprocess(frames), pixels, $"clip/{c}/pixel_values", HpsV2RewardTests.Tol(f, "preprocess"));

            // Text features are the fixture's (validated in HpsV2RewardTests); tiled as reward_fn.py tiles them.
            var text = f.In($"{c}/text_features");
            var expected = (reward.Model.EncodeImage(pixels) * text.repeat(frames.shape[0] / text.shape[0], 1)).sum(-1);
            Fixture.AssertClose(reward.Score(frames, prompts), expected, $"clip/{c}/score", HpsV2RewardTests.Tol(f, "score"));
            // Squash and letterbox differ on non-square frames, so the two rewards must too.
            if (frames.shape[2] == frames.shape[3]) continue;
            using var hps = new HpsV2Reward(reward.Model, ownsModel: false);
            Assert.True((hps.Score(frames, prompts) - reward.Score(frames, prompts)).abs().max().item<float>() > 1e-4,
                "clip and hpsv2 scores coincide on non-square frames: the squash is not in effect");
        }
    }

    [Fact]
    public void Clip_and_hps_agree_on_square_frames()
    {
        // On square frames the letterbox pads nothing, so both rewards are the same plain resize of the same model.
        using var f = LoadFixture();
        using var clip = ClipReward.Load(f.Weights, HpsV2RewardTests.ModelConfig(f), prefix: f.Prefix);
        using var hps = new HpsV2Reward(clip.Model, ownsModel: false);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var frames = torch.rand(new long[] { 3, 3, 2L * clip.ImageSize, 2L * clip.ImageSize }, generator: new Generator(5));
        var prompts = HpsV2RewardTests.Prompts(f, HpsV2RewardTests.Cases(f).First());
        Fixture.AssertClose(clip.Score(frames, prompts), hps.Score(frames, prompts), "clip/square_vs_hps", 0);
    }

    [Fact]
    public void Gradient_reaches_the_frames()
    {
        using var f = LoadFixture();
        using var reward = new ClipReward(HpsV2RewardTests.LoadModel(f));
        using var scope = torch.NewDisposeScope();
        var c = HpsV2RewardTests.Cases(f).First();
        var frames = f.In($"{c}/frames01").clone().requires_grad_(true);
        reward.Score(frames, HpsV2RewardTests.Prompts(f, c)).mean().backward();
        var grad = frames.grad ?? throw new Xunit.Sdk.XunitException("no gradient reached the frames");
        Assert.True(grad.isfinite().all().item<bool>(), "the frame gradient has non-finite values");
        for (long i = 0; i < frames.shape[0]; i++)
            Assert.True(grad[i].abs().max().item<float>() > 0, $"frame {i} got a zero gradient");
        Assert.All(reward.Model.parameters(), p => Assert.Null(p.grad));
    }
}
