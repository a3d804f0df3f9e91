using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using T2VTurbo.IO;
using T2VTurbo.Rewards;
using T2VTurbo.Rewards.ViClip;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>Parity with reward_fn.py's "vi_clip" score function (ViCLIP, tiny random model) — fixture reward_viclip.</summary>
public class ViClipRewardTests
{
    private const string Name = "reward_viclip";

    private static double Tol(Fixture f, string what) => f.Config["tolerance"]![what]!.GetValue<double>();

    private static string[] Prompts(Fixture f) => f.Config["prompts"]!.AsArray().Select(p => p!.GetValue<string>()).ToArray();

    private static CropOffset FixtureCrop(Fixture f)
    {
        var ij = f.In("crop_top_left");   // [2] int64: top, left
        return new CropOffset(ij[0].item<long>(), ij[1].item<long>());
    }

    private static ViClipModel LoadModel(Fixture f)
    {
        var model = new ViClipModel(ViClipConfig.FromJson(f.Config));
        StateDictLoader.Load(model, f.Weights, new LoadOptions { Prefix = f.Prefix, Strict = true });
        model.eval();
        return model;
    }

    private static ViClipReward LoadReward(Fixture f, bool antialias = true)
    {
        var model = LoadModel(f);
        return new ViClipReward(model, new ViClipPreprocess { MinSize = model.Config.vision.input_resolution, Antialias = antialias });
    }

    /// <summary>video01 [B, T, 3, H, W] as the frames ResizeCropMinSize sees: [B·T, 3, H, W].</summary>
    private static Tensor Frames(Fixture f)
    {
        var v = f.In("video01");
        return v.reshape(v.shape[0] * v.shape[1], v.shape[2], v.shape[3], v.shape[4]);
    }

    [Fact]
    public void Tokenizer_matches_reference_ids()
    {
        using var f = Fixture.Load(Name);
        var cfg = ViClipConfig.FromJson(f.Config);
        var tok = ViClipTokenizer.Create(cfg.text.context_length);
        using var scope = torch.NewDisposeScope();
        var ids = tok.Tokenize(Prompts(f));
        var expected = f.In("text_tokens").to(ScalarType.Int64);
        Assert.Equal(expected.shape, ids.shape);
        Assert.True(ids.eq(expected).all().item<bool>(),
            $"ids differ:\n ours {string.Join(",", ids.data<long>())}\n ref  {string.Join(",", expected.data<long>())}");
        Assert.Equal(49406, ids[0, 0].item<long>());
        Assert.Equal(49407, ids.max().item<long>());
    }

    [Theory]
    [InlineData(true, "")]
    [InlineData(false, "_antialias_false")]
    public void Resize_matches_reference(bool antialias, string suffix)
    {
        using var f = Fixture.Load(Name);
        var cfg = ViClipConfig.FromJson(f.Config);
        var pre = new ViClipPreprocess { MinSize = cfg.vision.input_resolution, Antialias = antialias };
        using var scope = torch.NewDisposeScope();
        var frames = Frames(f);
        var (h, w) = pre.ResizedSize(frames.shape[2], frames.shape[3]);
        var expected = f.In("resized_01" + suffix);
        Assert.Equal(new[] { expected.shape[2], expected.shape[3] }, new[] { h, w });
        f.AssertClose(pre.Resize(frames), "resized_01" + suffix, Tol(f, "preprocess"));
    }

    [Fact]
    public void Crop_and_normalise_match_reference()
    {
        using var f = Fixture.Load(Name);
        var cfg = ViClipConfig.FromJson(f.Config);
        var pre = new ViClipPreprocess { MinSize = cfg.vision.input_resolution };
        using var scope = torch.NewDisposeScope();
        var crop = FixtureCrop(f);
        var tol = Tol(f, "preprocess");
        // Crop and normalisation alone, on the reference's resized frames (exact operations).
        var cropped = pre.Crop(f.In("resized_01"), crop);
        f.AssertClose(cropped, "resized_cropped_01", tol);
        f.AssertClose(pre.Normalize(f.In("resized_cropped_01")), "pixel_values", tol);
        // The whole path from video01.
        f.AssertClose(pre.Apply(Frames(f), crop), "pixel_values", tol);
        // The non-antialiased variant (torchvision < 0.17): the reference's own float32 bicubic is 2.8e-6 away from
        // the float64 result (in [0, 1] units; its resize matches ours within tol above), and normalising divides by
        // std, so the pixel tolerance is tol / min(std).
        var noAa = pre with { Antialias = false };
        f.AssertClose(noAa.Apply(Frames(f), crop), "pixel_values_antialias_false", tol / pre.Std.Min());
    }

