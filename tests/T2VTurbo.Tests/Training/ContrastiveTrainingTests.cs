using System.Text.Json.Nodes;
using T2VTurbo.Cli.Commands;
using T2VTurbo.IO;
using T2VTurbo.Pipelines;
using T2VTurbo.Rewards;
using T2VTurbo.Rewards.ViClip;
using T2VTurbo.Tests.Support;
using T2VTurbo.Text;
using T2VTurbo.Training;
using T2VTurbo.Training.Data;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Training;

/// <summary>`train clip` / `train viclip`: contrastive training of micro open_clip and ViCLIP models (the reward
/// classes at widths of 32, 1–2 layers, 16-pixel images, patch 8) on in-memory clips.</summary>
[Collection(DistillCollection.Name)]
public class ContrastiveTrainingTests(ITestOutputHelper output)
{
    private const int Size = 16, VideoFrames = 4;

    /// <summary>A micro open_clip config; the text tower (and embed_dim) take the tiny VideoCrafter2 model's text sizes,
    /// so its text.safetensors can condition that model's teacher.</summary>
    private static JsonObject ClipJson()
    {
        var text = VideoCrafter2Config.FromFile(TinyModel.ConfigPath).Text;
        return new JsonObject
        {
            ["embed_dim"] = text.embed_dim,   // text_projection's width is a key the teacher's text encoder loads too
            ["vision_cfg"] = new JsonObject { ["image_size"] = Size, ["patch_size"] = 8, ["width"] = 32, ["layers"] = 1, ["head_width"] = 16 },
            ["text_cfg"] = new JsonObject
            {
                ["context_length"] = text.context_length, ["vocab_size"] = text.vocab_size, ["width"] = text.width,
                ["heads"] = text.heads, ["layers"] = text.layers,
            },
        };
    }

    private static JsonObject ViClipJson() => new()
    {
        ["vision"] = new JsonObject
        {
            ["input_resolution"] = Size, ["patch_size"] = 8, ["width"] = 32, ["layers"] = 1, ["heads"] = 2, ["output_dim"] = 16,
            ["num_frames"] = VideoFrames,
        },
        ["text"] = new JsonObject { ["embed_dim"] = 16, ["context_length"] = 32, ["transformer_width"] = 32, ["transformer_heads"] = 2, ["transformer_layers"] = 1 },
    };

    private static string TempDir() => Path.Combine(Path.GetTempPath(), $"contrastive-{Guid.NewGuid():N}");

    private static ModelTrainerOptions Options(string dir, long steps, bool resume = false) => new()
    {
        OutputDir = dir, MaxTrainSteps = steps, LearningRate = 2e-3, Seed = 5, CheckpointingSteps = 2, CheckpointsTotalLimit = 2, Resume = resume,
    };

    private static ModelTrainer ClipTrainer(string dir, long steps, bool resume = false)
    {
        torch.manual_seed(7);
        var model = new OpenClipModel(OpenClipModelConfig.FromJson(ClipJson()));
        return new ModelTrainer(model, ClipTraining.Step(model), Options(dir, steps, resume));
    }

    private static ModelTrainer ViClipTrainer(string dir, long steps, bool resume = false)
    {
        torch.manual_seed(7);
        var model = new ViClipModel(ViClipConfig.FromJson(ViClipJson()));
        return new ModelTrainer(model, ViClipTraining.Step(model), Options(dir, steps, resume));
    }

