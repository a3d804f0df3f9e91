using System.Collections;
using System.Reflection;
using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Rewards;
using T2VTurbo.Tests.Support;
using T2VTurbo.Text;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>Parity with reward_fn.py's hpsv2 score_fn (HPSv2 fork of open_clip, tiny random ViT-H-14-shaped CLIP) —
/// fixture reward_hpsv2. Every case in config.json "cases" is checked; sizes come from "tiny_model_cfg".</summary>
public class HpsV2RewardTests
{
    internal const string FixtureName = "reward_hpsv2";

    internal static double Tol(Fixture f, string what) => f.Config["tolerance"]![what]!.GetValue<double>();
    internal static OpenClipModelConfig ModelConfig(Fixture f) => OpenClipModelConfig.FromJson(f.Config["tiny_model_cfg"]!.AsObject());
    internal static IEnumerable<string> Cases(Fixture f) => f.Config["cases"]!.AsObject().Select(kv => kv.Key);
    internal static string[] Prompts(Fixture f, string c) =>
        f.Config["cases"]![c]!["prompts"]!.AsArray().Select(p => p!.GetValue<string>()).ToArray();
    /// <summary>The antialias setting of the main (non-"antialias_false/") tensors.</summary>
    private static bool MainAntialias(Fixture f) => f.Config["antialias"]!.GetValue<bool>();

    internal static OpenClipModel LoadModel(Fixture f)
    {
        var model = new OpenClipModel(ModelConfig(f));
        StateDictLoader.Load(model, f.Weights, new LoadOptions { Prefix = f.Prefix, Strict = true });
        return model;
    }

    private static HpsV2Reward LoadReward(Fixture f, bool antialias) => new(LoadModel(f), antialias: antialias);

    [Fact]
    public void Fixture_config_is_the_real_model_and_defaults_are_vit_h_14()
    {
        using var f = Fixture.Load(FixtureName);
        Assert.Equal(new OpenClipModelConfig(), OpenClipModelConfig.FromJson(f.Config["real_model_cfg"]!.AsObject()));
        Assert.Equal(f.Config["image_mean"]!.AsArray().Select(x => x!.GetValue<double>()), ImagePreprocess.OpenAiClipMean);
        Assert.Equal(f.Config["image_std"]!.AsArray().Select(x => x!.GetValue<double>()), ImagePreprocess.OpenAiClipStd);
        Assert.Equal(f.Config["tiny_model_cfg"]!["vision_cfg"]!["image_size"]!.GetValue<int>(), ModelConfig(f).vision_cfg.image_size);
    }

    [Fact]
    public void Tokens_match_reference()
    {
        using var f = Fixture.Load(FixtureName);
        using var scope = torch.NewDisposeScope();
        foreach (var c in Cases(f))
            f.AssertClose(ClipTokenizer.Default.Tokenize(Prompts(f, c)), $"{c}/text_tokens", 0);
    }

    [Fact]
    public void Letterbox_and_normalisation_match_reference()
    {
        using var f = Fixture.Load(FixtureName);
        using var model = LoadModel(f);
        double tol = Tol(f, "preprocess");
        int size = model.Config.vision_cfg.image_size;
        using var scope = torch.NewDisposeScope();
        foreach (var c in Cases(f))
        {
            var frames = f.In($"{c}/frames01");
            foreach (var (variant, aa) in Variants(f, c))
            {
                using var reward = new HpsV2Reward(model, antialias: aa, ownsModel: false);
                f.AssertClose(ImagePreprocess.Letterbox(frames, size, aa), $"{c}/{variant}letterboxed_01", tol);
                f.AssertClose(reward.Resize(frames), $"{c}/{variant}letterboxed_01", tol);
                f.AssertClose(reward.Preprocess(frames), $"{c}/{variant}pixel_values", tol);
                // The float64 restatement of PyTorch's bicubic (used for the squash check in ClipRewardTests) must
                // reproduce the reference letterbox too, so that check rests on a validated kernel.
                f.AssertClose(ReferenceLetterbox(frames, size, aa), $"{c}/{variant}letterboxed_01", tol);
            }
        }
    }

    /// <summary>("", main antialias) and, where stored, ("antialias_false/", false).</summary>
    private static IEnumerable<(string Prefix, bool Antialias)> Variants(Fixture f, string c)
    {
        yield return ("", MainAntialias(f));
        if (f.Has($"{c}/antialias_false/letterboxed_01")) yield return ("antialias_false/", false);
    }

