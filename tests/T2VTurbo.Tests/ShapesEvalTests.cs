using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Pipelines;
using T2VTurbo.Rewards;
using T2VTurbo.Rewards.ViClip;
using T2VTurbo.ShapesBench;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>`t2v-turbo eval`: the analyzer part on ground-truth clips, the CLI end to end on the tiny model (with micro
/// random image and video judges), and prompt-file errors.</summary>
public class ShapesEvalTests(ITestOutputHelper output)
{
    private static string TempDir() => Path.Combine(Path.GetTempPath(), $"shapes-eval-{Guid.NewGuid():N}");

    [Fact]
    public void Evaluation_of_ground_truth_clips_agrees_100_percent()
    {
        // rendered by the ShapesBench renderer from their specs, captioned by the dataset's own caption templates
        var clips = ShapesDataset.Specs(new ShapesDatasetOptions { Count = 12, Seed = 21, Size = 48, Frames = 12, TwoObjectFraction = 0.25, Split = ShapesSplit.All });
        var videos = clips.Select((c, i) => ShapesEvaluation.Judge(c.Caption, i, ShapesRenderer.Render(c), seconds: 0.5)).ToList();
        var summary = ShapesEvaluation.Summarize(videos);
        foreach (var v in videos)
            output.WriteLine($"{v.Prompt}: {string.Join("; ", v.Findings.Select(f => $"{f.Color} {f.Shape} {f.Motion}"))} all={v.Agreement.AllCorrect}");
        output.WriteLine($"colour {summary.ColorPercent}%, shape {summary.ShapePercent}%, motion {summary.MotionPercent}%, all {summary.AllCorrectPercent}%");
        Assert.Contains(clips, c => c.Objects.Count == 2);
        Assert.Equal(clips.Count, summary.Videos);
        Assert.Equal(100.0, summary.ColorPercent);
        Assert.Equal(100.0, summary.ShapePercent);
        Assert.Equal(100.0, summary.MotionPercent);
        Assert.Equal(100.0, summary.AllCorrectPercent);
        Assert.Null(summary.MeanImageJudge);
        Assert.Null(summary.MeanVideoJudge);
        Assert.Equal(0.5, summary.SecondsPerVideo, 9);
        Assert.Equal(clips.Sum(c => c.Objects.Count), videos.Sum(v => v.Agreement.ColorNamed));

        // eval.json round trip keeps the aggregates and every video's agreement
        var settings = new EvalSettings("ground truth", "renderer", 0, 0, 12, 48, 48, 8, [0]);
        var back = ShapesEvaluation.FromJson(ShapesEvaluation.ToJson(ShapesEvaluation.Report(settings, videos)));
        Assert.Equal(summary, back.Summary);
        Assert.Equal(videos.Select(v => v.Agreement), back.Videos.Select(v => v.Agreement));

        // the same scoring disagrees with a wrong prompt: another colour, shape and motion for the first clip's object
        var o = clips[0].Objects[0];
        string wrong = $"a {Next(o.Color)} {Next(o.Shape)} {Next(o.Motion) switch { "left" => "moving left", "right" => "moving right", "up" => "moving up", "down" => "moving down", "grow" => "growing", _ => "shrinking" }}";
        var bad = ShapesEvaluation.Judge(wrong, 0, ShapesRenderer.Render(clips[0]));
        Assert.False(bad.Agreement.AllCorrect);
        Assert.Equal((0, 0), (bad.Agreement.ShapeAgree, bad.Agreement.MotionAgree));
    }

    private static string Next<T>(T value) where T : struct, Enum
    {
        var all = Enum.GetValues<T>();
        return all[(Array.IndexOf(all, value) + 1) % all.Length].ToString().ToLowerInvariant();
    }

    [Fact]
    public void Cli_eval_runs_end_to_end_on_the_tiny_model_with_judges()
    {
        var dir = TempDir();
        try
        {
            Directory.CreateDirectory(dir);
            var prompts = Path.Combine(dir, "prompts.txt");
            File.WriteAllText(prompts, "# ShapesBench smoke set\n\na red circle moving to the left\n  \na blue square growing on a black background\n");
            var (clip, clipCfg, viclip, viclipCfg) = WriteMicroJudges(dir);
            var outDir = Path.Combine(dir, "eval");
            int s = TinyModel.Size(16);
            CliRun.Expect(0, [
                "eval", "--model", TinyModel.WeightsPath, "--config", TinyModel.ConfigPath, "--prompts", prompts, "--steps", "1",
                "--seeds", "3", "--frames", "3", "--height", s.ToString(), "--width", s.ToString(), "--fps", "8",
                "--image-judge", clip, "--image-judge-config", clipCfg, "--video-judge", viclip, "--video-judge-config", viclipCfg,
                "--output", outDir,
            ]);

            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, ShapesEvaluation.JsonName)))!;
            output.WriteLine(json.ToJsonString());
            var videos = json["videos"]!.AsArray();
            Assert.Equal(2, videos.Count);
            Assert.Equal(["a red circle moving to the left", "a blue square growing on a black background"], videos.Select(v => v!["prompt"]!.GetValue<string>()));
            foreach (var v in videos)
            {
                Assert.Equal(3L, v!["seed"]!.GetValue<long>());
                Assert.NotNull(v["findings"]!.AsArray());
                var a = v["agreement"]!;
                Assert.Equal(1, a["color_named"]!.GetValue<int>());
                Assert.InRange(a["color_agree"]!.GetValue<int>(), 0, 1);
                Assert.InRange(a["score"]!.GetValue<double>(), 0, 1);
                Assert.NotNull(a["all_correct"]);
                foreach (var judge in new[] { "image_judge", "video_judge" })
                {
                    double score = v[judge]!.GetValue<double>();
                    Assert.True(double.IsFinite(score) && Math.Abs(score) <= 1.0001, $"{judge} {score}");
                }
                Assert.True(v["seconds"]!.GetValue<double>() > 0);
            }
            var summary = json["summary"]!;
            Assert.Equal(2, summary["videos"]!.GetValue<int>());
            foreach (var key in new[] { "color_percent", "shape_percent", "motion_percent", "all_correct_percent" })
                Assert.InRange(summary[key]!.GetValue<double>(), 0, 100);
            foreach (var key in new[] { "mean_image_judge", "mean_video_judge", "seconds_per_video" })
                Assert.True(double.IsFinite(summary[key]!.GetValue<double>()), key);
            var settings = json["settings"]!;
            Assert.Equal((1, 3, s, s), (settings["steps"]!.GetValue<int>(), settings["frames"]!.GetValue<int>(), settings["height"]!.GetValue<int>(), settings["width"]!.GetValue<int>()));

            // eval.md: header, separator and one row with model, mode, steps and finite numbers in every column
            var table = File.ReadAllLines(Path.Combine(outDir, ShapesEvaluation.MarkdownName)).Where(l => l.StartsWith('|')).ToList();
            Assert.Equal(3, table.Count);
            Assert.Equal(ShapesEvaluation.MarkdownColumns, Cells(table[0]));
            var row = Cells(table[2]);
            Assert.Equal(ShapesEvaluation.MarkdownColumns.Length, row.Length);
            Assert.Equal((Path.GetFileName(TinyModel.WeightsPath), "turbo", "1"), (row[0], row[1], row[2]));
            Assert.All(row[3..], c => Assert.True(double.TryParse(c, System.Globalization.CultureInfo.InvariantCulture, out var x) && double.IsFinite(x), c));

            // one GIF per prompt (first seed)
            var gifs = Directory.GetFiles(Path.Combine(outDir, "videos"), "*.gif").Order().ToList();
            Assert.Equal(2, gifs.Count);
            Assert.All(gifs, g => Assert.True(new FileInfo(g).Length > 0, g));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    private static string[] Cells(string row) => row.Trim().Trim('|').Split('|').Select(c => c.Trim()).ToArray();

    /// <summary>Random micro open_clip and ViCLIP judges (widths 32, one layer) with their config files.</summary>
    private static (string Clip, string ClipConfig, string ViClip, string ViClipConfig) WriteMicroJudges(string dir)
    {
        var text = VideoCrafter2Config.FromFile(TinyModel.ConfigPath).Text;
        var clipJson = new JsonObject
        {
            ["embed_dim"] = 16,
            ["vision_cfg"] = new JsonObject { ["image_size"] = 16, ["patch_size"] = 8, ["width"] = 32, ["layers"] = 1, ["head_width"] = 16 },
            ["text_cfg"] = new JsonObject
            {
                ["context_length"] = text.context_length, ["vocab_size"] = text.vocab_size, ["width"] = 32, ["heads"] = 2, ["layers"] = 2,
            },
        };
        var viclipJson = new JsonObject
        {
            ["vision"] = new JsonObject
            {
                ["input_resolution"] = 16, ["patch_size"] = 8, ["width"] = 32, ["layers"] = 1, ["heads"] = 2, ["output_dim"] = 16, ["num_frames"] = 4,
            },
            ["text"] = new JsonObject { ["embed_dim"] = 16, ["context_length"] = 32, ["transformer_width"] = 32, ["transformer_heads"] = 2, ["transformer_layers"] = 1 },
        };
        torch.manual_seed(11);
        string clip = Path.Combine(dir, "clip.safetensors"), viclip = Path.Combine(dir, "viclip.safetensors");
        using (var m = new OpenClipModel(OpenClipModelConfig.FromJson(clipJson))) Save(m, clip);
        using (var m = new ViClipModel(ViClipConfig.FromJson(viclipJson))) Save(m, viclip);
        string clipCfg = Path.Combine(dir, "clip.json"), viclipCfg = Path.Combine(dir, "viclip.json");
        File.WriteAllText(clipCfg, clipJson.ToJsonString());
        File.WriteAllText(viclipCfg, viclipJson.ToJsonString());
        return (clip, clipCfg, viclip, viclipCfg);
    }

    private static void Save(nn.Module module, string path)
    {
        var tensors = module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        SafeTensors.Save(path, tensors);
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Fact]
    public void A_prompt_the_caption_parser_cannot_read_is_an_error_naming_its_line()
    {
        var dir = TempDir();
        try
        {
            Directory.CreateDirectory(dir);
            var prompts = Path.Combine(dir, "prompts.txt");
            File.WriteAllText(prompts, "# comment\na red circle moving left\n\na corgi surfing a wave\n");
            var e = Assert.Throws<InvalidDataException>(() => ShapesEvaluation.ReadPrompts(prompts));
            output.WriteLine(e.Message);
            Assert.Contains("prompts.txt:4", e.Message);
            Assert.Contains("a corgi surfing a wave", e.Message);

            File.WriteAllText(Path.Combine(dir, "empty.txt"), "# nothing\n\n");
            Assert.Contains("no prompts", Assert.Throws<InvalidDataException>(() => ShapesEvaluation.ReadPrompts(Path.Combine(dir, "empty.txt"))).Message);

            // the CLI refuses before loading the model, and writes no report
            var outDir = Path.Combine(dir, "eval");
            CliRun.Expect(1, ["eval", "--model", TinyModel.WeightsPath, "--config", TinyModel.ConfigPath, "--prompts", prompts, "--output", outDir]);
            Assert.False(File.Exists(Path.Combine(outDir, ShapesEvaluation.JsonName)));
            CliRun.Expect(1, ["eval", "--model", TinyModel.WeightsPath, "--prompts", Path.Combine(dir, "missing.txt"), "--output", outDir]);
            File.WriteAllText(prompts, "a red circle moving left\n");
            CliRun.Expect(1, ["eval", "--model", TinyModel.WeightsPath, "--prompts", prompts, "--seeds", "0,x", "--output", outDir]);
            CliRun.Expect(1, ["eval", "--model", TinyModel.WeightsPath, "--prompts", prompts, "--frames", "1", "--output", outDir]);
            Assert.False(File.Exists(Path.Combine(outDir, ShapesEvaluation.JsonName)));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