    [Fact]
    public void Crop_drawn_with_the_reference_seed_is_the_fixture_crop()
    {
        // torchvision RandomCrop.get_params draws top then left with torch.randint; a TorchSharp generator with the
        // seed the reference set (config preprocess.crop: "torch.manual_seed(N) before the call") gives the same pair.
        using var f = Fixture.Load(Name);
        var text = f.Config["preprocess"]!["crop"]!.GetValue<string>();
        var m = Regex.Match(text, @"manual_seed\((\d+)\)");
        Assert.True(m.Success, $"no torch.manual_seed(N) in preprocess.crop: {text}");
        var pre = new ViClipPreprocess { MinSize = ViClipConfig.FromJson(f.Config).vision.input_resolution };
        using var scope = torch.NewDisposeScope();
        var resized = f.In("resized_01");
        var g = new Generator(ulong.Parse(m.Groups[1].Value));
        Assert.Equal(FixtureCrop(f), pre.DrawCrop(resized.shape[2], resized.shape[3], g));
    }

    [Fact]
    public void Crop_is_drawn_from_the_generator_within_the_frame()
    {
        var pre = new ViClipPreprocess { MinSize = 32 };
        var draws = new List<CropOffset>();
        for (int i = 0; i < 20; i++) draws.Add(pre.DrawCrop(40, 51, new Generator(7)));
        Assert.All(draws, d => Assert.Equal(draws[0], d));   // same seed, same crop
        var g = new Generator(7);
        var many = Enumerable.Range(0, 200).Select(_ => pre.DrawCrop(40, 51, g)).ToList();
        Assert.All(many, d => Assert.True(d.Top is >= 0 and <= 8 && d.Left is >= 0 and <= 19, $"crop {d} out of range"));
        Assert.True(many.Select(d => d.Top).Distinct().Count() > 1 && many.Select(d => d.Left).Distinct().Count() > 1,
            "200 draws gave a single offset");
        Assert.Equal(new CropOffset(0, 0), pre.DrawCrop(32, 32, g));
        Assert.Throws<ArgumentException>(() => pre.Crop(torch.zeros(1, 3, 40, 51), new CropOffset(9, 0)));
        Assert.Throws<ArgumentException>(() => pre.DrawCrop(31, 64));
    }