    private static Tensor ReferenceLetterbox(Tensor frames, int size, bool aa)
    {
        using var scope = torch.NewDisposeScope();
        long h = frames.shape[2], w = frames.shape[3];
        double scale = size / (double)Math.Max(h, w);
        int nh = (int)Math.Round(h * scale, MidpointRounding.ToEven), nw = (int)Math.Round(w * scale, MidpointRounding.ToEven);
        var x = TorchBicubicWeights.Resize(frames, nh, nw, aa);
        var canvas = torch.zeros(frames.shape[0], 3, size, size, ScalarType.Float64);
        int top = (size - nh) / 2, left = (size - nw) / 2;
        canvas[.., .., top..(top + nh), left..(left + nw)] = x;
        return canvas.MoveToOuterDisposeScope();
    }

    [Fact]
    public void Real_size_letterbox_of_a_320x512_frame_is_140x224_between_42_zero_rows()
    {
        using var f = Fixture.Load(FixtureName);
        int size = f.Config["real_model_cfg"]!["vision_cfg"]!["image_size"]!.GetValue<int>();
        using var scope = torch.NewDisposeScope();
        var frames = torch.rand(new long[] { 1, 3, 320, 512 }, generator: new Generator(11)) * 0.9 + 0.05;   // no exact zeros
        foreach (bool aa in new[] { true, false })
        {
            var boxed = ImagePreprocess.Letterbox(frames, size, aa);
            Fixture.AssertClose(boxed, ReferenceLetterbox(frames, size, aa), $"{FixtureName}/real_size_letterbox_aa_{aa}", Tol(f, "preprocess"));
            long newH = (long)Math.Round(320.0 * size / 512, MidpointRounding.ToEven), top = (size - newH) / 2;
            Assert.Equal(0, boxed[.., .., ..(int)top].abs().max().item<float>());
            Assert.Equal(0, boxed[.., .., (int)(top + newH)..].abs().max().item<float>());
            Assert.True(boxed[.., .., (int)top].abs().min().item<float>() > 0 && boxed[.., .., (int)(top + newH - 1)].abs().min().item<float>() > 0,
                "the first/last resized rows must hold image content");
            if (size == 224) Assert.Equal((140L, 42L), (newH, top));
        }
    }

    [Fact]
    public void Bfloat16_model_scores_in_float32_with_gradients()
    {
        // Training runs the reward model in bf16 (--mixed_precision bf16); preprocessing stays in the frames' dtype.
        using var f = Fixture.Load(FixtureName);
        using var reward = LoadReward(f, MainAntialias(f));
        reward.Model.to(ScalarType.BFloat16);
        using var scope = torch.NewDisposeScope();
        var c = Cases(f).First();
        var frames = f.In($"{c}/frames01").clone().requires_grad_(true);
        var score = reward.Score(frames, Prompts(f, c));
        Assert.Equal(ScalarType.Float32, score.dtype);
        Fixture.AssertClose(score, f.In($"{c}/score"), $"{FixtureName}/{c}/score_bf16", 0.05);
        score.sum().backward();
        Assert.True(frames.grad is not null && frames.grad.isfinite().all().item<bool>() && frames.grad.abs().max().item<float>() > 0,
            "bf16 model: no finite non-zero gradient at the frames");
    }

    [Fact]
    public void Text_features_match_reference()
    {
        using var f = Fixture.Load(FixtureName);
        using var reward = LoadReward(f, MainAntialias(f));
        double tol = Tol(f, "features");
        using var scope = torch.NewDisposeScope();
        foreach (var c in Cases(f))
        {
            f.AssertClose(reward.TextFeatures(Prompts(f, c)), $"{c}/text_features", tol);
            using var _ = torch.no_grad();
            f.AssertClose(reward.Model.EncodeText(f.In($"{c}/text_tokens")), $"{c}/text_features", tol);
        }
    }

    [Fact]
    public void Image_features_match_reference()
    {
        using var f = Fixture.Load(FixtureName);
        using var reward = LoadReward(f, MainAntialias(f));
        double tol = Tol(f, "features");
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        foreach (var c in Cases(f))
        {
            var pixels = f.In($"{c}/pixel_values");
            f.AssertClose(reward.Model.EncodeImage(pixels, normalize: false), $"{c}/image_features_raw", tol);
            f.AssertClose(reward.Model.EncodeImage(pixels), $"{c}/image_features", tol);
            f.AssertClose(reward.ImageFeatures(f.In($"{c}/frames01")), $"{c}/image_features", tol);
        }
    }