    private void AssertLossFalls(Func<string, long, ModelTrainer> make, int frames, string term)
    {
        var dir = TempDir();
        try
        {
            // four clips with distinct captions, served as the same batch every step
            using var data = new SyntheticVideoBatches(4, frames, Size, Size, batchSize: 4);
            using var trainer = make(dir, 20);
            var losses = new List<double>();
            trainer.Run(data, r => { losses.Add(r.Terms["loss"]); Assert.Equal(r.Terms["loss"], r.Terms[term], 5); });
            Assert.Equal(20, losses.Count);
            Assert.All(losses, l => Assert.True(double.IsFinite(l), $"loss {l}"));
            double first = losses.Take(3).Average(), last = losses.TakeLast(3).Average();
            output.WriteLine($"{term}: first 3 steps {first:G4}, last 3 steps {last:G4}; all: {string.Join(", ", losses.Select(l => l.ToString("G3")))}");
            Assert.True(last < 0.8 * first, $"the contrastive loss should fall over 20 steps: {first:G4} → {last:G4}");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Clip_contrastive_loss_is_finite_and_decreases_on_a_fixed_batch() =>
        AssertLossFalls((d, s) => ClipTrainer(d, s), frames: 1, "loss_infonce");

    [Fact]
    public void ViClip_contrastive_loss_is_finite_and_decreases_on_a_fixed_batch() =>
        AssertLossFalls((d, s) => ViClipTrainer(d, s), frames: VideoFrames, "loss_vtc");

    [Fact]
    public void InfoNce_equals_cross_entropy_with_arange_labels_for_distinct_captions_and_ignores_equal_ones()
    {
        var g = new Generator(3, torch.CPU);
        using var a = torch.nn.functional.normalize(torch.randn(new long[] { 5, 8 }, generator: g), dim: -1);
        using var b = torch.nn.functional.normalize(torch.randn(new long[] { 5, 8 }, generator: g), dim: -1);
        using var scale = torch.tensor(14.3f);
        var (loss, _) = ContrastiveLoss.SymmetricInfoNce(a, b, scale, ["a", "b", "c", "d", "e"]);
        using var logits = scale * a.matmul(b.t());
        using var labels = torch.arange(5);
        using var ce = (torch.nn.functional.cross_entropy(logits, labels) + torch.nn.functional.cross_entropy(logits.t(), labels)) / 2;
        float err = (loss - ce).abs().item<float>();
        output.WriteLine($"|InfoNCE − open_clip CE| = {err:G3}");
        Assert.True(err < 1e-5f, $"differs from open_clip's loss by {err}");
        // two pairs with the same caption: swapping their texts changes nothing (neither is the other's negative)
        using var swapped = b.index_select(0, torch.tensor(new long[] { 1, 0, 2, 3, 4 }));
        var (l1, _) = ContrastiveLoss.SymmetricInfoNce(a, b, scale, ["x", "x", "c", "d", "e"]);
        var (l2, _) = ContrastiveLoss.SymmetricInfoNce(a, swapped, scale, ["x", "x", "c", "d", "e"]);
        Assert.True((l1 - l2).abs().item<float>() < 1e-5f);
        Assert.Throws<ArgumentException>(() => ContrastiveLoss.SymmetricInfoNce(a[..1], b[..1], scale, ["a"]));
    }

    private static void AssertResumeEqualsStraightRun(Func<string, long, bool, ModelTrainer> make, int frames, int height = Size, int width = Size)
    {
        string a = TempDir(), b = TempDir();
        try
        {
            Dictionary<string, Tensor> Weights(ModelTrainer t) => t.Model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            Dictionary<string, Tensor> straight, resumed;
            using (var data = new SyntheticVideoBatches(5, frames, height, width, batchSize: 2))
            using (var t = make(a, 4, false))
            {
                t.Run(data);
                straight = Weights(t);
            }
            using (var data = new SyntheticVideoBatches(5, frames, height, width, batchSize: 2))
            using (var t = make(b, 2, false))
                t.Run(data);
            using (var data = new SyntheticVideoBatches(5, frames, height, width, batchSize: 2))
            using (var t = make(b, 4, true))
            {
                Assert.Equal(4, t.Run(data));
                resumed = Weights(t);
            }
            foreach (var (k, v) in straight)
                Assert.True(v.equal(resumed[k]).all().item<bool>(), $"{k}: the resumed run differs by {(v - resumed[k]).abs().max().item<float>()}");
            Assert.Equal(File.ReadAllLines(Path.Combine(a, DistillRun.LogFile)).Select(StripTime), File.ReadAllLines(Path.Combine(b, DistillRun.LogFile)).Select(StripTime));
        }
        finally
        {
            foreach (var d in new[] { a, b }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    /// <summary>A log line without its timing fields (wall-clock seconds differ between runs).</summary>
    private static string StripTime(string line)
    {
        var o = JsonNode.Parse(line)!.AsObject();
        foreach (var k in o.Select(kv => kv.Key).Where(k => k.Contains("time") || k.Contains("sec")).ToList()) o.Remove(k);
        return o.ToJsonString();
    }

    [Fact]
    public void Clip_run_stopped_and_resumed_equals_an_uninterrupted_run() =>
        AssertResumeEqualsStraightRun((d, s, r) => ClipTrainer(d, s, r), frames: 3);

    [Fact]
    public void ViClip_run_stopped_and_resumed_equals_an_uninterrupted_run() =>
        // frames larger than input_resolution: each step draws a crop offset, which the resume must repeat
        AssertResumeEqualsStraightRun((d, s, r) => ViClipTrainer(d, s, r), frames: VideoFrames, height: Size + 6, width: Size + 4);

    private static void WithData(Action body)
    {
        var previous = TrainCommand.OpenData;
        TrainCommand.OpenData = (path, spec) =>
        {
            Assert.Equal("shapes/captions.csv", path);
            return new SyntheticVideoBatches(6, spec.Frames, spec.Height, spec.Width, spec.BatchSize);
        };
        try { body(); }
        finally { TrainCommand.OpenData = previous; }
    }

    private static string WriteConfig(string dir, JsonObject json)
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "config.json");
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    [Fact]
    public void Cli_train_clip_writes_weights_that_hpsv2_and_the_teachers_text_encoder_load()
    {
        var dir = TempDir();
        try
        {
            var json = ClipJson();
            string config = WriteConfig(dir + "-cfg", json), run = Path.Combine(dir, "run");
            WithData(() =>
            {
                string[] Args(int steps, params string[] extra) =>
                [
                    "train", "clip", "--data", "shapes/captions.csv", "--config", config, "--output", run, "--max-train-steps", steps.ToString(),
                    "--batch-size", "3", "--frames", "2", "--size", Size.ToString(), "--lr", "1e-3", "--checkpointing-steps", "1", .. extra,
                ];
                CliRun.Expect(0, Args(2));
                CliRun.Expect(0, Args(3, "--resume"));
                CliRun.Expect(1, Args(4, "--resume", "--batch-size", "1"));   // no negatives: refused
            });
            var log = File.ReadAllLines(Path.Combine(run, DistillRun.LogFile)).Select(l => JsonNode.Parse(l)!).ToList();
            Assert.Equal([0L, 1L, 2L, 3L], log.Select(l => l["step"]!.GetValue<long>()));
            Assert.All(log.Skip(1), l => Assert.True(double.IsFinite(l["loss_infonce"]!.GetValue<double>())));

            // text.safetensors: exactly the text encoder's cond_stage_model.* keys, equal to the CLIP's text tower
            var cfg = OpenClipModelConfig.FromJson(json);
            string textPath = Path.Combine(run, ClipTraining.TextFile), clipPath = Path.Combine(run, ClipTraining.ClipFile);
            using (var text = new SafeTensorsFile(textPath))
            using (var clip = new SafeTensorsFile(clipPath))
            {
                Assert.All(text.Keys, k => Assert.StartsWith(ModelLoader.TextPrefix + "model.", k));
                using var encoder = new OpenClipTextEncoder(cfg.text_cfg with { layer = "penultimate" });
                StateDictLoader.Load(encoder, text, new LoadOptions { Prefix = ModelLoader.TextPrefix, Strict = true });
                Assert.Equal(clip.Keys.Count(k => !k.StartsWith("visual.", StringComparison.Ordinal)), text.Keys.Count());
                foreach (var k in text.Keys)
                {
                    using var x = text.Load(k);
                    using var y = clip.Load(k[(ModelLoader.TextPrefix + "model.").Length..]);
                    Assert.True(x.equal(y).all().item<bool>(), $"{k} differs from clip.safetensors");
                }
            }

            // clip.safetensors: the hpsv2 reward loads it strictly with the config and scores frames
            using (var reward = HpsV2Reward.Load(clipPath, cfg))
            {
                using var frames = torch.rand(new long[] { 2, 3, 20, 12 }, generator: new Generator(1, torch.CPU));
                using var scores = reward.Score(frames, ["a shape number 0 moving", "a shape number 1 moving"]);
                Assert.Equal(new long[] { 2 }, scores.shape);
                Assert.True(scores.isfinite().all().item<bool>() && scores.abs().max().item<float>() <= 1.0001f);
                output.WriteLine($"hpsv2 scores of the trained micro CLIP: {string.Join(", ", scores.data<float>().ToArray().Select(s => s.ToString("G4")))}");
                Assert.True(reward.Model.LogitScale.item<float>() <= ClipTraining.MaxLogitScale + 1e-6);
            }

            // the teacher trains with it as --text
            var teacherRun = Path.Combine(dir, "teacher");
            WithData(() => CliRun.Expect(0, [
                "train", "teacher", "--data", "shapes/captions.csv", "--config", TinyModel.ConfigPath, "--output", teacherRun,
                "--vae", TinyModel.WeightsPath, "--text", textPath, "--max-train-steps", "1", "--batch-size", "1", "--frames", "2",
                "--size", TinyModel.Size(16).ToString(),
            ]));
            var header = JsonNode.Parse(File.ReadLines(Path.Combine(teacherRun, DistillRun.LogFile)).First())!;
            Assert.Equal(Path.GetFullPath(textPath), header["text_tower"]!.GetValue<string>());
        }
        finally
        {
            foreach (var d in new[] { dir, dir + "-cfg" }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    [Fact]
    public void Cli_train_viclip_writes_weights_that_the_vi_clip_reward_loads_and_scores_with()
    {
        var dir = TempDir();
        try
        {
            var json = ViClipJson();
            string config = WriteConfig(dir + "-cfg", json), run = Path.Combine(dir, "run");
            WithData(() =>
            {
                string[] Args(int steps, params string[] extra) =>
                [
                    "train", "viclip", "--data", "shapes/captions.csv", "--config", config, "--output", run, "--max-train-steps", steps.ToString(),
                    "--batch-size", "2", "--frames", VideoFrames.ToString(), "--size", "24", "--lr", "1e-3", "--checkpointing-steps", "1", .. extra,
                ];
                CliRun.Expect(0, Args(1));
                CliRun.Expect(0, Args(2, "--resume"));
                CliRun.Expect(1, Args(3, "--resume", "--frames", (VideoFrames + 1).ToString()));   // not num_frames
            });
            var log = File.ReadAllLines(Path.Combine(run, DistillRun.LogFile)).Select(l => JsonNode.Parse(l)!).ToList();
            Assert.Equal([0L, 1L, 2L], log.Select(l => l["step"]!.GetValue<long>()));
            Assert.All(log.Skip(1), l => Assert.True(double.IsFinite(l["loss_vtc"]!.GetValue<double>())));

            var cfg = ViClipConfig.FromJson(json);
            var model = new ViClipModel(cfg);
            using (var file = new SafeTensorsFile(Path.Combine(run, ViClipTraining.ViClipFile)))
                StateDictLoader.Load(model, file, new LoadOptions { Strict = true });
            using var reward = new ViClipReward(model, cropGenerator: new Generator(2, torch.CPU));
            using var clips = torch.rand(new long[] { 2, VideoFrames, 3, 24, 20 }, generator: new Generator(1, torch.CPU));
            using var scores = reward.Score(clips, ["a shape number 0 moving", "a shape number 1 moving"]);
            Assert.Equal(new long[] { 2 }, scores.shape);
            Assert.True(scores.isfinite().all().item<bool>() && scores.abs().max().item<float>() <= 1.0001f);
            output.WriteLine($"vi_clip scores of the trained micro ViCLIP: {string.Join(", ", scores.data<float>().ToArray().Select(s => s.ToString("G4")))}");
        }
        finally
        {
            foreach (var d in new[] { dir, dir + "-cfg" }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    [Fact]
    public void Cli_trains_clip_and_viclip_on_a_shapes_make_folder()
    {
        var dir = TempDir();
        try
        {
            var data = Path.Combine(dir, "shapes");
            T2VTurbo.ShapesBench.ShapesDataset.Write(data, new T2VTurbo.ShapesBench.ShapesDatasetOptions { Count = 4, Seed = 5, Size = Size, Frames = VideoFrames, Fps = 8 });
            string csv = Path.Combine(data, T2VTurbo.ShapesBench.ShapesDataset.CsvName);
            string clipCfg = WriteConfig(Path.Combine(dir, "clip-cfg"), ClipJson()), viclipCfg = WriteConfig(Path.Combine(dir, "viclip-cfg"), ViClipJson());
            foreach (var (what, cfg, frames, file) in new[] { ("clip", clipCfg, 1, ClipTraining.ClipFile), ("viclip", viclipCfg, VideoFrames, ViClipTraining.ViClipFile) })
            {
                var run = Path.Combine(dir, what);
                CliRun.Expect(0, [
                    "train", what, "--data", csv, "--config", cfg, "--output", run, "--max-train-steps", "2", "--batch-size", "3",
                    "--frames", frames.ToString(), "--size", Size.ToString(), "--fps", "8",
                ]);
                var log = File.ReadAllLines(Path.Combine(run, DistillRun.LogFile)).Select(l => JsonNode.Parse(l)!).ToList();
                Assert.Equal([0L, 1L, 2L], log.Select(l => l["step"]!.GetValue<long>()));
                Assert.All(log.Skip(1), l => Assert.True(double.IsFinite(l["loss"]!.GetValue<double>())));
                Assert.All(log.Skip(1), l => Assert.Equal(0, l.AsObject().Where(kv => kv.Key.StartsWith("data_", StringComparison.Ordinal)).Sum(kv => kv.Value!.GetValue<long>())));
                Assert.True(File.Exists(Path.Combine(run, file)), file);
            }
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