    [Fact]
    public void Vision_tower_matches_reference()
    {
        using var f = Fixture.Load(Name);
        using var model = LoadModel(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var tol = Tol(f, "features");
        var pixels = f.In("pixel_values");                                      // [B·T, 3, S, S]
        long b = f.In("video01").shape[0];
        var clip = pixels.reshape(b, pixels.shape[0] / b, 3, pixels.shape[2], pixels.shape[3]);   // [B, T, 3, S, S]
        var tokens = model.VisionEncoder.Tokens(clip.permute(0, 2, 1, 3, 4));
        f.AssertClose(tokens, "vision_tokens_pre_ln", tol);
        var lnPost = model.VisionEncoder.Encode(tokens);                         // [B, L, W]
        f.AssertClose(lnPost.transpose(0, 1), "vision_ln_post_out", tol);        // the reference is sequence-first
        f.AssertClose(model.EncodeVision(clip), "video_features_raw", tol);
        using var reward = new ViClipReward(model, ownsModel: false);
        f.AssertClose(reward.VideoFeatures(clip), "video_features", tol);
    }

    [Fact]
    public void Text_tower_matches_reference()
    {
        using var f = Fixture.Load(Name);
        using var reward = LoadReward(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var tol = Tol(f, "features");
        f.AssertClose(reward.Model.EncodeText(f.In("text_tokens")), "text_features_raw", tol);
        f.AssertClose(reward.TextFeatures(Prompts(f)), "text_features", tol);
    }

    [Theory]
    [InlineData(true, "score")]
    [InlineData(false, "score_antialias_false")]
    public void Scores_match_reference(bool antialias, string expected)
    {
        using var f = Fixture.Load(Name);
        using var reward = LoadReward(f, antialias);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var prompts = Prompts(f);
        var video = f.In("video01");                                            // [B, T, 3, H, W]
        var crop = FixtureCrop(f);
        // The reference broadcasts B videos against N prompts: (video_features * text_features).sum(-1).
        var vf = reward.VideoFeatures(reward.PixelValues(video, crop));         // [B, D]
        var tf = reward.TextFeatures(prompts);                                  // [N, D]
        f.AssertClose((vf * tf).sum(-1), expected, Tol(f, "score"));
        // Through IRewardModel.Score: one clip per caption (a single video is tiled, as the reference broadcasts it).
        Assert.True(video.shape[0] == 1 || video.shape[0] == prompts.Length, $"{video.shape[0]} videos do not broadcast against {prompts.Length} prompts");
        var tiled = video.expand(prompts.Length, -1, -1, -1, -1);               // [N, T, 3, H, W]
        f.AssertClose(reward.Score(tiled, prompts, crop), expected, Tol(f, "score"));
    }

    [Fact]
    public void Gradients_reach_the_input_frames()
    {
        using var f = Fixture.Load(Name);
        using var reward = LoadReward(f);
        using var scope = torch.NewDisposeScope();
        var prompts = Prompts(f);
        var video = f.In("video01").expand(prompts.Length, -1, -1, -1, -1).clone().requires_grad_(true);
        reward.CropGenerator = new Generator(2024);
        IRewardModel rm = reward;
        Assert.Equal(RewardKind.Video, rm.Kind);
        var scores = rm.Score(video, prompts);
        Assert.Equal(new long[] { prompts.Length }, scores.shape);
        (-scores.mean()).backward();
        var grad = video.grad;
        Assert.NotNull(grad);
        Assert.True(grad!.isfinite().all().item<bool>(), "non-finite gradient on the frames");
        double gmax = grad.abs().max().item<float>();
        Assert.True(gmax > 0, "the gradient on the frames is zero");
        Console.WriteLine($"[grad] {Name}: max |d(-mean score)/d frames| = {gmax:E3}");
        Assert.All(reward.Model.parameters(), p => Assert.True(p.grad is null, "a frozen ViCLIP parameter received a gradient"));
    }

    [Fact]
    public void Frame_gradient_matches_finite_differences()
    {
        // In float64 the autograd directional derivative of the summed score (through resize, crop, normalisation and
        // the vision tower) equals a central difference along a random direction.
        using var f = Fixture.Load(Name);
        using var reward = LoadReward(f);
        reward.Model.to(ScalarType.Float64);
        using var scope = torch.NewDisposeScope();
        var prompts = Prompts(f);
        var crop = FixtureCrop(f);
        var video = f.In("video01").to(ScalarType.Float64).expand(prompts.Length, -1, -1, -1, -1).contiguous();
        var direction = torch.randn(video.shape, dtype: ScalarType.Float64, generator: new Generator(11));
        var x = video.clone().requires_grad_(true);
        reward.Score(x, prompts, crop).sum().backward();
        double analytic = (x.grad! * direction).sum().item<double>();
        const double eps = 1e-4;
        using var _ = torch.no_grad();
        double plus = reward.Score(video + eps * direction, prompts, crop).sum().item<double>();
        double minus = reward.Score(video - eps * direction, prompts, crop).sum().item<double>();
        double numeric = (plus - minus) / (2 * eps);
        double rel = Math.Abs(analytic - numeric) / Math.Max(Math.Abs(numeric), 1e-12);
        Console.WriteLine($"[grad] {Name}: directional derivative autograd {analytic:E6} vs central difference {numeric:E6} (rel err {rel:E2})");
        Assert.True(Math.Abs(numeric) > 0, "the score does not depend on the frames");
        Assert.True(rel < 1e-5, $"autograd {analytic} vs finite difference {numeric}: relative error {rel:E2}");
    }

    [Fact]
    public void Strict_load_uses_the_fixture_prefix_and_rejects_other_sizes()
    {
        using var f = Fixture.Load(Name);
        var cfg = ViClipConfig.FromJson(f.Config);
        using var model = new ViClipModel(cfg);
        var report = StateDictLoader.Load(model, f.Weights, new LoadOptions { Prefix = f.Prefix, Strict = true });
        Assert.Equal(f.Weights.Keys.Count(), report.Loaded.Count);
        Assert.Contains("temp", model.state_dict().Keys);

        using var deeper = new ViClipModel(cfg with { vision = cfg.vision with { layers = cfg.vision.layers + 1 } });
        var ex = Assert.Throws<StateDictMismatchException>(() =>
            StateDictLoader.Load(deeper, f.Weights, new LoadOptions { Prefix = f.Prefix, Strict = true }));
        Assert.Contains(ex.Missing, k => k.StartsWith($"vision_encoder.transformer.resblocks.{cfg.vision.layers}.", StringComparison.Ordinal));
    }

    [Fact]
    public void Bad_inputs_are_rejected_with_their_shape()
    {
        using var f = Fixture.Load(Name);
        using var reward = LoadReward(f);
        using var scope = torch.NewDisposeScope();
        var video = f.In("video01");
        var prompts = Prompts(f);
        long t = video.shape[1];
        var shortClip = video[TensorIndex.Colon, TensorIndex.Slice(0, t - 1)];
        var oneEach = Enumerable.Repeat(prompts[0], (int)video.shape[0]).ToList();
        var ex = Assert.Throws<ArgumentException>(() => reward.Score(shortClip, oneEach));
        Assert.Contains($"{t - 1}", ex.Message);
        var tooMany = Enumerable.Repeat(prompts[0], (int)video.shape[0] + 1).ToList();
        Assert.Throws<ArgumentException>(() => reward.Score(video, tooMany));
        Assert.Throws<ArgumentException>(() => reward.Score(video[0], prompts.Take(1).ToList()));   // 4-D
        var s = reward.Model.Config.vision.input_resolution;
        var wrongSize = torch.zeros(new long[] { 1, 3, t, s + reward.Model.Config.vision.patch_size, s });
        var ex2 = Assert.Throws<ArgumentException>(() => reward.Model.VisionEncoder.forward(wrongSize));
        Assert.Contains($"{s}x{s}", ex2.Message);
    }
}

/// <summary>The full-size ViCLIP-L/14 built from the default config on the META device has exactly the released
/// checkpoint's keys and shapes (shared/reference/viclip_l14_state_dict.json) without allocating its 1.7 GB.</summary>
[Collection(MetaDevice.Collection)]
public class ViClipFullSizeKeysTests
{
    private const string File = "viclip_l14_state_dict.json";

    private static JsonObject Reference()
    {
        var path = Path.Combine(ReferenceKeys.Root, File);
        Assert.True(System.IO.File.Exists(path), $"reference key list is missing: {path}");
        return JsonNode.Parse(System.IO.File.ReadAllText(path))!.AsObject();
    }

    [Fact]
    public void Full_size_model_has_the_checkpoint_keys()
    {
        var reference = Reference();
        using var model = MetaDevice.Build(() => new ViClipModel());
        var expected = reference["state_dict"]!.AsArray()
            .ToDictionary(n => n!["name"]!.GetValue<string>(), n => n!["shape"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray(), StringComparer.Ordinal);
        var actual = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);

        var missing = expected.Keys.Except(actual.Keys).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var unexpected = actual.Keys.Except(expected.Keys).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var shapes = expected.Where(kv => actual.TryGetValue(kv.Key, out var s) && !s.SequenceEqual(kv.Value))
            .Select(kv => $"{kv.Key}: reference [{string.Join(",", kv.Value)}] vs module [{string.Join(",", actual[kv.Key])}]").ToList();
        Assert.True(missing.Count + unexpected.Count + shapes.Count == 0,
            $"{File}: missing {string.Join(", ", missing.Take(20))}; unexpected {string.Join(", ", unexpected.Take(20))}; shapes {string.Join("; ", shapes.Take(20))}");
        Assert.Equal(reference["n_tensors"]!.GetValue<long>(), actual.Count);
        Assert.Equal(reference["n_elements"]!.GetValue<long>(), actual.Values.Sum(s => s.Aggregate(1L, (a, b) => a * b)));
    }

    [Fact]
    public void Reference_config_is_the_default_config()
    {
        var fromJson = ViClipConfig.FromJson(Reference());
        Assert.Equal(new ViClipConfig().vision, fromJson.vision);
        Assert.Equal(new ViClipConfig().text, fromJson.text);
    }
}