    [Fact]
    public void Scores_match_reference()
    {
        using var f = Fixture.Load(FixtureName);
        using var model = LoadModel(f);
        double tol = Tol(f, "score");
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        foreach (var c in Cases(f))
        {
            var frames = f.In($"{c}/frames01");
            var prompts = Prompts(f, c);
            foreach (var (variant, aa) in Variants(f, c))
            {
                using var reward = new HpsV2Reward(model, antialias: aa, ownsModel: false);
                f.AssertClose(reward.Score(frames, prompts), $"{c}/{variant}score", tol);
                if (f.Has($"{c}/{variant}score_logits"))
                    f.AssertClose(reward.Score(frames, prompts, returnLogits: true), $"{c}/{variant}score_logits", tol * f.Config["logit_scale_exp"]!.GetValue<double>());
            }
        }
    }

    [Fact]
    public void Gradient_reaches_the_frames_and_matches_finite_differences()
    {
        using var f = Fixture.Load(FixtureName);
        using var reward = LoadReward(f, MainAntialias(f));
        using var scope = torch.NewDisposeScope();
        var c = Cases(f).First();
        var prompts = Prompts(f, c);
        var frames = f.In($"{c}/frames01").clone().requires_grad_(true);
        reward.Score(frames, prompts).sum().backward();
        var grad = frames.grad ?? throw new Xunit.Sdk.XunitException("no gradient reached the frames");
        Assert.True(grad.isfinite().all().item<bool>(), "the frame gradient has non-finite values");
        for (long i = 0; i < frames.shape[0]; i++)
            Assert.True(grad[i].abs().max().item<float>() > 0, $"frame {i} got a zero gradient");
        Assert.All(reward.Model.parameters(), p => Assert.Null(p.grad));

        // Directional derivative in float64: the analytic gradient (through the antialiased bicubic, the padding and
        // the ViT) against a central difference.
        reward.Model.to(ScalarType.Float64);
        var x = f.In($"{c}/frames01").to(ScalarType.Float64).requires_grad_(true);
        var v = torch.randn(x.shape, dtype: ScalarType.Float64, generator: new Generator(7));
        reward.Score(x, prompts).sum().backward();
        double analytic = (x.grad! * v).sum().item<double>();
        using var noGrad = torch.no_grad();
        const double eps = 1e-5;
        double numeric = (reward.Score(x + eps * v, prompts).sum().item<double>() - reward.Score(x - eps * v, prompts).sum().item<double>()) / (2 * eps);
        double rel = Math.Abs(analytic - numeric) / Math.Max(Math.Abs(numeric), 1e-12);
        Console.WriteLine($"[grad] {FixtureName}/{c}: analytic {analytic:E6}, numeric {numeric:E6}, rel err {rel:E2}");
        Assert.True(rel < 1e-6, $"directional derivative {analytic} vs finite difference {numeric} (rel err {rel:E2})");
    }

    [Fact]
    public void Loads_the_hps_checkpoint_layout_strictly()
    {
        // HPS_v2.1_compressed.pt is torch.save({'state_dict': sd}); write the fixture weights that way and load the file.
        using var f = Fixture.Load(FixtureName);
        var dir = Directory.CreateTempSubdirectory("t2v-hps-").FullName;
        try
        {
            var path = Path.Combine(dir, "HPS_v2.1_compressed.pt");
            var sd = new Hashtable();
            foreach (var k in f.Weights.Keys) sd[k] = f.Weights.Load(k);
            PyBridgeSave(path, new Hashtable { ["state_dict"] = sd });
            foreach (Tensor t in sd.Values) t.Dispose();

            var cfg = ModelConfig(f);
            using (var reward = HpsV2Reward.Load(path, cfg, antialias: MainAntialias(f)))
            using (torch.no_grad())
            using (torch.NewDisposeScope())
            {
                var c = Cases(f).First();
                f.AssertClose(reward.Score(f.In($"{c}/frames01"), Prompts(f, c)), $"{c}/score", Tol(f, "score"));
            }

            var fewer = cfg with { vision_cfg = cfg.vision_cfg with { layers = cfg.vision_cfg.layers - 1 } };
            var ex = Assert.Throws<StateDictMismatchException>(() => HpsV2Reward.Load(path, fewer));
            Assert.Contains(ex.Unexpected, k => k.StartsWith($"visual.transformer.resblocks.{cfg.vision_cfg.layers - 1}.", StringComparison.Ordinal));
            var ex2 = Assert.Throws<StateDictMismatchException>(() => HpsV2Reward.Load(path, cfg, prefix: "module."));
            Assert.Contains("visual.proj", ex2.Missing);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Bad_frames_and_caption_counts_are_rejected()
    {
        using var f = Fixture.Load(FixtureName);
        using var reward = LoadReward(f, MainAntialias(f));
        using var scope = torch.NewDisposeScope();
        var frames = torch.rand(3, 3, 8, 12);
        var ex = Assert.Throws<ArgumentException>(() => reward.Score(frames, ["a", "b"]));
        Assert.Contains("2 captions for 3 frames", ex.Message);
        Assert.Throws<ArgumentException>(() => reward.Score(frames, Array.Empty<string>()));
        var ex2 = Assert.Throws<ArgumentException>(() => reward.Score(torch.rand(3, 8, 12), ["a"]));
        Assert.Contains("[3, 8, 12]", ex2.Message);
        int s = reward.ImageSize;
        var ex3 = Assert.Throws<ArgumentException>(() => reward.Model.EncodeImage(torch.rand(1, 3, s + 1, s)));
        Assert.Contains($"[1, 3, {s + 1}, {s}]", ex3.Message);
    }

    /// <summary>TorchSharp.PyBridge's torch.save-compatible pickler, reached the same way as TorchCheckpointTests does,
    /// so a nested {'state_dict': sd} can be written.</summary>
    private static void PyBridgeSave(string path, Hashtable dict)
    {
        var pickler = typeof(PyBridgeModuleExtensions).Assembly.GetType("TorchSharp.PyBridge.PyTorchPickler", throwOnError: true)!;
        var method = pickler.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            .Single(m => m.Name == "PickleStateDict" && m.GetParameters() is { Length: 3 } ps
                         && ps[0].ParameterType == typeof(Stream) && ps[1].ParameterType.IsAssignableFrom(typeof(Hashtable)));
        using var fs = File.Create(path);
        method.Invoke(null, [fs, dict, false]);
    }
}

/// <summary>The full-size HPSv2.1 / laion2B ViT-H-14 CLIP, built on META, has exactly the keys and shapes of
/// HPS_v2.1_compressed.pt['state_dict'] (shared/reference/hpsv2_vit_h_14_state_dict.json).</summary>
[Collection(MetaDevice.Collection)]
public class HpsV2FullSizeKeysTests
{
    private const string ReferenceFile = "hpsv2_vit_h_14_state_dict.json";

    [Fact]
    public void Full_size_model_has_the_hps_checkpoint_keys()
    {
        var path = Path.Combine(ReferenceKeys.Root, ReferenceFile);
        Assert.True(File.Exists(path), $"reference state dict list is missing: {path}");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        Assert.Equal(new OpenClipModelConfig(), OpenClipModelConfig.FromJson(json["config"]!.AsObject()));
        Assert.False(json["quick_gelu"]!.GetValue<bool>());

        var expected = json["state_dict"]!.AsArray()
            .ToDictionary(n => n!["name"]!.GetValue<string>(), n => n!["shape"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray(), StringComparer.Ordinal);
        Assert.Equal(json["n_tensors"]!.GetValue<int>(), expected.Count);

        using var model = MetaDevice.Build(() => new OpenClipModel());
        var actual = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);
        var missing = expected.Keys.Except(actual.Keys).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var unexpected = actual.Keys.Except(expected.Keys).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var shapes = expected.Where(kv => actual.TryGetValue(kv.Key, out var s) && !s.SequenceEqual(kv.Value))
            .Select(kv => $"{kv.Key}: reference [{string.Join(",", kv.Value)}] vs module [{string.Join(",", actual[kv.Key])}]").ToList();
        Assert.True(missing.Count + unexpected.Count + shapes.Count == 0,
            $"OpenClipModel vs {ReferenceFile}: missing {string.Join(", ", missing.Take(20))}; unexpected {string.Join(", ", unexpected.Take(20))}; shapes {string.Join("; ", shapes.Take(20))}");
        long elements = actual.Values.Sum(s => s.Aggregate(1L, (a, b) => a * b));
        Assert.Equal(json["n_elements"]!.GetValue<long>(), elements);
    }
}
